"""The leaderboard store on a temporary SQLite file."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from mnistbench.errors import RunNotFound, StoreError
from mnistbench.legacy import LABELS_SETTINGS
from mnistbench.store import SCHEMA_REVISION, Store, known_revisions


def test_run_lifecycle(db_url):
    store = Store(db_url)
    run_id = store.start_run(benchmark="accuracy", model="baseline", config={"seed": 1})
    assert store.get_run(run_id).status == "running"
    store.add_epoch(run_id, epoch=1, loss=0.5, accuracy=0.9, val_accuracy=0.91, seconds=1.0)
    store.add_epoch(run_id, epoch=2, loss=0.3, accuracy=0.95, val_accuracy=0.96, seconds=2.0)
    store.finish_run(run_id, "finished", test_accuracy=0.955)
    run = store.get_run(run_id, with_epochs=True)
    assert run.status == "finished" and run.test_accuracy == 0.955 and run.epochs_run == 2
    assert [e.val_accuracy for e in run.epochs] == [0.91, 0.96]
    assert run.config == {"seed": 1} and run.finished_at is not None


def test_sqlite_is_in_wal_mode(db_url, tmp_path):
    Store(db_url).start_run(benchmark="accuracy", model="m")
    with sqlite3.connect(tmp_path / "board.db") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_filters(db_url):
    store = Store(db_url)
    a = store.start_run(benchmark="accuracy", model="baseline")
    store.start_run(benchmark="params", model="tiny")
    store.finish_run(a, "finished")
    assert [r.id for r in store.runs(benchmark="accuracy")] == [a]
    assert [r.model for r in store.runs(status="running")] == ["tiny"]
    assert [r.id for r in store.runs(limit=1)] == [2]


def test_missing_run(db_url):
    with pytest.raises(RunNotFound, match="no run with id 42"):
        Store(db_url).get_run(42)


def test_dead_process_run_is_marked_interrupted(db_url):
    store = Store(db_url)
    run_id = store.start_run(benchmark="accuracy", model="baseline", pid=2**22 + 12345)  # no such pid
    alive = store.start_run(benchmark="accuracy", model="baseline")  # this very process
    reopened = Store(db_url)
    assert reopened.get_run(run_id).status == "interrupted"
    assert reopened.get_run(alive).status == "running"
    assert reopened.integrity_check() == "ok"


def test_newer_schema_is_refused(db_url, tmp_path):
    Store(db_url)
    with sqlite3.connect(tmp_path / "board.db") as con:
        con.execute("UPDATE mnistbench_schema_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer than this mnistbench"):
        Store(db_url)


def test_head_revision_is_shipped():
    assert SCHEMA_REVISION == max(known_revisions())


def test_old_sqlite_board_is_backed_up_then_migrated(db_url, tmp_path):
    """A board at revision 0001 (before verification notes) keeps its runs through the upgrade."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from mnistbench.store import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with create_engine(db_url).connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql("INSERT INTO runs (benchmark, model, status, flags, config, created_at) "
                             "VALUES ('accuracy', 'old', 'finished', '', '{}', '2026-01-01')")
        conn.commit()
    store = Store(db_url)
    assert store.get_run(1).model == "old" and store.get_run(1).verification_note is None
    [backup] = tmp_path.glob("board.backup-*.db")
    with sqlite3.connect(backup) as con:
        assert con.execute("SELECT version_num FROM mnistbench_schema_version").fetchone()[0] == "0001"
        assert con.execute("SELECT model FROM runs").fetchone()[0] == "old"


def test_database_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("a file, not a folder")
    with pytest.raises(StoreError, match="cannot create the database folder"):
        Store(f"sqlite:///{tmp_path}/f/x.db")


def test_unreachable_server():
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="127.0.0.1"):
        Store("postgresql+psycopg://user:secret@127.0.0.1:1/board")


def test_not_a_url():
    with pytest.raises(StoreError, match="not a database URL"):
        Store("this is not a url")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_read_only_file_fails_cleanly_and_keeps_runs(db_url, tmp_path):
    store = Store(db_url)
    run_id = store.start_run(benchmark="accuracy", model="baseline")
    store.close()
    path = tmp_path / "board.db"
    path.chmod(stat.S_IRUSR)
    ro = Store(db_url)
    assert ro.get_run(run_id).model == "baseline"
    with pytest.raises(StoreError, match="read-only"):
        ro.start_run(benchmark="accuracy", model="x")


def test_read_only_via_uri_fails_cleanly_and_keeps_runs(db_url, tmp_path):
    """As root the file mode is no barrier, so open the same file read-only through SQLite's URI."""
    store = Store(db_url)
    run_id = store.start_run(benchmark="accuracy", model="baseline")
    store.close()
    ro = Store(f"sqlite:///file:{tmp_path / 'board.db'}?mode=ro&uri=true")
    assert ro.get_run(run_id).model == "baseline"
    with pytest.raises(StoreError, match="read-only"):
        ro.start_run(benchmark="accuracy", model="x")
    assert Store(db_url).get_run(run_id).status == "running"


DATA = os.path.join(os.path.dirname(__file__), "data")


def _ranking(board_json: dict) -> dict:
    """Each board's rows as (rank, run or runs, accuracy or mean): what ranks, and in which order."""
    return {name: [(row["rank"], row.get("run", row.get("runs")), row.get("test_accuracy", row.get("mean")))
                   for row in board["rows"]] for name, board in board_json.items()}


def test_a_board_of_revision_0003_migrates_and_ranks_identically(tmp_path):
    """tests/data/board-0003.db was written by the code before runs kept their measurements apart (eb19263):
    seeds of two training configs, labels runs, params runs, a distilled run and an imported one. After
    the upgrade every board ranks the same runs in the same order, and each measurement has moved out of
    the config into the details."""
    import json
    import shutil

    from typer.testing import CliRunner

    from mnistbench.cli import app

    shutil.copy(os.path.join(DATA, "board-0003.db"), tmp_path / "old.db")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    for extra, expected in (([], "ranks-0003.json"), (["--by-config"], "ranks-by-config-0003.json")):
        result = CliRunner().invoke(app, ["board", *extra, "--format", "json", "--db", url])
        assert result.exit_code == 0, result.stderr
        with open(os.path.join(DATA, expected)) as f:
            assert _ranking(json.loads(result.stdout)) == _ranking(json.load(f))
    store = Store(url)
    runs = {run.id: run for run in store.runs()}
    assert len(runs) == 12
    assert runs[1].details == {"threads_pinned": 0} and "threads_pinned" not in runs[1].config
    assert runs[1].config["recipe"]["epochs"] == 1 and runs[4].config["recipe"]["lr"] == 0.002
    assert runs[11].details["teacher_run"]["model"] == "fast" and "teacher_run" not in runs[11].config
    labels = runs[6]
    assert len(labels.details["chosen"]) == 10 and labels.details["classes_covered"] == 10
    assert set(labels.config) <= LABELS_SETTINGS
    assert runs[12].details["imported_from"]["run_id"] == 1 and "imported_from" not in runs[12].config
    [backup] = tmp_path.glob("old.backup-*.db")
    with sqlite3.connect(backup) as con:
        assert con.execute("SELECT version_num FROM mnistbench_schema_version").fetchone()[0] == "0003"
