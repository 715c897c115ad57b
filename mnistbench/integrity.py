"""A SQLite board's health: SQLite's own integrity check, and a repair that keeps every row it can read.

Standard library only, so that the read-only commands can report a damaged board without SQLAlchemy.
A repair never writes into the damaged file: it copies the schema and, row by row, every row that can
still be read into a fresh file, keeps the damaged one beside it, and then puts the fresh one in place.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .schema import VERSION_TABLE


def read_only_uri(path: Path) -> str:
    """How to open a board for reading: on a read-only filesystem SQLite cannot create the WAL's -shm
    file, so such a board is opened immutable (no one can be writing it there)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    if not os.access(path.parent, os.W_OK):
        uri += "&immutable=1"
    return uri


def _one_line(rows: list) -> str:
    """SQLite's check results (several rows, some spanning lines, a '*** in database main ***' header) as
    one line: the first three findings, and how many more there are."""
    # A row may hold the header and its findings together ('*** in database main ***\nPage 11: ...'):
    # only the header line is dropped, never what follows it.
    lines = [line.strip() for r in rows for line in str(r[0]).splitlines()]
    findings = [" ".join(line.split()) for line in lines if line and not line.startswith("*** in database")]
    if not findings:
        return "ok" if rows else "no answer"
    more = f" (and {len(findings) - 3} more)" if len(findings) > 3 else ""
    return "; ".join(findings[:3]) + more


def verdict(path: Path) -> str:
    """PRAGMA integrity_check's findings as one line ('ok' for a sound file), or why it could not run."""
    try:
        with sqlite3.connect(read_only_uri(path), uri=True, timeout=10) as connection:
            return _one_line(connection.execute("PRAGMA integrity_check(100)").fetchall())
    except sqlite3.Error as exc:  # too damaged for the check to finish: SQLite's reason is the verdict
        return str(exc)


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.stem}.backup-*.db"))


def damaged_message(path: Path) -> str:
    """One line for a board SQLite reports as damaged: the integrity check's verdict, and what to do."""
    copies = backups(path)
    backup = f"restore the backup {copies[-1]}, or run" if copies else "run"
    return (f"the leaderboard {path} is damaged (integrity check: {verdict(path)}): "
            f"{backup} `mnistbench db check --repair` to keep every readable run")


def quick_check(connection: sqlite3.Connection) -> str:
    """PRAGMA quick_check's first line: 'ok', or what is wrong (milliseconds on a board of 1,000 runs)."""
    try:
        return _one_line(connection.execute("PRAGMA quick_check(100)").fetchall())
    except sqlite3.DatabaseError as exc:
        return str(exc)


SQLITE_HEADER = b"SQLite format 3\x00"


def foreign_message(path: Path) -> str | None:
    """Why the file at `path` is not a board of ours, or None: a file that is not SQLite at all (a
    thesis given as --db), or a SQLite database whose tables are someone else's. An empty file, or one
    without tables, may become a board."""
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if header and header != SQLITE_HEADER:
        return f"{path} is not an SQLite database, so not an mnistbench board; nothing was changed"
    if not header:
        return None
    try:
        with sqlite3.connect(read_only_uri(path), uri=True, timeout=60) as connection:
            names = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    except sqlite3.Error:
        return None  # damaged: the damage check that follows says so
    if names and VERSION_TABLE not in names:
        shown = ", ".join(sorted(names)[:3]) + (" ..." if len(names) > 3 else "")
        return f"{path} is not an mnistbench board (it holds other tables: {shown}); nothing was changed"
    return None


def is_damage(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


@dataclass
class Repair:
    damaged_copy: Path
    rows_kept: dict[str, int]
    rows_lost: dict[str, int]
    verdict_after: str


def repair(path: Path) -> Repair:
    """Rebuild `path` from what can be read of it (see the module docstring)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fresh = path.with_name(f"{path.stem}.repairing-{stamp}.db")
    damaged_copy = path.with_name(f"{path.stem}.damaged-{stamp}.db")
    kept: dict[str, int] = {}
    lost: dict[str, int] = {}
    source = sqlite3.connect(read_only_uri(path), uri=True, timeout=60)
    target = sqlite3.connect(fresh)
    try:
        objects = source.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "ORDER BY type = 'table' DESC").fetchall()
        for kind, name, sql in objects:
            if kind == "table":
                target.execute(sql)
                kept[name], lost[name] = _copy_rows(source, target, name)
        for kind, _name, sql in objects:
            if kind != "table":
                try:
                    target.execute(sql)  # indexes and views, rebuilt from the rows kept
                except sqlite3.Error:
                    pass
        target.commit()
    finally:
        source.close()
        target.close()
    # The board path never goes missing: the damaged file gets a second name first (a hard link, or a
    # copy where links are refused), then one atomic rename puts the fresh file over the board.
    try:
        os.link(path, damaged_copy)
    except OSError:
        shutil.copy2(path, damaged_copy)
    for suffix in ("-wal", "-shm"):  # the fresh file has no WAL; a stale one beside it would be replayed
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(fresh, path)
    return Repair(damaged_copy, kept, lost, verdict(path))


def leftovers(path: Path) -> list[Path]:
    """What an interrupted repair can leave beside a board: its fresh file and the damaged copy."""
    return sorted([*path.parent.glob(f"{path.stem}.repairing-*.db"), *path.parent.glob(f"{path.stem}.damaged-*.db")])


def missing_board_message(path: Path) -> str | None:
    """When the board file is gone but a repair's files are beside it: say so, instead of starting an
    empty board over the rescued runs."""
    found = leftovers(path)
    if path.exists() or not found:
        return None
    return (f"no leaderboard at {path}, but an interrupted repair left {', '.join(p.name for p in found)} beside it: "
            f"move the newest .repairing- file (the rebuilt board) to {path.name} to go on; nothing was created")


def _copy_rows(source: sqlite3.Connection, target: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Copy a table row by row by rowid, so one damaged page costs only the rows on it."""
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        top = source.execute(f"SELECT max(rowid) FROM {quoted}").fetchone()[0] or 0
    except sqlite3.Error:
        top = None
    kept = lost = 0
    if top is None:  # the table's b-tree is too damaged to find its end: take rows until it breaks
        try:
            for row in source.execute(f"SELECT rowid, * FROM {quoted}"):
                _insert(target, quoted, row)
                kept += 1
        except sqlite3.Error:
            lost += 1
        return kept, lost
    for rowid in range(1, top + 1):
        try:
            row = source.execute(f"SELECT rowid, * FROM {quoted} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.Error:
            lost += 1
            continue
        if row is not None:
            _insert(target, quoted, row)
            kept += 1
    return kept, lost


def _insert(target: sqlite3.Connection, quoted: str, row: tuple) -> None:
    columns = [c[1] for c in target.execute(f"PRAGMA table_info({quoted})")]
    names = ", ".join(["rowid", *('"' + c + '"' for c in columns)])
    target.execute(f"INSERT INTO {quoted} ({names}) VALUES ({', '.join('?' * len(row))})", row)
