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
SCHEMA_REVISION = "0004"
# Our own name for Alembic's version table: Optuna keeps its studies in the same database and
# uses the default `alembic_version` for its own schema.
VERSION_TABLE = "mnistbench_schema_version"

# Columns stored as text in SQLite that a reader decodes (SQLAlchemy's JSON and DateTime).
JSON_COLUMNS = ("config", "details", "members")
DATETIME_COLUMNS = ("heartbeat_at", "created_at", "finished_at")
EPOCH_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s")


# What each column holds, for readers that must not trust a row: on a class board a student can write
# any row of their own by hand, and SQLite stores any type in any column. Checked against the ORM by a test.
FLOAT_COLUMNS = ("test_accuracy", "val_accuracy", "train_seconds", "eval_seconds", "time_to_99", "time_to_995")
INT_COLUMNS = ("id", "params_total", "params_trainable", "labels_used", "selection_labels_read", "epochs_run",
               "batch_size", "seed", "epoch_to_99", "epoch_to_995", "pid", "trial")


def coerce_value(name: str, value):
    """A column's value as its readers expect it, whatever was written: a config that is not a JSON
    object reads as {} (details too), members that are not a list of ids as none, a number that is not a finite number
    (text, NaN) as none, any other text as text without control characters."""
    import math  # noqa: PLC0415

    from .sanitize import printable  # noqa: PLC0415

    if value is None:
        return {} if name in ("config", "details") else None
    if name in ("config", "details"):
        return value if isinstance(value, dict) else {}
    if name == "members":
        return value if isinstance(value, list) and all(type(v) is int for v in value) else None
    if name in FLOAT_COLUMNS:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else None
    if name in INT_COLUMNS:
        return value if type(value) is int else None
    if name in DATETIME_COLUMNS:
        return value if isinstance(value, datetime) else None
    return printable(value) if isinstance(value, str) else str(value)


def coerce_epoch(name: str, value):
    """An epoch's value as readers expect it: the epoch an int, the rest finite floats, else none."""
    import math  # noqa: PLC0415

    if name == "epoch":
        return value if type(value) is int else None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def coerce_run(run):
    """A run read through the ORM, its values coerced in place (call it once the session is closed, so
    that nothing is written back)."""
    for name in run.columns:
        setattr(run, name, coerce_value(name, getattr(run, name)))
    return run


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
