"""Writing a user's output file whole or not at all: a temporary file beside it, fsync, rename. A full
or read-only disk leaves the old file (or none) and says so in one line."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputError


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomically(path, text.encode("utf-8"))
