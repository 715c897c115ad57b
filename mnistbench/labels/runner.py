"""One minimum-labels run: select k images, learn from their labels, test once, record it.

Validation labels are labels too, so no method here validates on the accuracy benchmark's split;
the test set is evaluated once, at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..environment import run_environment
from . import selection as sel
from .embedding import embedding
from .methods import FITTERS
from .oracle import LabelOracle
from .settings import LabelsConfig


def _numpy_only(config: LabelsConfig) -> bool:
    return config.method == "prototype" and config.features == "pixels"


@dataclass
class LabelsResult:
    run_id: int
    test_accuracy: float
    selection: sel.Selection
    train_seconds: float
    grid_path: Path | None = None


def run_labels(config: LabelsConfig, mnist, store, *, show_dir: Path | None = None, say=None) -> LabelsResult:
    """Select, learn, evaluate once on the test set, and record the run on the labels board.

    `say(message)` is told each stage as it starts (the CLI prints it); the library itself prints nothing.
    """
    say = say or (lambda message: None)
    config.validate(len(mnist.y_train))
    x = mnist.x_train
    columns = dict(benchmark="labels", model=config.method, config=config.to_dict(), seed=config.seed,
                   labels_used=config.k, epochs_run=0, **run_environment(tensorflow=not _numpy_only(config)))
    with store.recording(**columns) as run:
        start = time.perf_counter()
        features, embed_seconds = None, 0.0
        if config.method in ("cluster", "selftrain") or config.features == "embedding":
            kind = config.embedding_kind()
            say(f"label-free embedding: {'autoencoder' if kind == 'autoencoder' else 'deskewed images'}, then UMAP "
                "(minutes on a CPU the first time; cached)")
            features, embed_seconds = embedding(x, seed=config.seed, epochs=config.embedding_epochs,
                                                dims=config.embedding_dims, say=say, kind=kind)
        embed_wall = time.perf_counter() - start

        t0 = time.perf_counter()
        clustering = None  # the embedding's mixture, fitted once for the selection and the cluster naming
        if config.select == "cosine":
            chosen = sel.select_cosine(x, mnist.y_train, config.k, config.seed)
        elif config.select == "kmeans":
            if config.features == "embedding":
                if config.k <= sel.MIXTURE_MAX_K:
                    clustering = sel.mixture_clusters(features, config.k, config.seed)
                chosen = sel.select_kmeans(features, config.k, config.seed, metric="euclidean", images=x,
                                           clustering=clustering)
            else:
                chosen = sel.select_kmeans(x, config.k, config.seed)
        else:
            chosen = sel.select_random(mnist.y_train if config.stratified else len(x), config.k, config.seed,
                                       stratified=config.stratified)
        chosen.seconds = time.perf_counter() - t0
        oracle = LabelOracle(mnist.y_train, chosen.indices)
        say(f"selected {len(oracle)} images in {chosen.seconds:.2f} s; training: {config.method}")

        fitted = FITTERS[config.method](x, oracle, config, features=features, clustering=clustering, say=say)
        # A cached embedding still counts with the seconds it took to compute.
        train_seconds = time.perf_counter() - start - embed_wall + embed_seconds
        t0 = time.perf_counter()
        test_accuracy = float(np.mean(fitted.predict(mnist.x_test) == mnist.y_test))
        saved = _save_classifier(store, run, fitted)
        run.set(
            test_accuracy=test_accuracy, params_total=fitted.params_total, labels_used=len(oracle),
            selection_labels_read=chosen.labels_read, flags=chosen.flag, train_seconds=train_seconds,
            eval_seconds=time.perf_counter() - t0, **saved,
            details={"chosen": chosen.indices.tolist(), "classes_covered": len(np.unique(oracle.labels())),
                     "selection_seconds": chosen.seconds, "embedding_seconds": embed_seconds, **fitted.info},
        )
        grid = None
        if show_dir is not None:
            from ..figures import digit_grid  # noqa: PLC0415

            try:
                grid = digit_grid(x[chosen.indices], oracle.labels(), Path(show_dir) / f"run-{run.run_id}-labels.png")
            except OSError as exc:  # the run counts without its picture
                say(f"could not write the picture of the chosen images: {exc.strerror or exc}")
    return LabelsResult(run.run_id, test_accuracy, chosen, train_seconds, grid)


def _save_classifier(store, run, fitted) -> dict:
    """The final classifier under the board's models folder, with its SHA-256 (the columns to set), so that
    the run can be verified and exported like any other; a disk that refuses leaves the run flagged."""
    if fitted.net is None:  # the prototype method is numpy alone: nothing to save
        return {}
    from ..artifacts import save_model  # noqa: PLC0415

    folder = store.artifacts_dir()
    target = folder / f"run-{run.run_id}.keras"
    try:
        return {"model_path": str(target.relative_to(folder)), "model_sha256": save_model(fitted.net, target)}
    except OSError as exc:
        fitted.info["model_not_saved"] = f"{target}: {exc.strerror or exc}"
        return {}
