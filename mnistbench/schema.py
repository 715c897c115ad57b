"""What the leaderboard holds, for every reader of it: the schema's identity, the columns that need
decoding, and the reading interface that the Store and the standard-library QuickBoard both offer.

No SQLAlchemy here (the read-only commands must not import it); the columns themselves are declared
once, by the ORM model in store.py, and a QuickBoard takes them from the database's own rows.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Protocol

DEFAULT_DB = Path("leaderboards") / "mnistbench.db"
# The Alembic revision this code writes; mnistbench/migrations/versions holds the chain up to it.
SCHEMA_REVISION = "0003"
# Our own name for Alembic's version table: Optuna keeps its studies in the same database and
# uses the default `alembic_version` for its own schema.
VERSION_TABLE = "mnistbench_schema_version"

# Columns stored as text in SQLite that a reader decodes (SQLAlchemy's JSON and DateTime).
JSON_COLUMNS = ("config", "members")
DATETIME_COLUMNS = ("heartbeat_at", "created_at", "finished_at")
EPOCH_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s")


def default_url() -> str:
    return os.environ.get("MNISTBENCH_DB") or f"sqlite:///{DEFAULT_DB}"


def public_url(url: str) -> str:
    """A board's URL fit to show: the password masked (without importing SQLAlchemy)."""
    import re  # noqa: PLC0415

    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)


class BoardReader(Protocol):
    """What the read-only commands need of a board; store.Store and quickread.QuickBoard both provide it.
    Runs come back with one attribute per column, in the table's order (`columns`), and `epochs` when
    asked for."""

    def runs(self, *, benchmark: str | None = None, model: str | None = None, status: str | None = None,
             sweep: str | None = None, limit: int | None = None) -> list: ...

    def get_run(self, run_id: int, *, with_epochs: bool = False): ...

    def epochs_by_run(self) -> dict[int, list]: ...


def run_as_dict(run) -> dict:
    """A run's columns as plain JSON-able values (datetimes as ISO strings); works on ORM and quick rows."""
    out = {}
    for name in run.columns:
        value = getattr(run, name)
        out[name] = value.isoformat(timespec="seconds") if isinstance(value, datetime) else value
    return out
