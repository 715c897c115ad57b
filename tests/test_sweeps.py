"""Sweeps with tiny trials on synthetic data: spaces, pruning, resume, two workers on one study."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest
from typer.testing import CliRunner

from mnistbench import sweeps
from mnistbench.cli import app
from mnistbench.config import Recipe, TrainConfig
from mnistbench.errors import ConfigError
from mnistbench.store import Store

SPACE = {"dense": {"type": "int", "low": 8, "high": 16, "step": 8},
         "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}


def base(epochs=2):
    return TrainConfig(benchmark="accuracy", model="baseline", val_size=50,
                       recipe=Recipe(epochs=epochs, batch_size=64, callbacks=()))


def test_space_files(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps(SPACE))
    assert sweeps.load_space(tmp_path / "s.json") == SPACE
    (tmp_path / "s.yaml").write_text("dense: {type: int, low: 8, high: 16}\nact: {type: categorical, choices: [relu, elu]}\n")
    assert sweeps.load_space(tmp_path / "s.yaml")["act"]["choices"] == ["relu", "elu"]
    (tmp_path / "bad.json").write_text('{"dense": {"type": "int", "low": 9, "high": 1}}')
    with pytest.raises(ConfigError, match="low <= high"):
        sweeps.load_space(tmp_path / "bad.json")
    (tmp_path / "broken.yaml").write_text("dense: [")
    with pytest.raises(ConfigError, match="not valid yaml"):
        sweeps.load_space(tmp_path / "broken.yaml")


def test_grid_and_split():
    grid = sweeps.grid_of(SPACE)
    assert grid["dense"] == [8, 16] and len(grid["lr"]) == 3 and grid["lr"][0] == pytest.approx(1e-3)
    assert sweeps.split_params({"lr": 0.1, "dense": 8}) == ({"lr": 0.1}, {"dense": 8})


def test_sweep_records_trials_and_tests_only_the_winner(tiny_mnist, db_url):
    store = Store(db_url)
    result = sweeps.run_sweep(base(), tiny_mnist, store, name="s", trials=3, space=SPACE, method="random",
                              prune=False)
    runs = store.runs(sweep="s")
    trials = [r for r in runs if r.flags != "sweep winner"]
    assert len(trials) == 3 and all(r.test_accuracy is None for r in trials)
    [winner] = [r for r in runs if r.flags == "sweep winner"]
    assert winner.id == result.winner_run_id and winner.test_accuracy == result.winner_test_accuracy
    # The winner is a copy of its trial: every column but identity, lifecycle and the test accuracy.
    [source] = [r for r in trials if r.trial == winner.trial]
    for column in ("config", "params_total", "val_accuracy", "train_seconds", "time_to_99", "epoch_to_99",
                   "model_sha256", "epochs_run", "device", "batch_size", "seed"):
        assert getattr(winner, column) == getattr(source, column), column
    assert winner.status == "finished" and winner.error is None and winner.eval_seconds > 0
    assert result.best_val_accuracy == max(r.val_accuracy for r in trials)


def test_pruning_stops_poor_trials(tiny_mnist, db_url, monkeypatch):
    store = Store(db_url)
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: self.number >= 1)
    result = sweeps.run_sweep(base(epochs=4), tiny_mnist, store, name="p", trials=3, space=SPACE, method="random")
    assert result.pruned == 2 and result.trials_done == 1
    pruned = [r for r in store.runs(sweep="p") if r.status == "interrupted"]
    assert len(pruned) == 2 and all(r.epochs_run == 1 and "pruned" in r.error for r in pruned)


def test_resume_continues_to_the_total(tiny_mnist, db_url):
    store = Store(db_url)
    sweeps.run_sweep(base(epochs=1), tiny_mnist, store, name="r", trials=2, space=SPACE, prune=False)
    with pytest.raises(sweeps.SweepError, match="--resume r"):
        sweeps.run_sweep(base(epochs=1), tiny_mnist, store, name="r", trials=2, space=SPACE, prune=False)
    result = sweeps.run_sweep(base(epochs=1), tiny_mnist, store, name="r", trials=4, space=SPACE, prune=False,
                              resume=True)
    assert result.trials_done == 4 and len([r for r in store.runs(sweep="r") if r.flags != "sweep winner"]) == 4
    with pytest.raises(sweeps.SweepError, match="no sweep named"):
        sweeps.run_sweep(base(), tiny_mnist, store, name="nope", trials=1, space=SPACE, resume=True)


WORKER = """
import sys
from tests.conftest import make_tiny_mnist
from tests.test_sweeps import SPACE, base
from mnistbench import sweeps
from mnistbench.store import Store
sweeps.run_sweep(base(epochs=1), make_tiny_mnist(), Store(sys.argv[1]), name="shared", trials=4, space=SPACE,
                 prune=False, resume=sys.argv[2] == "resume")
