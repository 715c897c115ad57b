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
import math
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .atomic import write_bytes_atomically
from .config import TRAINING_IMAGES, Status
from .errors import MnistbenchError
from .legacy import split_config
from .recording import arrived
from .sanitize import one_line, shorten
from .schema import EPOCH_COLUMNS, run_as_dict
from .verify import ACCURACY_TOLERANCE  # the one-image slack `verify` allows across machines

FORMAT = "mnistbench-run"
VERSION = 2  # 2: the run's measurements in `details`, apart from its `config`
READABLE_VERSIONS = (1, 2)  # 1: both in `config`, split on import by the rule of the code that wrote it
MANIFEST, MODEL = "manifest.json", "model.keras"
MAX_MODEL_BYTES = 512 * 2**20  # a zip member larger than this is not a model of ours
MAX_MANIFEST_BYTES = 16 * 2**20  # a run's row and a few thousand epochs take kilobytes
MAX_EPOCHS = 100_000
# Ranges of the manifest's numeric run fields: (low, high, whole number).
_FIELD_RANGES = {
    "id": (1, 2**63 - 1, True), "test_accuracy": (0, 1, False), "val_accuracy": (0, 1, False),
    "params_total": (0, 2**53, True), "params_trainable": (0, 2**53, True), "labels_used": (0, TRAINING_IMAGES, True),
    "selection_labels_read": (0, TRAINING_IMAGES, True), "epochs_run": (0, MAX_EPOCHS, True),
    "batch_size": (1, 2**31, True), "seed": (0, 2**32 - 1, True), "train_seconds": (0, 1e9, False),
    "eval_seconds": (0, 1e9, False), "time_to_99": (0, 1e9, False), "time_to_995": (0, 1e9, False),
    "epoch_to_99": (0, MAX_EPOCHS, True), "epoch_to_995": (0, MAX_EPOCHS, True), "pid": (0, 2**63 - 1, True),
    "trial": (0, 2**31, True),
}
_REQUIRED = ("benchmark", "test_accuracy", "params_total", "model_sha256", "model")
# Timings that this board cannot re-check: kept in the imported run's details, never ranked.
_UNCHECKED_TIMINGS = ("time_to_99", "epoch_to_99", "time_to_995", "epoch_to_995")
# Columns the importing board sets itself instead of taking them from the manifest.
_NOT_IMPORTED = {"id", "status", "host", "pid", "heartbeat_at", "created_at", "finished_at", "error",
                 "verification", "verification_note", "owner", "model_path", "model_sha256", "test_accuracy",
                 "params_total", "params_trainable", "flags", "eval_seconds", "config", "details", "sweep", "trial",
                 "members"}


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
    if run.status != Status.finished:
        raise TransferError(f"run {run_id} ended {run.status}; only finished runs can be exported")
    if run.members:
        raise TransferError(f"run {run_id} is an ensemble; export its members {run.members} instead")
    path = store.model_file(run)
    if path is None:
        why = ("labels runs of the prototype method, and those recorded before labels runs kept their classifier, "
               "have none") if run.benchmark == "labels" else "it was trained with --no-save-model"
        raise TransferError(f"run {run_id} has no saved model to export ({why})")
    if not path.exists():
        raise TransferError(f"run {run_id}'s model file {path} is missing")
    from .artifacts import check_model_file, has_optimizer_state  # noqa: PLC0415

    model = check_model_file(path).read_bytes()  # read once: hashed, inspected and packed
    if hashlib.sha256(model).hexdigest() != run.model_sha256:
        raise TransferError(f"run {run_id}'s model file {path} differs from its recorded SHA-256; "
                            f"`mnistbench verify {run_id}` says more")
    from . import __version__  # noqa: PLC0415

    row = run_as_dict(run)
    manifest = {"format": FORMAT, "version": VERSION, "mnistbench": __version__,
                "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "run": row, "epochs": [{k: getattr(e, k) for k in EPOCH_COLUMNS} for e in run.epochs]}
    if has_optimizer_state(io.BytesIO(model)):  # saved before runs kept weights only: the same weights, a third the size
        model = _weights_only_bytes(path)
        manifest["model_as_trained_sha256"] = row["model_sha256"]
        row["model_sha256"] = hashlib.sha256(model).hexdigest()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2, default=str))
        archive.writestr(MODEL, model)
    return write_bytes_atomically(output, buffer.getvalue())


