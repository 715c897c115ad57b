"""Runs that travel between boards, and models trained by other code.

- `export_run`: a run's row, epochs and config, with its saved model, in one zip (manifest.json +
  model.keras), for a run trained on a notebook GPU and brought home.
- `import_run`: checks the zip's model against its SHA-256, recounts its parameters, evaluates it on the
  test set once, and records it flagged `imported` (the original device, host and run id kept in its
  config) only when all three agree with the manifest.
- `submit_model`: a Keras file from anywhere, counted and tested once, flagged `external`: its labels
  are declared by the submitter, not verified.
Models load in Keras's safe mode: a file carrying Python code (a Lambda layer) is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .atomic import write_bytes_atomically
from .config import TRAINING_IMAGES
from .errors import MnistbenchError
from .schema import EPOCH_COLUMNS, run_as_dict
from .verify import ACCURACY_TOLERANCE  # the one-image slack `verify` allows across machines

FORMAT = "mnistbench-run"
VERSION = 1
MANIFEST, MODEL = "manifest.json", "model.keras"
MAX_MODEL_BYTES = 512 * 2**20  # a zip member larger than this is not a model of ours
# Columns the importing board sets itself instead of taking them from the manifest.
_NOT_IMPORTED = {"id", "status", "host", "pid", "heartbeat_at", "created_at", "finished_at", "error",
                 "verification", "verification_note", "owner", "model_path", "model_sha256", "test_accuracy",
                 "params_total", "params_trainable", "flags", "eval_seconds", "config", "sweep", "trial", "members"}


class TransferError(MnistbenchError):
    """A run's zip or a submitted model that cannot be exported, read or accepted."""


@dataclass
class Accepted:
    run_id: int
    test_accuracy: float
    params_total: int
    source: str  # where it came from, in words


def export_run(store, run_id: int, output: str | Path) -> Path:
    run = store.get_run(run_id, with_epochs=True)
    if run.status != "finished":
        raise TransferError(f"run {run_id} ended {run.status}; only finished runs can be exported")
    if run.members:
        raise TransferError(f"run {run_id} is an ensemble; export its members {run.members} instead")
    path = store.model_file(run)
    if path is None:
        why = "a labels run keeps no model" if run.benchmark == "labels" else "it was trained with --no-save-model"
        raise TransferError(f"run {run_id} has no saved model to export ({why})")
    if not path.exists():
        raise TransferError(f"run {run_id}'s model file {path} is missing")
    from .artifacts import sha256_file  # noqa: PLC0415

    if sha256_file(path) != run.model_sha256:
        raise TransferError(f"run {run_id}'s model file {path} differs from its recorded SHA-256; "
                            f"`mnistbench verify {run_id}` says more")
    from . import __version__  # noqa: PLC0415

    manifest = {"format": FORMAT, "version": VERSION, "mnistbench": __version__,
                "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "run": run_as_dict(run),
                "epochs": [{k: getattr(e, k) for k in EPOCH_COLUMNS} for e in run.epochs]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2, default=str))
        archive.write(path, MODEL)
    return write_bytes_atomically(output, buffer.getvalue())


