"""Text that came from a user or a file, made safe to store and to print.

A flag, a model's name or a manifest's field can carry terminal control sequences (ESC ] 0; sets a
window's title, ESC [ 31 m colours everything after it): on a class board a student could aim them at
the lecturer's terminal. They are removed on the way in and again on the way out.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and the C1 block (U+0080-U+009F, the 8-bit escape sequences).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(value: str) -> str:
    """`value` without control characters (tab and newline kept)."""
    return _CONTROL.sub("", value)


def one_line(value: str, limit: int = 200) -> str:
    """A note or name: control characters removed, whitespace collapsed, at most `limit` characters."""
    return " ".join(printable(value).split())[:limit]


def shorten(value, limit: int = 60) -> str:
    """A field echoed in an error message, cut so that a 10 KB field gives a readable line."""
    text = printable(str(value))
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"
