"""Reading a SQLite leaderboard with the standard library alone, for the commands that only read.

`board`, `runs` and `show` should answer in well under half a second, and importing SQLAlchemy
alone takes about 0.2 s of that. So when the board is a SQLite file that already exists, is at this
code's schema revision and has no run in progress, these commands read it through `sqlite3` into
rows with the same attributes as the ORM's. In every other case (another database, no file yet, an
older or newer schema, a `running` run that the full Store may have to mark interrupted) `open_board`
returns None and the caller opens the Store, which knows how to create, migrate and reap.

The schema's constants live in schema.py, shared with the Store, so that this module never imports
SQLAlchemy; the column names come from the database's rows.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from .errors import RunNotFound, StoreError
from .integrity import damaged_message, foreign_message, is_damage, quick_check, read_only_uri
from .schema import (  # noqa: F401
    DATETIME_COLUMNS,
    EPOCH_COLUMNS,
    JSON_COLUMNS,
    SCHEMA_REVISION,
    VERSION_TABLE,
    BoardReader,
    coerce_epoch,
    coerce_value,
    default_url,
    run_as_dict,
)


def sqlite_file(url: str) -> Path | None:
    """The file behind a plain `sqlite:///PATH` URL; None for anything fancier (memory, URI, options)."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix):]
            if path and "?" not in path and path != ":memory:" and not path.startswith("file:"):
                return Path(path).expanduser()
    return None


def sqlite_path_of(url: str) -> Path | None:
    """The file behind any SQLite URL, options and `file:` URIs included (`sqlite:///b.db?timeout=5`);
    None for an in-memory database or a URL of another database."""
    head, sep, rest = url.partition(":///")
    if not sep or not (head == "sqlite" or head.startswith("sqlite+")):
        return None
    path = rest.split("?", 1)[0]
    if path.startswith("file:"):
        path = path[len("file:"):]
    if not path or path == ":memory:":
        return None
    return Path(path).expanduser()


class QuickBoard:
    """Read-only access to a board file; the same reading methods as Store, without SQLAlchemy."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None = None):
        self.connection, self.path = connection, path

    def _execute(self, sql: str, values=()):
        try:
            return self.connection.execute(sql, values).fetchall()
        except sqlite3.DatabaseError as exc:  # a damaged page met while reading
            if self.path is not None and is_damage(exc):
                raise StoreError(damaged_message(self.path)) from None
            raise StoreError(f"leaderboard {self.path}: {exc}") from None

    def runs(self, *, benchmark: str | None = None, model: str | None = None, status: str | None = None,
             sweep: str | None = None, limit: int | None = None) -> list[SimpleNamespace]:
        where, values = [], []
        for column, value in (("benchmark", benchmark), ("model", model), ("status", status), ("sweep", sweep)):
            if value is not None:
                where.append(f"{column} = ?")
                values.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        if limit:
            sql += " ORDER BY id DESC LIMIT ?"
            values.append(limit)
        rows = [self._run(row) for row in self._execute(sql, values)]
        return sorted(rows, key=lambda r: r.id)

    def get_run(self, run_id: int, *, with_epochs: bool = False) -> SimpleNamespace:
        if not -2**63 <= run_id < 2**63:  # SQLite's integers are 64-bit
            raise RunNotFound(f"no run with id {run_id}")
        found = self._execute("SELECT * FROM runs WHERE id = ?", (run_id,))
        row = found[0] if found else None
        if row is None:
            raise RunNotFound(f"no run with id {run_id}")
        run = self._run(row)
        if with_epochs:
            epochs = self._execute(
                f"SELECT {', '.join(EPOCH_COLUMNS)} FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,))
            run.epochs = [SimpleNamespace(**{k: coerce_epoch(k, v) for k, v in zip(EPOCH_COLUMNS, e, strict=True)})
                          for e in epochs]
        return run

    def epochs_by_run(self) -> dict[int, list[SimpleNamespace]]:
        """Every run's epochs in one query, by run id, in epoch order."""
        out: dict[int, list[SimpleNamespace]] = {}
        for row in self._execute(f"SELECT run_id, {', '.join(EPOCH_COLUMNS)} FROM epochs ORDER BY run_id, epoch"):
            out.setdefault(row[0], []).append(
                SimpleNamespace(**{k: coerce_epoch(k, v) for k, v in zip(EPOCH_COLUMNS, tuple(row)[1:], strict=True)}))
        return out

    def close(self) -> None:
        self.connection.close()

    @staticmethod
    def _run(row: sqlite3.Row) -> SimpleNamespace:
        # SQLAlchemy stores JSON as text and DateTime as ISO text in SQLite; decode them as it does, and
        # read a hand-written value that decodes to nothing sensible as none (coerce_value).
        values = dict(zip(row.keys(), row, strict=True))
        columns = tuple(row.keys())
        for name in JSON_COLUMNS:
            if isinstance(values.get(name), str):
                try:
                    values[name] = json.loads(values[name])
                except (ValueError, RecursionError):
                    values[name] = None
        for name in DATETIME_COLUMNS:
            if isinstance(values.get(name), str):
                try:
                    values[name] = datetime.fromisoformat(values[name])
                except ValueError:
                    values[name] = None
        return SimpleNamespace(columns=columns, **{k: coerce_value(k, v) for k, v in values.items()})


def open_board(url: str | None = None, *, allow_running: bool = False) -> QuickBoard | None:
    """A QuickBoard when the fast path is safe (see the module docstring), else None. `allow_running`:
    read a board with runs in progress as it is (for `serve`, which must never write)."""
    path = sqlite_file(url or default_url())
    if path is None or not path.is_file():
        return None
    foreign = foreign_message(path)
    if foreign:
        raise StoreError(foreign)
    connection = None
    uri = read_only_uri(path)
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=10)
        connection.row_factory = sqlite3.Row
        revision = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
        running = connection.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
        if quick_check(connection) != "ok":
            raise sqlite3.DatabaseError("database disk image is malformed")
    except sqlite3.Error as exc:
        if connection is not None:
            connection.close()
        if is_damage(exc):
            raise StoreError(damaged_message(path)) from None
        return None  # not ours, locked or unreadable: the Store explains it properly
    # On a read-only filesystem (immutable) nothing can be reaped or migrated: read it as it is.
    if revision is None or revision[0] != SCHEMA_REVISION or (running and "immutable" not in uri and not allow_running):
        connection.close()
        return None
    return QuickBoard(connection, path)


def open_reader(url: str | None = None, *, never_write: bool = False):
    """The one door for reading a board: a QuickBoard where the fast path is safe, else the Store (which
    reaps stale runs and migrates an old SQLite board, as any command would).

    never_write (`serve`): a SQLite file is only ever read read-only, runs in progress as they are, and
    refused when it is not a board at this schema; any other database through a Store that does not reap.
    """
    if never_write and (url or default_url()).startswith("sqlite"):
        path = sqlite_path_of(url or default_url())  # whatever the URL's options: the file, read-only
        if path is None:
            raise StoreError("serve shows a board file; an in-memory database has no board to show")
        if not path.is_file():
            raise StoreError(f"no leaderboard at {path}")
        board = open_board(f"sqlite:///{path}", allow_running=True)
        if board is None:
            raise StoreError(f"{path} is not a leaderboard at this mnistbench's schema (run any mnistbench "
                             "command that writes to it once, or `mnistbench db upgrade`)")
        return board
    board = None if never_write else open_board(url)
    if board is not None:
        return board
    from .store import Store  # noqa: PLC0415  (SQLAlchemy: only when the fast path cannot serve)

    return Store(url, reap=not never_write)