def _weights_only_bytes(path: Path) -> bytes:
    from .artifacts import load_saved, save_model  # noqa: PLC0415  (TensorFlow, only for an old file)

    with tempfile.TemporaryDirectory(prefix="mnistbench-export-") as folder:
        copy = Path(folder) / "model.keras"
        save_model(load_saved(path), copy)
        return copy.read_bytes()


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
        if archive.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
            raise TransferError(f"{path}: its manifest.json is larger than {MAX_MANIFEST_BYTES // 2**20} MiB; "
                                "refused before reading it")
        try:
            manifest = json.loads(archive.read(MANIFEST))
            model = archive.read(MODEL)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, EOFError) as exc:
            raise TransferError(f"{path} is damaged ({exc.__class__.__name__}: {shorten(exc, 120)})") from None
        except RecursionError:
            raise TransferError(f"{path}: manifest.json nests too deeply to be a run") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("run"), dict):
        raise TransferError(f"{path}: manifest.json is not an mnistbench run")
    version = manifest.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise TransferError(f"{path} is format version {shorten(repr(version), 40)} ({type(version).__name__}); "
                            f"this mnistbench reads versions {', '.join(map(str, READABLE_VERSIONS))} (a number)")
    check_manifest(manifest, path)
    return manifest, model


def check_manifest(manifest: dict, path) -> None:
    """Every field an import would write, checked for its type and range before anything is written:
    a crafted manifest says what is wrong in one line, and no half-imported run is left behind."""
    row = manifest["run"]
    for name, value in row.items():
        problem = _field_problem(name, value)
        if problem:
            raise TransferError(f"{path}: run field {name!r} {problem} (got {shorten(repr(value), 40)}, "
                                f"a {type(value).__name__}); refused")
    epochs = manifest.get("epochs") or []
    if not isinstance(epochs, list) or len(epochs) > MAX_EPOCHS:
        raise TransferError(f"{path}: 'epochs' is not a list of at most {MAX_EPOCHS:,} epochs; refused")
    seen = set()
    for epoch in epochs:
        if not isinstance(epoch, dict):
            raise TransferError(f"{path}: an epoch is not an object (got {shorten(repr(epoch), 40)}); refused")
        for name in EPOCH_COLUMNS:
            problem = _epoch_problem(name, epoch.get(name))
            if problem:
                raise TransferError(f"{path}: epoch field {name!r} {problem} "
                                    f"(got {shorten(repr(epoch.get(name)), 40)}); refused")
        if epoch["epoch"] in seen:
            raise TransferError(f"{path}: epoch {epoch['epoch']} appears twice; refused")
        seen.add(epoch["epoch"])


def _number_problem(value, low, high, whole: bool) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "is not a number"
    if not math.isfinite(value):
        return "is not a finite number"
    if whole and value != int(value):
        return "is not a whole number"
    if not low <= value <= high:
        return f"is outside [{low:,}, {high:,}]"
    return None


def _field_problem(name: str, value) -> str | None:
    """Why a manifest's run field cannot be imported, or None."""
    if name in _REQUIRED and value is None:
        return "is missing"
    if value is None:
        return None
    if name in _FIELD_RANGES:
        low, high, whole = _FIELD_RANGES[name]
        return _number_problem(value, low, high, whole)
    if name in ("config", "details"):
        return None if isinstance(value, dict) else "is not an object"
    if name == "members":
        return None if isinstance(value, list) else "is not a list"
    if not isinstance(value, str):
        return "is not text"
    if len(value) > 200 and name not in ("error", "verification_note", "model_path"):
        return "is longer than 200 characters"
    return None


