"""No label reaches a labels run but the k it chose: scramble every other training label and the run's
choices and predictions stay the same, for every method. Selections that read labels to choose
(cosine prototypes, stratified random) are the exception, and the board flags them."""

from __future__ import annotations

import numpy as np
import pytest

from mnistbench.data import Mnist
from mnistbench.labels import runner
from mnistbench.labels.settings import LabelsConfig
from mnistbench.store import Store

from .conftest import make_tiny_mnist

LABEL_FREE = [
    ("kmeans", "pixels", "prototype"), ("random", "pixels", "prototype"),
    ("kmeans", "pixels", "supervised"), ("kmeans", "embedding", "cluster"), ("kmeans", "embedding", "selftrain"),
]


def _run(config: LabelsConfig, mnist: Mnist, store: Store, monkeypatch) -> tuple[list[int], np.ndarray, str]:
    """(chosen indices, test predictions, flags) of one recorded run."""
    predictions = []
    for name, fit in list(runner.FITTERS.items()):
        def spied(*args, _fit=fit, **kwargs):
            fitted = _fit(*args, **kwargs)
            predict = fitted.predict

            def recording_predict(images):
                out = np.asarray(predict(images))
                predictions.append(out.copy())
                return out

            fitted.predict = recording_predict
            return fitted
        monkeypatch.setitem(runner.FITTERS, name, spied)
    result = runner.run_labels(config, mnist, store)
    run = store.get_run(result.run_id)
    return run.details["chosen"], predictions[-1], run.flags


def _scrambled(mnist: Mnist, keep: list[int], seed: int = 1) -> Mnist:
    """Every training label but the kept ones replaced by a random other class."""
    rng = np.random.default_rng(seed)
    y = mnist.y_train.copy()
    others = np.setdiff1d(np.arange(len(y)), keep)
    y[others] = (y[others] + rng.integers(1, 10, size=len(others))) % 10
    assert np.all(y[others] != mnist.y_train[others]) and np.all(y[keep] == mnist.y_train[keep])
    return Mnist(mnist.x_train, y.astype(mnist.y_train.dtype), mnist.x_test, mnist.y_test, source="scrambled")


# Each with its defaults, and selftrain with cross-fitting too (its images split between its CNNs by a
# seeded shuffle, no label). The embedding methods train for minutes: the default suite keeps selftrain's
# default (the labels board's record method); cluster and cross-fitting run with `pytest -m slow`.
_SLOW = pytest.mark.slow
CASES = [pytest.param(*case, {}, marks=[_SLOW] if case[2] == "cluster" else []) for case in LABEL_FREE] + [
    pytest.param("kmeans", "embedding", "selftrain", {"selftrain_crossfit": True}, marks=[_SLOW])]


@pytest.mark.parametrize("select, features, method, options", CASES)
def test_scrambling_the_labels_a_run_did_not_choose_changes_nothing(select, features, method, options, db_url,
                                                                    monkeypatch):
    mnist = make_tiny_mnist()
    config = LabelsConfig(k=10, select=select, features=features, method=method, epochs=2, embedding_epochs=2,
                          self_training_rounds=1, min_steps=5, selftrain_rounds=2, **options)
    store = Store(db_url)
    chosen, predicted, flags = _run(config, mnist, store, monkeypatch)
    again, predicted_again, _ = _run(config, _scrambled(mnist, chosen), store, monkeypatch)
    assert flags == "label-free"
    assert again == chosen
    np.testing.assert_array_equal(predicted_again, predicted)


@pytest.mark.parametrize("select, stratified", [("cosine", False), ("random", True)])
def test_label_aware_selections_are_flagged_and_do_read_the_labels(select, stratified, db_url, monkeypatch):
    mnist = make_tiny_mnist()
    config = LabelsConfig(k=10, select=select, stratified=stratified, method="prototype")
    store = Store(db_url)
    chosen, _, flags = _run(config, mnist, store, monkeypatch)
    assert flags == "label-aware selection"
    again, _, _ = _run(config, _scrambled(mnist, chosen), store, monkeypatch)
    assert again != chosen  # they chose by the labels, so scrambled labels change the choice: hence the flag
