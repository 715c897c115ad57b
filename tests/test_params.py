"""The minimum-parameters search on tiny data: descending widths, validation only, test once."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from mnistbench import params, training
from mnistbench.cli import app
from mnistbench.config import Recipe, TrainConfig
from mnistbench.store import Store


def fake_walk(monkeypatch, outcome, test_accuracy=lambda run_id: 0.991):
    """Stand-ins for a candidate's training and the winner's test: `outcome(width, seed)` gives the run's
    (status, validation accuracy). Returns the (width, seed) pairs trained and the run ids tested, in order."""
    trained, tested = [], []

    def fake_train(config, mnist, store, *, observer=None, evaluate_test=True, extra=None, **_):
        assert evaluate_test is False  # a candidate never sees the test set
        key = (config.model_options["width"], config.seed)
        trained.append(key)
        status, val = outcome(*key)
        run_id = store.start_run(benchmark="params", model="tiny", seed=config.seed, **(extra or {}))
        store.finish_run(run_id, status, val_accuracy=val)
        return training.TrainResult(run_id, status, None, val, 1, 1.0, 0.0, 0, 0, None)

    def fake_evaluate(store, run_id, mnist):
        tested.append(run_id)
        return test_accuracy(run_id), 0.1

    monkeypatch.setattr(params, "train", fake_train)
    monkeypatch.setattr(params, "evaluate_saved", fake_evaluate)
    return trained, tested


def test_find_smallest_stops_at_first_miss_and_tests_the_winner_once(tiny_mnist, db_url, tmp_path, monkeypatch):
    store = Store(db_url)
    val = {8: 0.995, 7: 0.993, 6: 0.98}  # width -> validation accuracy the fake training reaches
    _, tested = fake_walk(monkeypatch, lambda width, seed: ("finished", val[width]))
    config = TrainConfig(benchmark="params", model="tiny", recipe=Recipe(epochs=1))
    outcome = params.find_smallest(config, tiny_mnist, store, target=0.99)
    assert [a.width for a in outcome.attempts] == [8, 7, 6]
    assert outcome.best.width == 7 and tested == [outcome.best.run_id]
    assert [r.test_accuracy for r in store.runs()] == [None, 0.991, None]
    assert len({r.sweep for r in store.runs()}) == 1


def test_real_search_records_candidates_without_test(tiny_mnist, db_url, tmp_path):
    store = Store(db_url)
    config = TrainConfig(benchmark="params", model="tiny", recipe=Recipe(epochs=1, batch_size=64, callbacks=()),
                         val_size=50)
    outcome = params.find_smallest(config, tiny_mnist, store, target=0.0, widths=(6, 4))
    runs = store.runs()
    assert [r.config["model_options"]["width"] for r in runs] == [6, 4]
    assert outcome.best.width == 4 and runs[1].test_accuracy is not None and runs[0].test_accuracy is None
    assert runs[1].params_total == 814


def test_train_params_cli_with_width(real_mnist_path, db_url, tmp_path):
    result = CliRunner().invoke(app, ["train", "params", "--model", "tiny", "--width", "4", "--epochs", "1",
                                      "--train-size", "2000", "--val-size", "500", "--db", db_url,
                                      "--data", str(real_mnist_path)],
                                env={"MNISTBENCH_ARTIFACTS": str(tmp_path / "m")})
    assert result.exit_code == 0, result.stderr
    [run] = Store(db_url).runs()
    assert run.benchmark == "params" and run.params_total == 814 and run.test_accuracy is not None
    board = json.loads(CliRunner().invoke(app, ["board", "params", "--db", db_url, "-f", "json",
                                                "--target", "1"]).stdout)
    assert board["params"]["rows"][0]["params"] == 814


def test_find_smallest_with_seeds_walks_on_the_mean_and_tests_each_seed_once(tiny_mnist, db_url, monkeypatch):
    store = Store(db_url)
    # width -> validation accuracy by seed: width 7's mean (99.1 %) reaches 99 % though seed 1 alone misses
    val = {(8, 0): 0.995, (8, 1): 0.993, (7, 0): 0.993, (7, 1): 0.989, (6, 0): 0.995, (6, 1): 0.975}
    _, tested = fake_walk(monkeypatch, lambda width, seed: ("finished", val[width, seed]),
                          test_accuracy=lambda run_id: 0.99 + run_id / 1000)
    config = TrainConfig(benchmark="params", model="tiny", recipe=Recipe(epochs=1))
    outcome = params.find_smallest(config, tiny_mnist, store, target=0.99, seeds=[0, 1], widths=(8, 7, 6))
    assert [a.width for a in outcome.attempts] == [8, 7, 6]  # 6 misses on its mean (98.5 %): the walk stops
    assert outcome.best.width == 7 and tested == outcome.best.run_ids == [3, 4]
    assert outcome.test_accuracy == (0.993 + 0.994) / 2
    assert [a.width for a in params.pareto_curve(outcome.attempts)] == [6, 7, 8]  # each bigger one is better
    assert [r.test_accuracy is not None for r in store.runs()] == [False, False, True, True, False, False]


def test_find_smallest_cli_prints_the_curve(real_mnist_path, db_url, tmp_path):
    result = CliRunner().invoke(app, ["train", "params", "--model", "tiny", "--width", "5", "--find-smallest",
                                      "--target", "1", "--seeds", "0,1", "--epochs", "1", "--train-size", "300",
                                      "--val-size", "200", "--db", db_url, "--data", str(real_mnist_path)],
                                env={"MNISTBENCH_ARTIFACTS": str(tmp_path / "m"), "COLUMNS": "150"})
    assert result.exit_code == 0, result.stderr
    assert "mean validation accuracy by width" in result.stdout and "1,090" in result.stdout and "814" in result.stdout
    assert "measured once per seed" in result.stdout
    runs = Store(db_url).runs()
    assert [(r.seed, r.config["model_options"]["width"]) for r in runs] == [(0, 5), (1, 5), (0, 4), (1, 4)]
    assert [r.test_accuracy is not None for r in runs] == [False, False, True, True]

    again = CliRunner().invoke(app, ["train", "params", "--model", "tiny", "--width", "5", "--find-smallest",
                                     "--target", "1", "--seeds", "0,1", "--epochs", "1", "--train-size", "300",
                                     "--val-size", "200", "--db", db_url, "--data", str(real_mnist_path)],
                               env={"MNISTBENCH_ARTIFACTS": str(tmp_path / "m"), "COLUMNS": "150"})
    assert again.exit_code == 0, again.stderr
    assert "taken from the board, not trained again" in again.stdout and "runs 1, 2, 3, 4" in again.stdout
    assert len(Store(db_url).runs()) == 4


@pytest.mark.slow  # minutes of real training; `pytest -m slow` runs it
def test_find_smallest_resumes_from_finished_runs_of_the_same_config(tiny_mnist, db_url):
    store = Store(db_url)
    config = TrainConfig(benchmark="params", model="tiny", recipe=Recipe(epochs=1, batch_size=64, callbacks=()),
                         val_size=50)
    first = params.find_smallest(config, tiny_mnist, store, target=0.0, widths=(6,))  # a walk cut short
    [earlier] = first.attempts[0].run_ids
    again = params.find_smallest(config, tiny_mnist, store, target=0.0, widths=(6, 4))
    assert again.attempts[0].run_ids == [earlier] and again.attempts[0].reused == [earlier]
    assert again.attempts[0].val_accuracies == [store.get_run(earlier).val_accuracy]
    assert again.attempts[1].reused == [] and len(store.runs()) == 2  # only width 4 was trained

    # Another recipe, another seed, --no-resume, or a lost model file: trained anew.
    other = params.find_smallest(replace(config, recipe=replace(config.recipe, lr=5e-4)), tiny_mnist, store,
                                 target=0.0, widths=(6,))
    assert other.attempts[0].reused == []
    assert params.find_smallest(config, tiny_mnist, store, target=0.0, widths=(6,), seeds=[3]).attempts[0].reused == []
    assert params.find_smallest(config, tiny_mnist, store, target=0.0, widths=(6,), resume=False).attempts[0].reused == []
    trained = len(store.runs())
    for run in store.runs(model="tiny"):
        if run.model_path:
            store.model_file(run).unlink()
    assert params.find_smallest(config, tiny_mnist, store, target=0.0, widths=(6,)).attempts[0].reused == []
    assert len(store.runs()) == trained + 1


def test_reusable_run_skips_interrupted_and_challenged_runs(tiny_mnist, db_url):
    store = Store(db_url)
    config = TrainConfig(benchmark="params", model="tiny", recipe=Recipe(epochs=1, batch_size=64, callbacks=()),
                         val_size=50, model_options={"width": 4}, save_model=True)
    run_id = training.train(config, tiny_mnist, store, evaluate_test=False).run_id
    assert params.reusable_run(store, config).id == run_id
    store.update_run(run_id, verification="mismatch")
    assert params.reusable_run(store, config) is None
    store.update_run(run_id, verification=None, status="interrupted")
    assert params.reusable_run(store, config) is None


def test_an_interrupted_walk_stops_there_and_tests_the_smallest_width_that_reached(tiny_mnist, db_url, monkeypatch):
    store = Store(db_url)
    # Ctrl-C during width 7's first seed
    stopped = {(7, 0)}
    trained, tested = fake_walk(monkeypatch, lambda width, seed: (
        "interrupted" if (width, seed) in stopped else "finished", 0.995))
    config = TrainConfig(benchmark="params", model="tiny", recipe=Recipe(epochs=1))
    outcome = params.find_smallest(config, tiny_mnist, store, target=0.99, seeds=[0, 1])
    assert trained == [(8, 0), (8, 1), (7, 0)]  # neither width 7's second seed nor width 6
    assert outcome.interrupted and outcome.attempts[-1].interrupted and outcome.attempts[-1].val_accuracy is None
    assert outcome.best.width == 8 and tested == outcome.best.run_ids


def test_find_smallest_cli_says_where_an_interrupted_walk_stopped(real_mnist_path, db_url, monkeypatch):
    stop_at = {"width": 7}

    fake_walk(monkeypatch, lambda width, seed: ("interrupted" if width == stop_at["width"] else "finished", 0.995))
    args = ["train", "params", "--model", "tiny", "--width", "8", "--find-smallest", "--db", db_url,
            "--data", str(real_mnist_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130
    assert "width 8" in result.stdout and "test accuracy 99.10" in result.stdout
    assert "stopped at width 7 (interrupted): the widths below it were not tried" in result.stderr
    stop_at["width"] = 8
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130
    assert result.stderr.strip() == "error: stopped at width 8 (interrupted) before any width reached 99.00 % on validation"
