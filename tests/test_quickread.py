"""The stdlib read path for board/runs/show: same rows as the Store, and it steps aside when unsafe."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mnistbench import quickread, store
from mnistbench.quickread import QuickBoard, open_board, run_as_dict
from mnistbench.store import Store


def fill(url: str) -> Store:
    board = Store(url)
    for i in range(6):
        run_id = board.start_run(benchmark=("accuracy", "params")[i % 2], model=f"m{i % 3}", params_total=100 + i,
                                 labels_used=10, config={"i": i, "recipe": {"lr": 0.1}}, sweep="s" if i < 2 else None)
        for epoch in (1, 2):
            board.add_epoch(run_id, epoch=epoch, loss=1 / epoch, accuracy=0.9, val_accuracy=0.9 + epoch / 100,
                            seconds=float(epoch), images_per_s=1000.0)
        board.finish_run(run_id, "finished", test_accuracy=0.95 + i / 100, train_seconds=3.5)
    board.update_run(2, members=[1, 3], verification="verified")
    return board


def test_quick_rows_have_the_orms_columns_from_the_database(db_url):
    """No second column list: a QuickBoard row has the ORM's columns, read off the table."""
    fill(db_url).close()
    [quick] = open_board(db_url).runs(limit=1)
    assert sorted(quick.columns) == sorted(store.RUN_COLUMNS)  # a migration appends, so the order may differ
    assert set(run_as_dict(quick)) == set(store.RUN_COLUMNS)


@pytest.mark.parametrize("filters", [{}, {"benchmark": "params"}, {"model": "m1"}, {"sweep": "s"}, {"limit": 2},
                                     {"status": "finished", "limit": 4}])
def test_quick_rows_equal_the_stores(db_url, filters):
    full = fill(db_url)
    quick = open_board(db_url)
    assert isinstance(quick, QuickBoard)
    assert [run_as_dict(r) for r in quick.runs(**filters)] == [run_as_dict(r) for r in full.runs(**filters)]


def test_quick_run_with_epochs_equals_the_stores(db_url):
    full = fill(db_url)
    quick = open_board(db_url)
    ours, theirs = quick.get_run(2, with_epochs=True), full.get_run(2, with_epochs=True)
    assert run_as_dict(ours) == run_as_dict(theirs)
    assert ours.members == [1, 3] and ours.config["recipe"] == {"lr": 0.1}
    assert [vars(e) for e in ours.epochs] == [{k: getattr(e, k) for k in quickread.EPOCH_COLUMNS}
                                              for e in theirs.epochs]
    with pytest.raises(quickread.RunNotFound, match="no run with id 99"):
        quick.get_run(99)


def test_every_runs_epochs_at_once_equal_the_stores(db_url):
    full = fill(db_url)
    quick = open_board(db_url)
    ours, theirs = quick.epochs_by_run(), full.epochs_by_run()
    assert sorted(ours) == sorted(theirs) == [1, 2, 3, 4, 5, 6]
    for run_id in ours:
        assert [vars(e) for e in ours[run_id]] == [{k: getattr(e, k) for k in quickread.EPOCH_COLUMNS}
                                                   for e in theirs[run_id]]
        assert [vars(e) for e in ours[run_id]] == [vars(e) for e in quick.get_run(run_id, with_epochs=True).epochs]


def test_steps_aside_when_the_store_is_needed(db_url, tmp_path):
    assert open_board(db_url) is None  # no file yet: the Store creates it
    board = fill(db_url)
    assert open_board(db_url) is not None
    board.start_run(benchmark="accuracy", model="m", config={})  # running: maybe dead, the Store reaps
    assert open_board(db_url) is None
    assert open_board("sqlite:///:memory:") is None
    assert open_board(f"sqlite:///file:{tmp_path / 'board.db'}?mode=ro&uri=true") is None
    assert open_board("postgresql+psycopg://u:p@127.0.0.1:1/x") is None
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(quickread.StoreError, match="junk.db is not an SQLite database, so not an mnistbench board"):
        open_board(f"sqlite:///{tmp_path / 'junk.db'}")  # said at once, in the Store's words


def test_an_older_schema_goes_through_the_store(db_url, tmp_path):
    import sqlite3

    fill(db_url)
    path = tmp_path / "board.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"UPDATE {quickread.VERSION_TABLE} SET version_num = '0001'")
    assert open_board(db_url) is None


@pytest.mark.parametrize("command", [["board"], ["runs"], ["show", "1"]])
def test_read_commands_skip_sqlalchemy_on_a_settled_board(command, db_url):
    fill(db_url)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from mnistbench.cli import app\n"
        f"result = CliRunner().invoke(app, {command + ['--db', db_url]!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