def _epoch_problem(name: str, value) -> str | None:
    if name == "epoch":
        return _number_problem(value, 1, MAX_EPOCHS, True) if value is not None else "is missing"
    if value is None:
        return None
    if name in ("accuracy", "val_accuracy"):
        return _number_problem(value, 0, 1, False)
    return _number_problem(value, 0 if name != "loss" and name != "val_loss" else -1e9, 1e12, False)


def load_safely(path: Path, shown: str):
    """A Keras model in safe mode; one line for every way it can fail."""
    if not zipfile.is_zipfile(path):  # Keras would say "file not found" of it
        raise TransferError(f"cannot load {shown} as a Keras model: it is not a .keras file (a zip archive)")
    from . import models  # noqa: PLC0415, F401  (registers the zoo's own layers: SampleNorm, Shift)
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
    count = len(getattr(model, "inputs", None) or [None])
    if count != 1:
        raise TransferError(f"{shown} takes {count} inputs; mnistbench feeds one (28x28 images in [0, 1])")
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
    if len(getattr(model, "outputs", None) or [None]) != 1:
        raise TransferError(f"{shown} has {len(model.outputs)} outputs; a classifier for MNIST has one, of 10 scores")
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


def _already_here(store, sha256: str, origin: dict | None = None):
    """A run of this board with the same model file, or (for an import) from the same origin: the
    same run brought home twice, re-zipped, or a classmate's export passed off as one's own."""
    for earlier in store.runs():
        if earlier.model_sha256 and earlier.model_sha256 == sha256:
            return earlier
        came_from = (earlier.details or {}).get("imported_from")
        if origin and isinstance(came_from, dict) and all(
                came_from.get(k) == origin.get(k) for k in ("run_id", "host", "created_at")):
            return earlier
    return None


def find_import(store, package: tuple[dict, bytes]):
    """The run of this board that an exported run (read_run_zip's answer) is already, or None."""
    manifest, data = package
    row = manifest["run"]
    origin = {"run_id": row.get("id"), "host": row.get("host"), "created_at": row.get("created_at")}
    return _already_here(store, hashlib.sha256(data).hexdigest(), origin)


def _finished_here(store, fields: dict, epochs: list[dict], data: bytes, sha256: str) -> int:
    """Record a finished run, its epochs and its model file in one write transaction: the run appears
    whole or not at all (a crash or Ctrl-C half-way leaves no stray row)."""
    def keep(run_id: int) -> dict:
        model_path = _keep_model(store, run_id, data)
        if model_path:
            return {"model_path": model_path, "model_sha256": sha256}
        return {"flags": (fields.get("flags", "") + ", model not saved")[:200]}

    return arrived(store, fields, epochs, keep)


