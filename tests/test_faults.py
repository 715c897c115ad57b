"""Faults a board must survive: full and read-only disks, damaged files, two boards in one folder.

The disks are real: small tmpfs mounts (root, as in CI; skipped where mounting is not allowed).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistbench.cli import app
from mnistbench.store import Store

from .conftest import one_line

runner = CliRunner()
TINY_RUN = ["train", "accuracy", "--model", "fast", "--train-size", "300", "--epochs", "1"]


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)



class Disk:
    """A tmpfs of `size` mounted at `path`; `read_only()` remounts it so."""

    def __init__(self, path: Path, size: str):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")

    def read_only(self):
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)

    def fill(self):
        with open(self.path / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 16))
            except OSError:
                pass

    def unmount(self):
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def disk(tmp_path):
    made = []

    def make(size="512k", name=None):
        made.append(Disk(tmp_path / (name or f"disk-{uuid.uuid4().hex[:6]}"), size))
        return made[-1]

    yield make
    for d in made:
        d.unmount()


def test_a_full_artifacts_disk_keeps_the_finished_run(db_url, real_mnist_path, disk):
    full = disk("512k")
    result = invoke(*TINY_RUN, "--db", db_url, "--data", real_mnist_path, env={"MNISTBENCH_ARTIFACTS": str(full.path)})
    assert result.exit_code == 0, result.stderr
    assert "was not saved" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    [run] = Store(db_url).runs()
    assert run.status == "finished" and run.test_accuracy is not None and run.model_path is None
    assert "model not saved" in run.flags and "No space left" in run.details["model_not_saved"]
    assert not [p for p in full.path.rglob("*.keras")]  # no half-written model left behind


def test_a_read_only_artifacts_folder_keeps_the_finished_run(db_url, real_mnist_path, disk):
    frozen = disk("4m")
    frozen.read_only()
    result = invoke(*TINY_RUN, "--db", db_url, "--data", real_mnist_path, env={"MNISTBENCH_ARTIFACTS": str(frozen.path)})
    assert result.exit_code == 0, result.stderr
    [run] = Store(db_url).runs()
    assert run.status == "finished" and run.test_accuracy is not None and "model not saved" in run.flags


def test_a_read_only_figures_folder_keeps_the_labels_run(tmp_path, real_mnist_path, disk):
    board = disk("8m", name="boards")
    url = f"sqlite:///{board.path / 'b.db'}"
    Store(url).close()
    figures = board.path / "figures"
    figures.mkdir()
    (figures / "b").write_text("a file where the folder should be")  # the figures folder cannot be made
    result = invoke("labels", "--k", 10, "--show", "--db", url, "--data", real_mnist_path)
    assert result.exit_code == 0, result.stderr
    [run] = Store(url).runs()
    assert run.status == "finished" and run.test_accuracy is not None
    assert "could not write the picture" in result.stdout


def test_a_board_on_a_read_only_filesystem_reads_and_refuses_writes(real_mnist_path, disk):
    board = disk("8m")
    url = f"sqlite:///{board.path / 'board.db'}"
    store = Store(url)
    run_id = store.start_run(benchmark="accuracy", model="fast", params_total=10)
    store.finish_run(run_id, "finished", test_accuracy=0.99, config={"recipe": {}})
    store.close()
    board.read_only()
    for args in (["board"], ["runs"], ["show", run_id], ["export"]):
        result = invoke(*args, "--db", url)
        assert result.exit_code == 0, (args, result.stderr)
    assert Store(url).get_run(run_id).test_accuracy == 0.99  # the full Store reads it too
    one_line(invoke(*TINY_RUN, "--db", url, "--data", real_mnist_path), "read-only")


def test_a_full_database_disk_is_one_line_and_loses_nothing(real_mnist_path, disk):
    board = disk("256k")
    url = f"sqlite:///{board.path / 'board.db'}"
    store = Store(url)
    run_id = store.start_run(benchmark="accuracy", model="fast")
    store.finish_run(run_id, "finished", test_accuracy=0.99)
    store.close()
    board.fill()
    result = invoke(*TINY_RUN, "--db", url, "--data", real_mnist_path)
    assert result.exit_code == 1 and "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    (board.path / "filler").unlink()
    assert [r.test_accuracy for r in Store(url).runs() if r.id == run_id] == [0.99]


def test_a_read_only_cache_still_gives_mnist(real_mnist_path, disk, monkeypatch):
    from mnistbench import data

    cache = disk("16m")
    cache.read_only()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.path))
    line = one_line(invoke("data", "import", real_mnist_path), "cannot write the cache")
    assert "Read-only" in line
    assert data.load_mnist(real_mnist_path).x_train.shape == (60_000, 28, 28)


def _damage(path: Path) -> None:
    """Random bytes over a page in the middle of the file, as a bad sector or a stray write would."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2 // 4096 * 4096)
        f.write(np.random.default_rng(0).bytes(4096))


