"""Checking a board entry: reload its saved model and recompute what the row claims."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import Status
from .data import to_float
from .errors import MnistbenchError

# Predictions may differ across machines by float rounding; one test image of slack, no more.
ACCURACY_TOLERANCE = 1 / 10_000 + 1e-9


@dataclass
class Verification:
    run_id: int
    status: str  # "verified" or "mismatch"
    problems: list[str] = field(default_factory=list)
    params_total: int | None = None
    test_accuracy: float | None = None


def verify_run(store, run_id: int, mnist) -> Verification:
    """SHA-256 of the model file, parameter count and test accuracy against the row; marks the run."""
    from .artifacts import evaluate, load_saved, sha256_file  # noqa: PLC0415
    from .models import parameter_counts  # noqa: PLC0415  (TensorFlow)

    run = store.get_run(run_id)
    if run.members:
        raise MnistbenchError(f"run {run_id} is an ensemble; verify its members {run.members} instead")
    if not run.model_path:  # nothing was saved: nothing to check, and no reason to doubt the run
        why = "a labels run of the prototype method, or from before labels runs kept their classifier" \
            if run.benchmark == "labels" else "it was trained with --no-save-model" \
            if run.status == Status.finished else f"it ended {run.status}"
        raise MnistbenchError(f"run {run_id} has no saved model to verify ({why})")
    result = Verification(run_id, "verified")
    path = store.model_file(run)
    if not path.exists():
        result.problems.append(f"model file {path} is missing")
    else:
        if sha256_file(path) != run.model_sha256:
            result.problems.append("model file's SHA-256 differs from the recorded one")
        try:
            model = load_saved(path)
        except Exception as exc:  # a tampered file can fail in many ways
            result.problems.append(f"model file does not load ({exc.__class__.__name__})")
        else:
            result.params_total = parameter_counts(model)[0]
            if result.params_total != run.params_total:
                result.problems.append(f"parameters: recorded {run.params_total}, counted {result.params_total}")
            result.test_accuracy = evaluate(model, to_float(mnist.x_test), mnist.y_test.astype(np.int64))
            recorded = run.test_accuracy
            if recorded is None or abs(recorded - result.test_accuracy) > ACCURACY_TOLERANCE:
                result.problems.append(f"test accuracy: recorded {recorded}, recomputed {result.test_accuracy:.4f}")
    result.status = "mismatch" if result.problems else "verified"
    store.update_run(run_id, verification=result.status, verification_note="; ".join(result.problems) or None)
    return result
