"""The one run lifecycle: every way a run can end is recorded, and a live run is never reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from mnistbench import store as store_mod
from mnistbench.recording import Terminated
from mnistbench.store import Store


def test_a_long_silent_run_outlives_a_short_stale_limit(db_url, monkeypatch):
    """A labels embedding reports no epoch for minutes; its heartbeat thread keeps it alive."""
    monkeypatch.setattr(store_mod, "STALE_AFTER", timedelta(seconds=1))
    store = Store(db_url)
    with store.recording(benchmark="labels", model="cluster") as run:
        time.sleep(2.5)  # two and a half stale limits without an epoch
        other = Store(db_url)  # another command opening the board reaps what looks dead
        assert other.get_run(run.run_id).status == "running"
        run.set(test_accuracy=0.9)
    finished = store.get_run(run.run_id)
    assert finished.status == "finished" and finished.test_accuracy == 0.9 and finished.error is None


def test_a_silent_run_without_recording_is_reaped(db_url, monkeypatch):
    """The counterpart: the same wait with no heartbeat is taken for dead, so the test above can fail."""
    monkeypatch.setattr(store_mod, "STALE_AFTER", timedelta(seconds=1))
    store = Store(db_url)
    run_id = store.start_run(benchmark="labels", model="cluster", host="elsewhere")
    time.sleep(1.5)
    assert Store(db_url).get_run(run_id).status == "interrupted"


def test_a_reaped_then_finished_run_keeps_no_stale_error(db_url):
    store = Store(db_url)
    with store.recording(benchmark="labels", model="cluster") as run:
        # What a reaper on another machine writes when the heartbeat is late.
        store.update_run(run.run_id, status="interrupted", error="process ended without recording a result")
        run.set(test_accuracy=0.95)
    finished = store.get_run(run.run_id)
    assert finished.status == "finished" and finished.error is None and finished.finished_at is not None


@pytest.mark.parametrize(("raised", "status", "error"), [
    (RuntimeError("disk on fire"), "failed", "RuntimeError: disk on fire"),
    (KeyboardInterrupt(), "interrupted", "interrupted (Ctrl-C)"),
    (Terminated(), "interrupted", "terminated (SIGTERM)"),
])
def test_every_exit_path_is_recorded(db_url, raised, status, error):
    store = Store(db_url)
    with pytest.raises(type(raised)):
        with store.recording(benchmark="accuracy", model="fast") as run:
            run.set(epochs_run=3)
            raise raised
    recorded = store.get_run(run.run_id)
    assert recorded.status == status and recorded.error == error and recorded.epochs_run == 3


def test_sigterm_inside_a_recording_ends_it_as_interrupted(db_url):
    store = Store(db_url)
    with pytest.raises(Terminated):
        with store.recording(benchmark="accuracy", model="fast") as run:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises long before this ends
    assert store.get_run(run.run_id).status == "interrupted"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is put back


def test_sigterm_to_a_real_train_records_interrupted_with_its_epochs(db_url, real_mnist_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "mnistbench", "train", "accuracy", "--model", "fast", "--train-size", "3000",
         "--epochs", "200", "--steps-per-execution", "1", "--no-save-model", "--db", db_url,
         "--data", str(real_mnist_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    epochs = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        runs = Store(db_url).runs()
        epochs = runs[0].epochs_run if runs else 0
        if epochs and epochs >= 2:
            break
    assert epochs >= 2, process.communicate()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    [run] = Store(db_url).runs()
    assert run.status == "interrupted" and run.error == "terminated (SIGTERM)"
    assert run.epochs_run >= 2 and run.test_accuracy is not None  # the best epoch, evaluated
    assert "interrupted" in out and "Traceback" not in err
