"""The bad-input table of docs/robustness.md, row by row: one clear line on stderr, a non-zero exit, no traceback,
and the run already on the board still there afterwards."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistbench.cli import app
from mnistbench.store import Store

runner = CliRunner()


def files(tmp_path):
    (tmp_path / "truncated.npz").write_bytes(b"PK\x03\x04\x14\x00\x00\x00")
    np.savez(tmp_path / "flat.npz", x_train=np.zeros((10, 784), np.uint8), y_train=np.zeros(10, np.uint8),
             x_test=np.zeros((5, 784), np.uint8), y_test=np.zeros(5, np.uint8))
    (tmp_path / "a-file").write_text("not a folder")


CASES = {
    "unknown model": (["train", "accuracy", "--model", "resnet"], "unknown model 'resnet'"),
    "--k 0": (["labels", "--k", "0"], "--k must be between 1 and 60,000"),
    "--k 70000": (["labels", "--k", "70000"], "--k must be between 1 and 60,000"),
    "--k 15 with cosine": (["labels", "--k", "15"], "k must be a multiple of 10"),
    "negative epochs": (["train", "accuracy", "--epochs", "-1", "--data", "REAL"], "--epochs must be at least 1"),
    "corrupt or truncated npz": (["train", "accuracy", "--data", "TMP/truncated.npz"], "truncated.npz: cannot read"),
    "data of the wrong shape": (["train", "accuracy", "--data", "TMP/flat.npz"], "expected (N, 28, 28)"),
    "--k 60000 with cosine": (["labels", "--k", "60000"], "k can be at most 54,210"),
    "a value that is not a choice": (["train", "accuracy", "--optimizer", "magic"], "see `mnistbench train --help`"),
    "an unknown option": (["board", "--colour"], "No such option: --colour"),
    "an unknown --set field of labels": (["labels", "--set", "nonsense=1"], "not a field of the labels config"),
    "a --set value of the wrong type": (["train", "accuracy", "--set", "rotation=x"], "not a valid float"),
    "a value out of its domain": (["train", "accuracy", "--label-smoothing", "1.5", "--data", "REAL"],
                                  "--label-smoothing must be in [0, 1)"),
    "an average of the weights the run is too short to fill": (
        ["train", "accuracy", "--model", "fast", "--train-size", "6000", "--epochs", "3", "--set", "ema=0.99",
         "--data", "REAL"], "set ema to 0.938 or less, or train longer"),
    "an unknown teacher": (["train", "params", "--set", "teacher=resnet", "--data", "REAL"], "unknown model 'resnet'"),
    "a teacher weight out of its domain": (["train", "params", "--set", "teacher_weight=2", "--data", "REAL"],
                                           "teacher_weight must be in [0, 1]"),
    "an unknown embedding": (["labels", "--method", "selftrain", "--set", "embedding=pca", "--data", "REAL"],
                             "embedding: unknown value 'pca'"),
    "fewer clusters than classes": (["labels", "--method", "selftrain", "--set", "clusters=5", "--data", "REAL"],
                                    "clusters must be at least 10"),
    "cross-fitting with one CNN a round": (["labels", "--method", "selftrain", "--set", "selftrain_crossfit=true",
                                            "--set", "selftrain_ensemble=1", "--data", "REAL"],
                                           "needs selftrain_ensemble of 2 or more"),
    "an impossible find-smallest target": (["train", "params", "--find-smallest", "--target", "150", "--data", "REAL"],
                                           "--target is a percentage between 0 and 100, got 150.0"),
    "a run id that does not exist": (["show", "4242"], "no run with id 4242"),
    "verify a run id that does not exist": (["verify", "4242"], "no run with id 4242"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_one_line(case, board, tmp_path, real_mnist_path):
    files(tmp_path)
    args, message = CASES[case]
    args = [a.replace("TMP", str(tmp_path)).replace("REAL", str(real_mnist_path)) for a in args]
    result = runner.invoke(app, [*args, "--db", board])
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert [r.test_accuracy for r in Store(board).runs()] == [0.99]


def test_unreachable_database_url(tmp_path):
    files(tmp_path)
    for url in (f"sqlite:///{tmp_path}/a-file/board.db", "postgresql+psycopg://u:p@127.0.0.1:1/board", "nonsense"):
        result = runner.invoke(app, ["board", "--db", url])
        assert result.exit_code == 1 and result.stderr.startswith("error: ")
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_read_only_database_file(board, tmp_path, real_mnist_path):
    """Opened read-only (SQLite's mode=ro: file permissions don't stop root): reading works, writing is
    one line, and the recorded run is still there."""
    ro = board.replace("sqlite:///", "sqlite:///file:") + "?mode=ro&uri=true"
    assert runner.invoke(app, ["board", "--db", ro]).exit_code == 0
    result = runner.invoke(app, ["labels", "--k", "10", "--db", ro, "--data", str(real_mnist_path)])
    assert result.exit_code == 1 and "read-only" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert [r.test_accuracy for r in Store(board).runs()] == [0.99]
