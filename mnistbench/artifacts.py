"""Saved models: writing them safely, hashing, loading and evaluating them.

A run's model is written to a temporary file beside its final name, flushed to disk and renamed, so
a crash never leaves a half-written `.keras` file that verify or ensemble would read.
"""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from pathlib import Path

import numpy as np

from .atomic import replacing
from .errors import MnistbenchError

MAX_MODEL_FILE_BYTES = 512 * 2**20  # far above any model of ours; a bigger file is not one


def check_model_file(path: Path) -> Path:
    """`path` if it is a regular file of a model's size; one line otherwise (a directory, a device that
    never ends such as /dev/zero, a FIFO that would hang)."""
    import stat  # noqa: PLC0415

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise MnistbenchError(f"model file {path} is missing") from None
    except OSError as exc:
        raise MnistbenchError(f"model file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise MnistbenchError(f"model file {path} is not a regular file; refused")
    if info.st_size > MAX_MODEL_FILE_BYTES:
        raise MnistbenchError(f"model file {path} is {info.st_size / 2**20:,.0f} MiB, more than any model "
                              f"of ours ({MAX_MODEL_FILE_BYTES // 2**20} MiB); refused")
    return path


def sha256_file(path: Path) -> str:
    check_model_file(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_only(model):
    """A copy of `model` with its weights and no optimizer. A compiled model saves its optimizer's moments
    (twice its weights for Adam), and a model wrapped in another (test-time shifts) keeps them even when the
    wrapper is not compiled; no reader of a saved run trains it further."""
    from .backend import keras  # noqa: PLC0415

    # Built from the config without any compile settings (clone_model would compile the copy again, and a
    # nested model's config carries its own).
    config = _without_compile(model.get_config())
    copy = (keras.Sequential if isinstance(model, keras.Sequential) else keras.Model).from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _without_compile(config):
    if isinstance(config, dict):
        return {k: _without_compile(v) for k, v in config.items() if k != "compile_config"}
    if isinstance(config, list):
        return [_without_compile(v) for v in config]
    return config


def has_optimizer_state(keras_file) -> bool:
    """Whether a `.keras` file (a path or an open binary file) holds an optimizer's variables: files saved
    before `weights_only`."""
    import h5py  # noqa: PLC0415  (Keras's own weights format)

    with zipfile.ZipFile(keras_file) as archive, archive.open("model.weights.h5") as weights, h5py.File(weights) as h5:
        return h5.visit(lambda name: True if name.rsplit("/", 1)[-1] == "optimizer" else None) is not None


def save_model(model, path: Path) -> str:
    """Write `model`'s weights-only copy to `path` atomically; returns the file's SHA-256. Raises OSError on
    a full or read-only disk, leaving no partial file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, suffix=".tmp.keras") as temporary:  # Keras insists on the .keras suffix
        weights_only(model).save(temporary)
    return sha256_file(path)


def load_saved(path: str | Path):
    from . import models  # noqa: PLC0415, F401  (registers the zoo's own layers: SampleNorm, Shift)
    from .backend import keras  # noqa: PLC0415

    check_model_file(Path(path))
    return keras.models.load_model(path, compile=False)


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> float:
    """Accuracy of `model` on (x, y); used once per run on the test set."""
    probs = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == y))


def evaluate_saved(store, run_id: int, mnist) -> tuple[float, float]:
    """A recorded run's saved model on the test set: (accuracy, seconds). Writes nothing."""
    from .data import to_float  # noqa: PLC0415

    run = store.get_run(run_id)
    path = store.model_file(run)
    if path is None or not path.exists():
        raise MnistbenchError(f"run {run_id} has no saved model to evaluate")
    start = time.perf_counter()
    accuracy = evaluate(load_saved(path), to_float(mnist.x_test), mnist.y_test.astype(np.int64))
    return accuracy, time.perf_counter() - start
