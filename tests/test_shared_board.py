"""Boards a class shares: both backends, many writers at once, a killed trainer, verification, export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from benchmarks.concurrency import record_concurrently
from mnistbench.cli import app
from mnistbench.store import Store


def test_store_basics_on_every_backend(any_db_url):
    store = Store(any_db_url)
    run_id = store.start_run(benchmark="params", model="tiny", config={"width": 8})
    store.add_epoch(run_id, epoch=1, loss=0.5, val_accuracy=0.98)
    store.finish_run(run_id, "finished", test_accuracy=0.991, params_total=1610)
    run = Store(any_db_url).get_run(run_id, with_epochs=True)
    assert run.status == "finished" and run.config == {"width": 8} and run.epochs[0].val_accuracy == 0.98
    result = CliRunner().invoke(app, ["board", "params", "--db", any_db_url, "-f", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["params"]["rows"][0]["params"] == 1610


def test_four_writers_at_once_with_a_reader(any_db_url):
    Store(any_db_url)  # create the schema before the writers race
    seconds, errors, reads = record_concurrently(any_db_url, processes=4, runs=50, readers=1)
    assert errors == [] and reads["read_errors"] == [] and reads["reads"] >= 1
    runs = Store(any_db_url).runs()
    assert len(runs) == 200 and all(r.status == "finished" for r in runs)
    assert sorted(len(Store(any_db_url).get_run(r.id, with_epochs=True).epochs) for r in runs) == [3] * 200
    assert Store(any_db_url).integrity_check() == "ok"


@pytest.mark.slow  # test_faults' SIGKILL test covers the default suite; this one repeats it on every backend
def test_sigkilled_training_is_marked_interrupted(any_db_url, real_mnist_path, tmp_path):
    """A real `mnistbench train` killed mid-run: the next command that opens the board reaps it."""
    env = {**os.environ, "MNISTBENCH_ARTIFACTS": str(tmp_path / "models")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistbench", "train", "accuracy", "--model", "baseline", "--train-size", "2000",
         "--epochs", "200", "--callbacks", "none", "--db", any_db_url, "--data", str(real_mnist_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            runs = Store(any_db_url, reap=False).runs()
            if runs and (runs[0].epochs_run or 0) >= 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the training never recorded two epochs")
        assert runs[0].status == "running"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    store = Store(any_db_url)
    run = store.get_run(runs[0].id, with_epochs=True)
    assert run.status == "interrupted" and "killed" in run.error and len(run.epochs) >= 2
    assert store.integrity_check() == "ok"


def test_verify_catches_tampering(tmp_path, real_mnist_path, db_url, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("MNISTBENCH_ARTIFACTS", str(tmp_path / "models"))  # every command sees it, as a shell would
    args = ["--db", db_url, "--data", str(real_mnist_path)]
    result = runner.invoke(app, ["train", "accuracy", "--train-size", "1000", "--epochs", "1", "--val-size", "500",
                                 *args])
    assert result.exit_code == 0, result.stderr
    ok = runner.invoke(app, ["verify", "1", *args])
    assert ok.exit_code == 0 and "verified" in ok.stdout, ok.stderr
    assert Store(db_url).get_run(1).verification == "verified"

    store = Store(db_url)
    store.update_run(1, test_accuracy=0.999)  # an edited accuracy
    bad = runner.invoke(app, ["verify", "1", *args])
    assert bad.exit_code == 1 and "test accuracy: recorded 0.999" in bad.stderr
    assert Store(db_url).get_run(1).verification == "mismatch"

    path = store.artifacts_dir() / "run-1.keras"  # $MNISTBENCH_ARTIFACTS/<board>-<digest of its path>/
    assert path.parent.parent == tmp_path / "models" and path.is_file()
    path.write_bytes(path.read_bytes()[:-100] + b"\x00" * 100)  # a tampered model file
    bad = runner.invoke(app, ["verify", "1", *args])
    assert bad.exit_code == 1 and "SHA-256" in bad.stderr
    board = json.loads(runner.invoke(app, ["board", "accuracy", "--db", db_url, "-f", "json"]).stdout)
    assert board["accuracy"]["rows"][0]["verified"] == "mismatch"


def test_ensemble_of_saved_runs(tmp_path, real_mnist_path, db_url, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("MNISTBENCH_ARTIFACTS", str(tmp_path / "models"))
    args = ["--db", db_url, "--data", str(real_mnist_path)]
    for seed in (1, 2):
        result = runner.invoke(app, ["train", "accuracy", "--train-size", "1000", "--epochs", "1",
                                     "--val-size", "500", "--seed", str(seed), *args])
        assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["ensemble", "1", "2", *args])
    assert result.exit_code == 0, result.stderr
    run = Store(db_url).get_run(3)
    members = [Store(db_url).get_run(i) for i in (1, 2)]
    assert run.members == [1, 2] and run.params_total == sum(m.params_total for m in members)
    assert run.benchmark == "accuracy" and run.status == "finished" and 0 < run.test_accuracy <= 1
    assert one_line(runner.invoke(app, ["ensemble", "1", "1", *args]))


def one_line(result) -> bool:
    return result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1


def test_export(db_url, tmp_path):
    store = Store(db_url)
    run_id = store.start_run(benchmark="accuracy", model="baseline", params_total=62_834)
    store.finish_run(run_id, "finished", test_accuracy=0.99)
    runner = CliRunner()
    csv_text = runner.invoke(app, ["export", "--db", db_url]).stdout
    assert csv_text.startswith("run,benchmark,model,status") and "baseline" in csv_text
    result = runner.invoke(app, ["export", "accuracy", "-f", "markdown", "-o", str(tmp_path / "b.md"), "--db", db_url])
    assert result.exit_code == 0 and "| 1 | 1 | baseline |" in (tmp_path / "b.md").read_text()
    assert one_line(runner.invoke(app, ["export", "-o", str(tmp_path / "no" / "such" / "dir.md"), "--db", db_url]))