def read_run_zip(path: str | Path) -> tuple[dict, bytes]:
    """(manifest, model bytes) from an exported run; every way a file can be wrong is one TransferError."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise TransferError(f"no such file: {path}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise TransferError(f"{path} is not a run exported by `mnistbench export-run` ({exc})") from None
    with archive:
        names = set(archive.namelist())
        if not {MANIFEST, MODEL} <= names:
            raise TransferError(f"{path} is not a run exported by `mnistbench export-run` "
                                f"(it lacks {', '.join(sorted({MANIFEST, MODEL} - names))})")
        if archive.getinfo(MODEL).file_size > MAX_MODEL_BYTES:
            raise TransferError(f"{path}: its model is larger than {MAX_MODEL_BYTES // 2**20} MiB")
        try:
            manifest = json.loads(archive.read(MANIFEST))
            model = archive.read(MODEL)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError, EOFError) as exc:
            raise TransferError(f"{path} is damaged ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("run"), dict):
        raise TransferError(f"{path}: manifest.json is not an mnistbench run")
    if manifest.get("version") != VERSION:
        raise TransferError(f"{path} is format version {manifest.get('version')}; this mnistbench reads {VERSION}")
    return manifest, model


def load_safely(path: Path, shown: str):
    """A Keras model in safe mode; one line for every way it can fail."""
    if not zipfile.is_zipfile(path):  # Keras would say "file not found" of it
        raise TransferError(f"cannot load {shown} as a Keras model: it is not a .keras file (a zip archive)")
    from .backend import keras  # noqa: PLC0415

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "arbitrary code" in str(exc):
            raise TransferError(f"{shown} is refused: it carries Python code (e.g. a Lambda layer), which Keras's "
                                "safe mode does not load; rebuild it from standard layers") from None
        raise TransferError(f"cannot load {shown} as a Keras model ({str(exc).splitlines()[0][:200]})") from None
    except Exception as exc:  # a corrupt or foreign file fails in many ways inside Keras
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise TransferError(f"cannot load {shown} as a Keras model ({exc.__class__.__name__}: {first})") from None


def _test_images(model, mnist, shown: str) -> np.ndarray:
    """The test images shaped as the model takes them: (28, 28, 1), (28, 28) or flat 784, in [0, 1]."""
    from .data import to_float  # noqa: PLC0415

    x = to_float(mnist.x_test)
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if shape == (28, 28, 1):
        return x
    if shape == (28, 28):
        return x[..., 0]
    if shape == (784,):
        return x.reshape(len(x), 784)
    raise TransferError(f"{shown} takes inputs of shape {shape}; mnistbench feeds (28, 28, 1), (28, 28) or (784,) "
                        "images in [0, 1]")


def _evaluate(model, mnist, shown: str) -> tuple[float, float]:
    x = _test_images(model, mnist, shown)
    output = tuple(model.outputs[0].shape[1:]) if getattr(model, "outputs", None) else None
    if output != (10,):
        raise TransferError(f"{shown} outputs shape {output}; a classifier for MNIST outputs 10 scores")
    start = time.perf_counter()
    scores = model.predict(x, batch_size=1000, verbose=0)
    return float(np.mean(np.argmax(scores, axis=1) == mnist.y_test)), time.perf_counter() - start


def _keep_model(store, run_id: int, data: bytes) -> str | None:
    """The model under this board's models/ folder as run-N.keras: its path relative to that folder, or
    None when the disk refuses (the caller flags the run)."""
    folder = store.artifacts_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(folder / f"run-{run_id}.keras", data)
    except (OSError, MnistbenchError):
        return None
    return f"run-{run_id}.keras"


def import_run(store, path: str | Path, mnist, package: tuple[dict, bytes] | None = None) -> Accepted:
    """`package`: what read_run_zip(path) returned, when the caller has read it already."""
    from .models import parameter_counts  # noqa: PLC0415

    manifest, data = package or read_run_zip(path)
    row = manifest["run"]
    run_label = f"{path} (run {row.get('id')} of {row.get('host') or 'another machine'})"
    if hashlib.sha256(data).hexdigest() != row.get("model_sha256"):
        raise TransferError(f"{run_label}: the model's SHA-256 differs from the one its run recorded; refused")
    for earlier in store.runs():
        if earlier.model_sha256 == row["model_sha256"] and "imported" in (earlier.flags or ""):
            raise TransferError(f"{run_label} is already on this board as run {earlier.id}")
    if row.get("benchmark") not in ("accuracy", "params") or row.get("test_accuracy") is None:
        raise TransferError(f"{run_label}: only finished accuracy and params runs can be imported")
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / MODEL
        file.write_bytes(data)
        model = load_safely(file, run_label)
    params_total, params_trainable = parameter_counts(model)
    if params_total != row.get("params_total"):
        raise TransferError(f"{run_label}: it records {row.get('params_total')} parameters, the model has "
                            f"{params_total}; refused")
    accuracy, seconds = _evaluate(model, mnist, run_label)
    if abs(accuracy - row["test_accuracy"]) > ACCURACY_TOLERANCE:
        raise TransferError(f"{run_label}: it records {100 * row['test_accuracy']:.2f} % test accuracy, "
                            f"re-evaluated here {100 * accuracy:.2f} %; refused")
    columns = {k: v for k, v in row.items() if k not in _NOT_IMPORTED and k in store_columns()}
    origin = {"run_id": row.get("id"), "host": row.get("host"), "device": row.get("device"),
              "owner": row.get("owner"), "created_at": row.get("created_at"),
              "test_accuracy": row["test_accuracy"], "mnistbench": manifest.get("mnistbench")}
    flags = ", ".join(["imported", *[f for f in (row.get("flags") or "").split(", ") if f and f != "imported"]])
    config = {**(row.get("config") or {}), "imported_from": origin}
    run_id = store.start_run(**columns, config=config, flags=flags[:200])
    for epoch in manifest.get("epochs") or []:
        store.add_epoch(run_id, **{k: epoch.get(k) for k in EPOCH_COLUMNS})
    model_path = _keep_model(store, run_id, data)
    store.finish_run(run_id, "finished", test_accuracy=accuracy, params_total=params_total,
                     params_trainable=params_trainable, eval_seconds=seconds, model_path=model_path,
                     model_sha256=row["model_sha256"] if model_path else None, verification="verified",
                     verification_note="re-evaluated on import", epochs_run=row.get("epochs_run"),
                     **({} if model_path else {"flags": (flags + ", model not saved")[:200]}))
    return Accepted(run_id, accuracy, params_total, f"run {row.get('id')} of {row.get('host')} ({row.get('device')})")


def submit_model(store, path: str | Path, mnist, *, benchmark: str, labels: int | None = None,
                 name: str | None = None) -> Accepted:
    """Record a model trained by other code: counted and tested here once, flagged `external`."""
    from .models import parameter_counts  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise TransferError(f"no such file: {path}")
    if path.suffix != ".keras":
        raise TransferError(f"{path}: submit a Keras 3 `.keras` file (model.save('model.keras'))")
    if labels is not None and not 0 <= labels <= TRAINING_IMAGES:
        raise TransferError(f"--labels must be between 0 and {TRAINING_IMAGES:,}, got {labels}")
    data = path.read_bytes()
    model = load_safely(path, str(path))
    params_total, params_trainable = parameter_counts(model)
    accuracy, seconds = _evaluate(model, mnist, str(path))
    declared = TRAINING_IMAGES if labels is None else labels
    model_name = (name or path.stem)[:64]
    config = {"submitted_file": path.name, "declared_labels": declared, "labels_verified": False}
    from .environment import run_environment  # noqa: PLC0415

    environment = {k: v for k, v in run_environment().items() if k in store_columns()}
    run_id = store.start_run(benchmark=benchmark, model=model_name, config=config, labels_used=declared,
                             flags="external, labels declared", **{**environment, "device": "external"})
    model_path = _keep_model(store, run_id, data)
    store.finish_run(run_id, "finished", test_accuracy=accuracy, params_total=params_total,
                     params_trainable=params_trainable, eval_seconds=seconds, model_path=model_path,
                     model_sha256=hashlib.sha256(data).hexdigest() if model_path else None,
                     **({} if model_path else {"flags": "external, labels declared, model not saved"}))
    return Accepted(run_id, accuracy, params_total, f"{path.name}, trained elsewhere")


def store_columns() -> set[str]:
    from .store import RUN_COLUMNS  # noqa: PLC0415

    return set(RUN_COLUMNS)
