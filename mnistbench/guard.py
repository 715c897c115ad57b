"""The one guard around every `mnistbench` process: what happens when something goes wrong outside
the library's own error handling.

- A closed pipe (`mnistbench board | head -1`) ends the process quietly, as it ends `git log`: the
  default SIGPIPE action on POSIX, and a quiet exit where there is none.
- Ctrl-C or an end of input anywhere, prompts included, prints `interrupted` and exits 130.
- An exception that the library did not expect prints one line, `error: internal error: TYPE: MESSAGE`,
  with the path of a file that holds the whole traceback, and exits 1: a user sees what went wrong and
  has something to attach to a bug report, never fifty lines of frames.

Standard library only: the guard must work whatever a dependency's release changed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

INTERRUPTED = 130
PIPE_CLOSED = 128 + 13  # what a shell reports for a process ended by SIGPIPE


def report_folder() -> Path:
    """Where tracebacks of internal errors go: the user's cache, beside the MNIST cache."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mnistbench" / "errors"


def write_report(exc: BaseException) -> Path | None:
    """The full traceback in a file of its own; None when no folder for it can be written."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    name = f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    import tempfile  # noqa: PLC0415

    for folder in (report_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(f"mnistbench {' '.join(sys.argv[1:])}\n\n{text}", encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def internal_error_line(exc: BaseException, report: Path | None) -> str:
    message = " ".join(str(exc).split())[:300] or "(no message)"
    where = f" (traceback in {report})" if report else ""
    return f"error: internal error: {type(exc).__name__}: {message}{where}"


def _quiet_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so that the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def guarded(entry: Callable[[], object]) -> None:
    """Run `entry` (the CLI) under the guard; always ends the process through SystemExit."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        entry()
    except SystemExit:
        raise
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(PIPE_CLOSED)
    except (KeyboardInterrupt, EOFError):
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except Exception as exc:  # the last line of defence: one line and a report, never a traceback
        print(internal_error_line(exc, write_report(exc)), file=sys.stderr)
        sys.exit(1)