@pytest.fixture
def damaged_board(tmp_path):
    path = tmp_path / "board.db"
    store = Store(f"sqlite:///{path}")
    for i in range(200):
        run_id = store.start_run(benchmark="accuracy", model="m", config={"note": "x" * 200})
        store.add_epoch(run_id, epoch=1, loss=0.1)
        store.finish_run(run_id, "finished", test_accuracy=0.9 + i / 10_000)
    store.close()
    _damage(path)
    return path


def test_a_damaged_board_is_reported_in_one_line_by_every_command(damaged_board, real_mnist_path):
    url = f"sqlite:///{damaged_board}"
    for args in (["runs"], ["board"], ["show", 1], ["export"], ["labels", "--k", 10, "--data", real_mnist_path],
                 ["db", "check"]):
        one_line(invoke(*args, "--db", url), "integrity check", "db check --repair")


def test_db_check_repairs_what_it_safely_can(damaged_board):
    url = f"sqlite:///{damaged_board}"
    result = invoke("db", "check", "--repair", "--db", url)
    assert result.exit_code == 0, result.stderr
    assert "integrity ok" in result.stdout and "damaged file is kept" in result.stdout
    kept = Store(url).runs()
    assert 150 <= len(kept) < 200 and all(r.status == "finished" for r in kept)
    assert list(damaged_board.parent.glob("board.damaged-*.db"))
    assert invoke("db", "check", "--db", url).stdout.strip().endswith("integrity ok")


def test_bit_rot_inside_an_npz_member_is_one_line_and_the_cache_falls_through(tmp_path, real_mnist_path, monkeypatch):
    from mnistbench import data

    rotten = tmp_path / "rotten.npz"
    raw = bytearray(real_mnist_path.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 64] = bytes(64)  # inside x_train's compressed stream
    rotten.write_bytes(bytes(raw))
    one_line(invoke("data", "--data", rotten), "rotten.npz: cannot read as npz")
    # The same file as our cache: the next source is tried, and the message says to delete it.
    cache = data.cache_path()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(bytes(raw))
    monkeypatch.setattr(data, "keras_cache_path", lambda: real_mnist_path)
    assert data.load_mnist().source == str(real_mnist_path)
    report = data.LoadReport()
    monkeypatch.setattr(data, "keras_cache_path", lambda: tmp_path / "absent.npz")
    with pytest.raises(data.DataError, match="damaged: delete it"):
        data.load_mnist(report=report)


def test_two_boards_in_one_folder_keep_their_own_models(tmp_path, real_mnist_path):
    urls = [f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db")]
    for url in urls:
        assert invoke(*TINY_RUN, "--db", url, "--data", real_mnist_path).exit_code == 0
    runs = [Store(url).get_run(1) for url in urls]
    assert runs[0].model_sha256 != runs[1].model_sha256 or runs[0].model_path != runs[1].model_path
    assert {Path(r.model_path).is_absolute() for r in runs} == {False}  # relative to each board's folder
    assert (tmp_path / "models" / "a" / "run-1.keras").exists() and (tmp_path / "models" / "b" / "run-1.keras").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)  # verify from another directory
    for url in urls:
        result = invoke("verify", 1, "--db", url, "--data", real_mnist_path)
        assert result.exit_code == 0 and "verified" in result.stdout, result.stderr


