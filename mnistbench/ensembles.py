"""Ensembles for the accuracy board: the average of saved runs' softmax outputs, tested once."""

from __future__ import annotations

import time

import numpy as np

from .config import Status
from .data import to_float
from .errors import MnistbenchError
from .verify import ACCURACY_TOLERANCE


def ensemble(store, run_ids: list[int], mnist, *, expect: float | None = None) -> tuple[int, float, dict[int, float]]:
    """Record an accuracy-board run whose parameters are the members' sum. Returns (run id, accuracy,
    each member's own recorded test accuracy). Each member is named once and its model file must
    still have the SHA-256 its run recorded. With `expect` (an accuracy recorded elsewhere), an ensemble
    that disagrees by more than one image in 10,000 is refused and nothing is written."""
    from .artifacts import load_saved, sha256_file  # noqa: PLC0415
    from .environment import run_environment  # noqa: PLC0415

    repeated = sorted({i for i in run_ids if run_ids.count(i) > 1})
    if repeated:
        raise MnistbenchError(f"run {repeated[0]} is named twice; an ensemble's members are different runs")
    if len(run_ids) < 2:
        raise MnistbenchError("an ensemble needs at least two different runs")
    members = [store.get_run(i) for i in run_ids]
    for run in members:
        if run.status != Status.finished or not run.model_path or run.benchmark != "accuracy":
            raise MnistbenchError(f"run {run.id} is not a finished accuracy run with a saved model")
        path = store.model_file(run)
        if not path.exists():
            raise MnistbenchError(f"run {run.id}: its model file {path} is missing")
        if run.model_sha256 and sha256_file(path) != run.model_sha256:
            raise MnistbenchError(f"run {run.id}: {path} is not the model the run saved (SHA-256 differs)")
    x_test = to_float(mnist.x_test)
    columns = dict(
        benchmark="accuracy", model="ensemble(" + "+".join(sorted({r.model for r in members})) + ")",
        members=[r.id for r in members], params_total=sum(r.params_total or 0 for r in members),
        params_trainable=sum(r.params_trainable or 0 for r in members),
        labels_used=max(r.labels_used or 0 for r in members), epochs_run=0,
        train_seconds=sum(r.train_seconds or 0 for r in members),
        config={"members": [r.id for r in members], "combine": "mean softmax"}, **run_environment(),
    )
    # The machine is the members': the ensemble's seconds are theirs, and a board rebuilt on another machine
    # must say what the one that trained them said.
    trained_on = sorted({r.device for r in members if r.device})
    if trained_on:
        columns["device"] = " + ".join(trained_on)
    start = time.perf_counter()
    probs = np.zeros((len(x_test), 10), dtype=np.float64)
    for member in members:
        try:
            probs += load_saved(store.model_file(member)).predict(x_test, batch_size=1024, verbose=0)
        except (OSError, ValueError) as exc:
            raise MnistbenchError(f"run {member.id}: cannot load {store.model_file(member)} "
                                  f"({exc.__class__.__name__})") from None
    accuracy = float(np.mean(np.argmax(probs, axis=1) == mnist.y_test))
    seconds = time.perf_counter() - start
    if expect is not None and abs(accuracy - expect) > ACCURACY_TOLERANCE:
        raise MnistbenchError(f"the ensemble of runs {', '.join(map(str, run_ids))} records {100 * expect:.2f} % "
                              f"test accuracy, re-evaluated here {100 * accuracy:.2f} %; refused")
    with store.recording(**columns) as run:
        run.set(test_accuracy=accuracy, eval_seconds=seconds)
    return run.run_id, accuracy, {r.id: r.test_accuracy for r in members}