def import_run(store, path: str | Path, mnist, package: tuple[dict, bytes] | None = None) -> Accepted:
    """`package`: what read_run_zip(path) returned, when the caller has read it already."""
    from .models import parameter_counts  # noqa: PLC0415

    manifest, data = package or read_run_zip(path)
    row = manifest["run"]
    run_label = f"{path} (run {shorten(row.get('id'), 20)} of {shorten(row.get('host') or 'another machine', 40)})"
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != row.get("model_sha256"):
        raise TransferError(f"{run_label}: the model's SHA-256 differs from the one its run recorded; refused")
    if row.get("benchmark") not in ("accuracy", "params", "labels") or row.get("test_accuracy") is None:
        raise TransferError(f"{run_label}: only finished runs with a test accuracy can be imported")
    origin = {"run_id": row.get("id"), "host": row.get("host"), "device": row.get("device"),
              "owner": row.get("owner"), "created_at": row.get("created_at"),
              "test_accuracy": row["test_accuracy"], "mnistbench": manifest.get("mnistbench"),
              "reevaluated_on_import": True}
    earlier = _already_here(store, sha256, origin)
    if earlier is not None:
        raise TransferError(f"{run_label} is already on this board as run {earlier.id}")
    model = _load_checked(data, run_label)
    params_total, params_trainable = parameter_counts(model)
    if params_total != row.get("params_total"):
        raise TransferError(f"{run_label}: it records {row.get('params_total')!r} parameters, "
                            f"the model has {params_total}; refused")
    accuracy, seconds = _evaluate(model, mnist, run_label)
    if abs(accuracy - row["test_accuracy"]) > ACCURACY_TOLERANCE:
        raise TransferError(f"{run_label}: it records {100 * row['test_accuracy']:.2f} % test accuracy, "
                            f"re-evaluated here {100 * accuracy:.2f} %; refused")
    columns = {k: v for k, v in row.items() if k not in _NOT_IMPORTED and k in store_columns()}
    # Timings this board cannot re-check stay in the details, out of the time-to-accuracy board.
    unchecked = {k: columns.pop(k) for k in _UNCHECKED_TIMINGS if columns.get(k) is not None}
    config, details = row.get("config") or {}, row.get("details") or {}
    if manifest["version"] == 1:
        config, details = split_config(row.get("benchmark"), config)
    flags = ", ".join(["imported", *[one_line(f) for f in (row.get("flags") or "").split(", ")
                                     if one_line(f) and f != "imported"]])
    details = {**details, "imported_from": {**origin, **unchecked}}
    fields = {**columns, "model": one_line(row["model"], 64), "config": config, "details": details,
              "flags": flags[:200],
              "test_accuracy": accuracy, "params_total": params_total, "params_trainable": params_trainable,
              "eval_seconds": seconds}
    epochs = [{k: e.get(k) for k in EPOCH_COLUMNS} for e in manifest.get("epochs") or []]
    run_id = _finished_here(store, fields, epochs, data, sha256)
    return Accepted(run_id, accuracy, params_total,
                    f"run {shorten(row.get('id'), 20)} of {shorten(row.get('host'), 40)} ({shorten(row.get('device'), 40)})")


def _load_checked(data: bytes, shown: str):
    """A model from bytes: its size and declared parameters checked before Keras builds it."""
    from .modelfile import check_keras_file  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / MODEL
        file.write_bytes(data)
        check_keras_file(file, shown)
        return load_safely(file, shown)


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
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise TransferError(f"{path} is larger than {MAX_MODEL_BYTES // 2**20} MiB; not a model of MNIST")
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    earlier = _already_here(store, sha256)
    if earlier is not None:
        raise TransferError(f"{path} is already on this board as run {earlier.id} (the same model file)")
    model = _load_checked(data, str(path))
    params_total, params_trainable = parameter_counts(model)
    accuracy, seconds = _evaluate(model, mnist, str(path))
    declared = TRAINING_IMAGES if labels is None else labels
    model_name = one_line(name or path.stem, 64) or "submitted"
    config = {"submitted_file": one_line(path.name), "declared_labels": declared, "labels_verified": False}
    from .environment import run_environment  # noqa: PLC0415

    environment = {k: v for k, v in run_environment().items() if k in store_columns()}
    fields = {**environment, "device": "external", "benchmark": benchmark, "model": model_name, "config": config,
              "labels_used": declared, "flags": "external, labels declared", "test_accuracy": accuracy,
              "params_total": params_total, "params_trainable": params_trainable, "eval_seconds": seconds}
    run_id = _finished_here(store, fields, [], data, sha256)
    return Accepted(run_id, accuracy, params_total, f"{path.name}, trained elsewhere")


def store_columns() -> set[str]:
    from .store import RUN_COLUMNS  # noqa: PLC0415

    return set(RUN_COLUMNS)