def test_verify_without_a_saved_model_says_so_and_marks_nothing(db_url, real_mnist_path):
    assert invoke(*TINY_RUN, "--no-save-model", "--db", db_url, "--data", real_mnist_path).exit_code == 0
    one_line(invoke("verify", 1, "--db", db_url, "--data", real_mnist_path), "no saved model to verify",
             "--no-save-model")
    assert Store(db_url).get_run(1).verification is None


def test_ensembles_refuse_repeated_members_and_swapped_files(db_url, real_mnist_path):
    for seed in (0, 1):
        assert invoke(*TINY_RUN, "--seed", seed, "--db", db_url, "--data", real_mnist_path).exit_code == 0
    one_line(invoke("ensemble", 1, 1, 2, "--db", db_url, "--data", real_mnist_path), "named twice")
    store = Store(db_url)
    first, second = (store.model_file(store.get_run(i)) for i in (1, 2))
    first.write_bytes(second.read_bytes())  # someone swapped run 1's model for run 2's
    one_line(invoke("ensemble", 1, 2, "--db", db_url, "--data", real_mnist_path), "SHA-256 differs")
    assert len(Store(db_url).runs()) == 2  # nothing recorded


def test_an_error_of_many_lines_is_printed_as_one(db_url, real_mnist_path, monkeypatch):
    from mnistbench import training

    def exhausted(*args, **kwargs):
        raise RuntimeError("OOM when allocating tensor with shape[100000,100000]\n" + "details\n" * 90)

    monkeypatch.setattr(training.keras.Model, "fit", exhausted)
    line = one_line(invoke(*TINY_RUN, "--db", db_url, "--data", real_mnist_path), "OOM when allocating")
    assert "mnistbench show 1" in line
    [run] = Store(db_url).runs()
    assert run.status == "failed" and run.error.count("details") == 90  # the row keeps the whole error


def test_sigkill_during_training_leaves_a_run_that_the_next_command_marks(db_url, real_mnist_path):
    """SIGKILL cannot be caught: the run stays `running` until the next command finds its process gone."""
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "mnistbench", "train", "accuracy", "--model", "fast",
                                "--train-size", "2000", "--epochs", "200", "--db", db_url,
                                "--data", str(real_mnist_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.3)
        found = Store(db_url).runs()
        if found and (found[0].epochs_run or 0) >= 1:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    [run] = Store(db_url).runs()  # opening the board reaps
    assert run.status == "interrupted" and "killed or crashed" in run.error and run.epochs_run >= 1


@pytest.mark.parametrize("stage", ["evaluation", "saving"])
def test_sigterm_after_training_still_records_the_run(db_url, real_mnist_path, monkeypatch, stage):
    """SIGTERM while the test set is evaluated or the model saved: the run ends `interrupted`, never lost."""
    import signal

    from mnistbench import training

    target = {"evaluation": "evaluate", "saving": "save_model"}[stage]
    real = getattr(training, target)

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, target, terminated)
    result = invoke(*TINY_RUN, "--db", db_url, "--data", real_mnist_path)
    assert result.exit_code == 130 and "Traceback" not in result.stderr + result.stdout
    [run] = Store(db_url).runs()
    assert run.status == "interrupted" and run.error == "terminated (SIGTERM)" and run.epochs_run == 1


