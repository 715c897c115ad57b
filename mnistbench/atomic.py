"""Writing a user's output file whole or not at all: a temporary file beside it, fsync, rename. A full
or read-only disk leaves the old file (or none) and says so in one line.

Only a regular file is replaced that way. A symlink is followed (its target is written, the link
stays), and a device, a FIFO or a terminal (`-o /dev/stdout`, `-o /dev/full`) is written through as
it is: renaming over them would put a regular file where /dev/stdout was.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


@contextmanager
def replacing(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer (Keras, NumPy, our own) to fill; once the block
    ends, the file is synced and renamed over `path` in one step. Any failure, Ctrl-C included, removes
    the temporary file and re-raises: `path` keeps its old content, or stays absent."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{suffix}")
    try:
        yield temporary
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:  # the name that failed (too long, say) fails here again: nothing to clean
            pass
        raise


def _failed(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    try:
        target = path.resolve() if path.is_symlink() else path
        info = os.stat(target) if target.exists() else None
    except OSError as exc:
        raise _failed(path, exc) from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"cannot write {path}: it is a folder")
        try:  # a device, FIFO or terminal: written through, never replaced
            with open(target, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise _failed(path, exc) from None
        return path
    try:
        with replacing(target) as temporary, open(temporary, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise _failed(path, exc) from None
    return path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomically(path, text.encode("utf-8"))
