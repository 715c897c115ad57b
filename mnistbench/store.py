"""The leaderboard store: every run and its per-epoch history, in any SQLAlchemy database (the tables
are declared in orm.py, the folders of a board's files in layout.py).

SQLite (the default) runs in WAL mode with a busy timeout and writes in short IMMEDIATE transactions,
so several trainings can record into one file at once. Runs whose process died are found and marked
`interrupted` when the store is opened. No TensorFlow here.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from .config import Status
from .errors import RunNotFound, StoreError
from .layout import BoardLayout
from .orm import RUN_COLUMNS, Base, Epoch, Run, utcnow  # noqa: F401  (re-exported)
from .schema import DEFAULT_DB, SCHEMA_REVISION, VERSION_TABLE, coerce_run, default_url, run_as_dict  # noqa: F401  (re-exported)

MIGRATIONS = Path(__file__).parent / "migrations"
STATUSES = Status.values()
# A run whose heartbeat is older than this is taken for dead even on another host.
STALE_AFTER = timedelta(minutes=10)


# What a copy of a run gets anew rather than from its source.
_NOT_COPIED = ("id", "status", "host", "pid", "heartbeat_at", "created_at", "finished_at", "error",
               "verification", "verification_note", "owner")


def known_revisions() -> set[str]:
    """Revision ids shipped with this code, read from the migration files' names."""
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("*_*.py")}