def test_sigterm_while_the_run_is_recorded_lets_the_record_finish(db_url, monkeypatch):
    """SIGTERM during the final write: the write completes first, then the process ends as terminated."""
    import signal

    from mnistbench.recording import Terminated

    store = Store(db_url)
    real = store.finish_run

    def finish_under_fire(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "finish_run", finish_under_fire)
    with pytest.raises(Terminated):
        with store.recording(benchmark="accuracy", model="fast") as run:
            run.set(test_accuracy=0.97)
    recorded = Store(db_url).get_run(run.run_id)
    assert recorded.status == "finished" and recorded.test_accuracy == 0.97


def test_full_figures_and_cache_disks_keep_the_run(tmp_path, real_mnist_path, disk, monkeypatch):
    small = disk("64k", name="boards")
    url = f"sqlite:///{tmp_path / 'b.db'}"
    (tmp_path / "figures").symlink_to(small.path)  # the figures folder lives on the small disk
    small.fill()
    result = invoke("labels", "--k", 10, "--show", "--db", url, "--data", real_mnist_path)
    assert result.exit_code == 0, result.stderr
    assert "could not write the picture" in result.stdout
    assert Store(url).runs()[0].status == "finished"
    cache = disk("64k")
    cache.fill()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.path))
    one_line(invoke("data", "import", real_mnist_path), "cannot write the cache", "No space left")
    assert not list(cache.path.rglob("*.tmp.npz"))  # no half file left in the cache


def test_nonsense_database_urls_are_one_line(tmp_path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=40, deadline=None)
    @given(url=st.one_of(st.text(min_size=1, max_size=30),
                         st.sampled_from(["postgresql+psycopg://u:p@127.0.0.1:1/x", "mysql://nobody@127.0.0.1:1/x",
                                          "sqlite:////proc/no/such/board.db", "nosuchdialect://x",
                                          f"sqlite:///{tmp_path / 'a-file' / 'b.db'}"])))
    def check(url):
        (tmp_path / "a-file").write_text("a file, not a folder")
        result = runner.invoke(app, ["runs", "--db", url])
        if result.exit_code == 0:  # some text is a fine SQLite file name: it makes a board there
            return
        assert result.exit_code == 1, (url, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (url, result.stderr)

    os.chdir(tmp_path)
    check()


def _postgres_restart(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        data = conn.execute(text("SHOW data_directory")).scalar()
    engine.dispose()
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    # No pipes: the restarted server inherits pg_ctl's stdout and would hold a pipe open for good.
    subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", f"{bins[-1]} -D {data} -w -m fast restart"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                   timeout=120)


def test_a_postgres_restart_in_the_middle_of_a_run_loses_nothing(any_db_url):
    if not any_db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    store = Store(any_db_url)
    with store.recording(benchmark="accuracy", model="fast") as run:
        store.add_epoch(run.run_id, epoch=1, loss=0.5, val_accuracy=0.9)
        _postgres_restart(any_db_url)  # every pooled connection is now dead
        store.add_epoch(run.run_id, epoch=2, loss=0.4, val_accuracy=0.95)  # reconnects
        run.set(test_accuracy=0.96)
    recorded = Store(any_db_url).get_run(run.run_id, with_epochs=True)
    assert recorded.status == "finished" and recorded.test_accuracy == 0.96 and len(recorded.epochs) == 2


def test_an_integrity_verdict_of_many_rows_is_one_line():
    from mnistbench.integrity import _one_line

    # SQLite puts the header and the first finding in one row; every other line is a finding of its own.
    rows = [("*** in database main ***\nTree 4 page 9 cell 0: invalid page number 1234",),
            ("Page 12: never used",), ("Page 13: never used",), ("Page 14:  never used",)]
    assert _one_line(rows) == ("Tree 4 page 9 cell 0: invalid page number 1234; Page 12: never used; "
                               "Page 13: never used (and 1 more)")
    assert _one_line([("ok",)]) == "ok"


def test_the_one_atomic_writer_leaves_the_old_file_when_the_writer_fails(tmp_path):
    from mnistbench.atomic import replacing

    target = tmp_path / "board.html"
    target.write_text("old")
    with pytest.raises(RuntimeError), replacing(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("the writer died")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with replacing(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]