"""


@pytest.mark.slow  # minutes of real training; `pytest -m slow` runs it
def test_two_workers_share_one_sqlite_study(db_url, tiny_mnist, request):
    store = Store(db_url)
    sweeps.run_sweep(base(epochs=1), tiny_mnist, store, name="shared", trials=1, space=SPACE, prune=False)
    root = str(request.config.rootpath)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, db_url, "resume"], cwd=root, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    errors = [p.communicate()[1] for p in procs if p.wait() != 0]
    assert errors == []
    study = optuna.load_study(study_name="shared", storage=db_url)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) >= 4
    assert len({t.user_attrs["run_id"] for t in complete}) == len(complete)


def test_sweep_show_cli(tiny_mnist, db_url, tmp_path):
    store = Store(db_url)
    sweeps.run_sweep(base(epochs=1), tiny_mnist, store, name="v", trials=3, space=SPACE, prune=False)
    result = CliRunner().invoke(app, ["sweep", "show", "v", "--db", db_url], env={"COLUMNS": "150"})
    assert result.exit_code == 0, result.stderr
    assert "best trials" in result.stdout and "parallel coordinates:" in result.stdout
    assert (tmp_path / "figures" / "board" / "sweep-v.png").exists()
    bad = CliRunner().invoke(app, ["sweep", "show", "missing", "--db", db_url])
    assert bad.exit_code == 1 and bad.stderr.strip() == "error: no sweep named 'missing'"


def test_trial_parameters_read_as_rounded_settings():
    assert sweeps.format_params({"lr": 0.0031234, "dense": 64, "activation": "relu"}) == \
        "lr=0.00312, dense=64, activation=relu"


def test_sweep_cli_reports_each_trial_rounded_and_ends_with_a_table(real_mnist_path, db_url, tmp_path):
    (tmp_path / "space.json").write_text(json.dumps(SPACE))
    common = ["--model", "baseline", "--epochs", "1", "--train-size", "300", "--val-size", "100",
              "--space", str(tmp_path / "space.json"), "--no-prune", "--db", db_url, "--data", str(real_mnist_path)]
    result = CliRunner().invoke(app, ["sweep", "run", "accuracy", "--trials", "2", "--name", "cli", *common],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert len(trial_lines) == 2 and all(": finished, val " in line for line in trial_lines)
    for line in trial_lines:  # 3 significant digits, no dict braces or long floats
        lr = line.split("lr=")[1].split()[0].rstrip(",")
        assert len(lr.replace("0.", "").lstrip("0")) <= 3 and "{" not in line
    assert "this command's trials" in result.stdout and "val %" in result.stdout
    resumed = CliRunner().invoke(app, ["sweep", "run", "accuracy", "--trials", "3", "--resume", "cli", *common],
                                 env={"COLUMNS": "160"})
    assert resumed.exit_code == 0, resumed.stderr
    assert len([line for line in resumed.stdout.splitlines() if line.startswith("trial ")]) == 1


def test_the_old_spelling_of_a_sweep_names_the_new_one(db_url):
    from .conftest import one_line

    for benchmark in ("accuracy", "params"):
        result = CliRunner().invoke(app, ["sweep", benchmark, "--trials", "2", "--db", db_url])
        one_line(result, f"mnistbench sweep run {benchmark}")
    assert not Store(db_url).runs()