def _run_key(run_id: int) -> int:
    """A run id as the database can hold it: anything outside a 64-bit integer is no run of ours."""
    if not -2**63 <= run_id < 2**63:
        raise RunNotFound(f"no run with id {run_id}")
    return run_id


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """Open (and create) the leaderboard at `url`; every method is one short transaction."""

    def __init__(self, url: str | None = None, *, reap: bool = True, upgrade: bool = False):
        self.url = url or default_url()
        try:
            parsed = make_url(self.url)
        except ArgumentError:
            raise StoreError(f"not a database URL: {self.url!r}") from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        try:
            self.engine = self._engine(parsed, immediate=False)
            # Writers take the lock at BEGIN, so a write never fails half-way on a busy snapshot.
            self.write_engine = self._engine(parsed, immediate=True) if self.is_sqlite else self.engine
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"no driver for {parsed.drivername} ({exc}); see the README's install extras") from None
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._refuse_damaged()
        self.revision_before = self._init_schema(allow_upgrade=upgrade)
        if reap:
            self.reap_stale_runs()

    def _engine(self, parsed, immediate: bool):
        if self.is_sqlite:
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                from .integrity import missing_board_message  # noqa: PLC0415

                leftover = missing_board_message(Path(database).expanduser())
                if leftover:
                    raise StoreError(leftover)
                folder = Path(database).expanduser().parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot create the database folder {folder}: {exc.strerror}") from None
                path = Path(database).expanduser()
                if path.exists() and not os.access(folder, os.W_OK):
                    # A read-only filesystem: SQLite cannot make the WAL's -shm file there, so the board
                    # is read as immutable; a write gets the read-only message.
                    parsed = make_url(f"sqlite:///file:{path.resolve()}?mode=ro&immutable=1&uri=true")
            engine = create_engine(parsed, connect_args={"timeout": 60})

            @event.listens_for(engine, "connect")
            def on_connect(dbapi_connection, _record):
                dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA busy_timeout = 60000")
                cursor.execute("PRAGMA foreign_keys = ON")
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                except Exception:  # a read-only file keeps its journal mode and can still be read
                    pass
                cursor.close()

            @event.listens_for(engine, "begin")
            def on_begin(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

            return engine
        return create_engine(parsed, pool_pre_ping=True)

    # --- transactions -----------------------------------------------------------------------------

    @contextmanager
    def _session(self, write: bool):
        factory = self._write if write else self._read
        try:
            with factory() as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(self._explain(exc)) from None

    def _refuse_damaged(self) -> None:
        """A SQLite file is looked at read-only before anything opens it for writing: a damaged board is
        refused (a write could spread the damage; `mnistbench db check --repair` rebuilds it), and so is
        a file that is not an mnistbench board (a read must not give it our tables or switch it to WAL)."""
        import sqlite3  # noqa: PLC0415

        from .integrity import damaged_message, foreign_message, quick_check, read_only_uri  # noqa: PLC0415

        path = self._sqlite_path()
        if path is None or not path.is_file():
            return
        foreign = foreign_message(path)
        if foreign:
            raise StoreError(foreign)
        try:
            with sqlite3.connect(read_only_uri(path), uri=True, timeout=60) as connection:
                result = quick_check(connection)
        except sqlite3.DatabaseError as exc:
            result = str(exc)
        if result != "ok":
            raise StoreError(damaged_message(path))

    def _explain(self, exc: SQLAlchemyError) -> str:
        from .integrity import damaged_message, is_damage  # noqa: PLC0415

        where = make_url(self.url).render_as_string(hide_password=True)
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        path = self._sqlite_path()
        if path is not None and is_damage(exc):
            return damaged_message(path)
        if "readonly" in message or "read-only" in message:
            return f"the leaderboard {where} is read-only ({message})"
        if "permission denied" in message or "row-level security" in message:
            return f"the database refused ({message}) on {where}: this role may not do that"
        return f"leaderboard {where}: {message}"

    def _init_schema(self, allow_upgrade: bool) -> str | None:
        """Create a new board at the current revision; migrate an older SQLite one (after a backup), or
        any older one when `allow_upgrade`; refuse one that is newer than this code. Returns the
        revision found."""
        with self._session(write=False) as s:
            conn = s.connection()
            has_version = self.engine.dialect.has_table(conn, VERSION_TABLE)
            current = s.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() if has_version else None
            tables = inspect(conn).get_table_names() if not has_version else []
        if tables:  # someone else's database: never give it our tables
            where = make_url(self.url).render_as_string(hide_password=True)
            raise StoreError(f"{where} is not an mnistbench board (it holds other tables: "
                             f"{', '.join(sorted(tables)[:3])}); nothing was changed")
        empty = not has_version
        if current == SCHEMA_REVISION:
            return current
        path = self._sqlite_path()
        if not empty and path is not None and not os.access(path.parent, os.W_OK):
            raise StoreError(f"the leaderboard {path} is at schema revision {current} on a read-only filesystem: "
                             f"this mnistbench ({SCHEMA_REVISION}) cannot migrate it there; copy it somewhere "
                             "writable, or read it with the mnistbench that wrote it")
        if current is not None and current not in known_revisions():
            raise StoreError(f"the leaderboard is at schema revision {current}, newer than this mnistbench "
                             f"({SCHEMA_REVISION}); upgrade mnistbench")
        if not empty and not self.is_sqlite and not allow_upgrade:
            raise StoreError(f"the leaderboard is at schema revision {current}, this mnistbench needs "
                             f"{SCHEMA_REVISION}: run `mnistbench db upgrade`")
        self.upgrade(backup=not empty)
        return current

    def upgrade(self, backup: bool = True) -> Path | None:
        """Migrate to the current revision; for a SQLite file, first a copy made with SQLite's backup API."""
        copy = self.backup() if backup and self.is_sqlite else None
        from alembic import command  # noqa: PLC0415  (only when a migration is due)
        from alembic.config import Config  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.write_engine.connect() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, SCHEMA_REVISION)
                conn.commit()
        except SQLAlchemyError as exc:
            raise StoreError(self._explain(exc)) from None
        return copy

    def backup(self) -> Path | None:
        """A consistent copy of a SQLite board next to it (safe while others write)."""
        import sqlite3  # noqa: PLC0415

        database = make_url(self.url).database
        if not database or database == ":memory:" or database.startswith("file:") or not Path(database).exists():
            return None
        target = Path(database).with_suffix(f".backup-{time.strftime('%Y%m%d-%H%M%S')}.db")
        try:
            with sqlite3.connect(database) as source, sqlite3.connect(target) as copy:
                source.backup(copy)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot back up {database} before migrating: {exc}") from None
        return target

    # --- writing runs -----------------------------------------------------------------------------

    def start_run(self, **fields) -> int:
        """Insert a run as `running` before any work starts; returns its id. The run lifecycle
        (recording.py) is the library's one caller."""
        with self._session(write=True) as s:
            return self._new_run(s, {"status": Status.running, **fields}).id

    def record_finished(self, fields: dict, epochs: list[dict], before_commit=None) -> int:
        """Insert a run that is already finished (an import, a submitted model) with its epochs, in one
        write transaction. `before_commit(run_id)` runs inside it (to keep the model file under the new
        id) and returns columns to set; whatever fails rolls the whole run back. The library reaches it
        through `recording.arrived`."""
        with self._session(write=True) as s:
            run = self._new_run(s, {**fields, "status": Status.finished, "finished_at": utcnow()})
            for epoch in epochs:
                s.add(Epoch(run_id=run.id, **epoch))
            run.epochs_run = fields.get("epochs_run", len(epochs) or None)
            for key, value in (before_commit(run.id) if before_commit else {}).items():
                setattr(run, key, value)
            return run.id

    def _new_run(self, session, fields: dict) -> Run:
        """A run row with what every run records, however it arrives: who wrote it, from where, when."""
        now = utcnow()
        defaults = {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat_at": now, "created_at": now}
        if "owner" not in fields:
            defaults["owner"] = self._owner(session)
        run = Run(**{**defaults, **fields})
        session.add(run)
        session.flush()
        return run

    def _owner(self, session) -> str:
        if self.is_sqlite:
            import getpass  # noqa: PLC0415

            try:
                return getpass.getuser()
            except (KeyError, OSError):  # a container user without a passwd entry
                return str(os.getuid())
        return session.execute(text("SELECT current_user")).scalar_one()

    @contextmanager
    def _held_run(self, run_id: int, refusals: tuple[str, ...], refused):
        """A write session holding run `run_id`. A database error containing one of `refusals` (row-level
        security hides the row from UPDATE and DELETE, so the ORM finds 0 rows) becomes `refused(owner)`."""
        seen = {}
        try:
            with self._session(write=True) as s:
                # SQLite's write transaction holds the lock from BEGIN IMMEDIATE; elsewhere the row is
                # locked as it is read, so a read-modify-write of the row never loses another's write.
                run = s.get(Run, _run_key(run_id))
                if run is None:
                    raise RunNotFound(f"no run with id {run_id}")
                seen["owner"] = run.owner
                if not self.is_sqlite:
                    locked = s.execute(select(Run.id).where(Run.id == run_id).with_for_update()).first()
                    if locked is None:  # row-level security lets this role read the run, not change it
                        raise StoreError(refused(run.owner))
                    s.refresh(run)  # the values as of the lock, not of the first read
                yield s, run
        except StoreError as exc:
            if any(marker in str(exc) for marker in refusals):
                raise StoreError(refused(seen.get("owner"))) from None
            raise

    def update_run(self, run_id: int, **fields) -> None:
        with self._held_run(run_id, ("expected to update 1 row",), lambda owner: (
                f"the database refused to change run {run_id}: it belongs to {owner}, and only its owner or "
                "a lecturer may change it (row-level security)")) as (_, run):
            for key, value in fields.items():
                setattr(run, key, value)

    def add_flag(self, run_id: int, note: str) -> list[str]:
        """Append `note` to a run's flags (once) in one write transaction; returns the flags after."""
        with self._held_run(run_id, ("expected to update 1 row",), lambda owner: (
                f"the database refused to change run {run_id}: it belongs to {owner}, and only its owner or "
                "a lecturer may change it (row-level security)")) as (_, run):
            flags = [f for f in (run.flags or "").split(", ") if f]
            if note not in flags:
                flags.append(note)
                run.flags = ", ".join(flags)[:200]
            return flags

    def delete_run(self, run_id: int) -> None:
        """Remove a run and its epochs (a lecturer's job on a class board); its saved model stays on disk."""
        with self._held_run(run_id, ("expected to delete 1 row", "permission denied"), lambda owner: (
                f"the database refused to delete run {run_id} (owner {owner}): only a lecturer may delete runs "
                "(row-level security)")) as (session, run):
            session.delete(run)

    def finish_run(self, run_id: int, status: str, **fields) -> None:
        """Record how a run ended; `error` defaults to none, which clears a reaper's stale verdict."""
        if status not in STATUSES:
            raise StoreError(f"a run ends as one of {', '.join(STATUSES[1:])}, not {status!r}")
        fields.setdefault("error", None)
        self.update_run(run_id, status=status, finished_at=utcnow(), **fields)

    def recording(self, **fields):
        """The one run lifecycle (see recording.py): `with store.recording(**columns) as run: ...`."""
        from .recording import recording  # noqa: PLC0415

        return recording(self, **fields)

    def copied_fields(self, run_id: int) -> dict:
        """Every column of a run except its identity and lifecycle, to record a copy of it (a sweep's
        winner, evaluated as a run of its own)."""
        run = self.get_run(run_id)
        return {name: getattr(run, name) for name in RUN_COLUMNS if name not in _NOT_COPIED}

    def add_epoch(self, run_id: int, **fields) -> None:
        """Record one epoch and refresh the heartbeat, in one transaction."""
        with self._session(write=True) as s:
            s.merge(Epoch(run_id=run_id, **fields))
            run = s.get(Run, run_id)
            if run is not None:
                run.heartbeat_at = utcnow()
                run.epochs_run = fields.get("epoch", run.epochs_run)

    @property
    def stale_after(self) -> timedelta:
        """How long a running run may stay silent before it is taken for dead (read now, so tests can
        shorten STALE_AFTER); its heartbeat beats well within it."""
        return STALE_AFTER

    def heartbeat(self, run_id: int) -> None:
        self.update_run(run_id, heartbeat_at=utcnow())

    def reap_stale_runs(self) -> list[int]:
        """Mark `running` runs whose process is gone (this host) or silent too long (any host)."""
        host, now = socket.gethostname(), utcnow()
        try:
            with self._session(write=False) as s:
                running = s.scalars(select(Run).where(Run.status == Status.running)).all()
        except StoreError:
            return []
        dead = [r.id for r in running
                if (r.host == host and r.pid is not None and not _pid_alive(r.pid))
                or (r.heartbeat_at is not None and now - r.heartbeat_at > self.stale_after)]
        for run_id in dead:
            try:
                with self._session(write=True) as s:
                    run = s.get(Run, run_id)
                    if run.status == Status.running:
                        run.status = Status.interrupted
                        run.error = "process ended without recording a result (killed or crashed)"
                        run.finished_at = now
            except StoreError:
                return []  # a read-only board is still readable; the next writer reaps
        return dead

    # --- reading ----------------------------------------------------------------------------------

    def get_run(self, run_id: int, *, with_epochs: bool = False) -> Run:
        with self._session(write=False) as s:
            run = s.get(Run, _run_key(run_id))
            if run is None:
                raise RunNotFound(f"no run with id {run_id}")
            if with_epochs:
                _ = list(run.epochs)  # load while the session is open
        return coerce_run(run)

    def runs(self, *, benchmark: str | None = None, model: str | None = None, status: str | None = None,
             sweep: str | None = None, limit: int | None = None) -> list[Run]:
        query = select(Run).order_by(Run.id)
        for column, value in ((Run.benchmark, benchmark), (Run.model, model), (Run.status, status),
                              (Run.sweep, sweep)):
            if value is not None:
                query = query.where(column == value)
        if limit:
            query = query.order_by(None).order_by(Run.id.desc()).limit(limit)
        with self._session(write=False) as s:
            rows = list(s.scalars(query).all())
        return sorted((coerce_run(r) for r in rows), key=lambda r: r.id)

    def epochs_by_run(self) -> dict[int, list[Epoch]]:
        """Every run's epochs in one query, by run id, in epoch order."""
        with self._session(write=False) as s:
            rows = s.scalars(select(Epoch).order_by(Epoch.run_id, Epoch.epoch)).all()
        out: dict[int, list[Epoch]] = {}
        for epoch in rows:
            out.setdefault(epoch.run_id, []).append(epoch)
        return out

    def _sqlite_path(self) -> Path | None:
        database = make_url(self.url).database if self.is_sqlite else None
        if database and database != ":memory:" and not database.startswith("file:"):
            return Path(database).expanduser().absolute()
        return None

    @property
    def layout(self) -> BoardLayout:
        """Where this board's files go (layout.py)."""
        return BoardLayout(self.url, self._sqlite_path())

    def board_key(self) -> str:
        return self.layout.key()

    def artifacts_dir(self) -> Path:
        return self.layout.models()

    def figures_dir(self) -> Path:
        return self.layout.figures()

    def model_file(self, run) -> Path | None:
        return self.layout.model_file(run)

    def integrity_check(self) -> str:
        if not self.is_sqlite:
            return "ok"
        with self._session(write=False) as s:
            return s.execute(text("PRAGMA integrity_check")).scalar_one()

    def close(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
