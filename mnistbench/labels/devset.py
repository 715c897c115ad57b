"""The declared development subset of the minimum-labels benchmark.

The labels methods' knobs are chosen by scoring candidates against the labels of these 10,000 training
images: a fixed, seeded sample, the same on every machine. Their labels may be read for design only:
by `python -m benchmarks.labels_dev`, never by a run (a run gets its k labels through a LabelOracle,
and tests/test_label_isolation.py scrambles every other training label to prove it). The test set is
never used to choose anything.
"""

from __future__ import annotations

import numpy as np

DEV_SEED = 20261201
DEV_SIZE = 10_000


def dev_indices(n_train: int = 60_000) -> np.ndarray:
    """The development subset: DEV_SIZE training indices, sorted, fixed by DEV_SEED."""
    size = min(DEV_SIZE, n_train)
    return np.sort(np.random.default_rng(DEV_SEED).choice(n_train, size=size, replace=False))


def dev_accuracy(predicted: np.ndarray, hidden_labels: np.ndarray, mask: np.ndarray | None = None,
                 positions: np.ndarray | None = None) -> float:
    """Accuracy of per-training-image predictions on the development subset (optionally within `mask`).
    `positions`: where the development images sit in the arrays, when they are not all 60,000 training
    images in order (the design tool's learner, with some development images held out)."""
    idx = dev_indices(len(hidden_labels)) if positions is None else positions
    if mask is not None:
        idx = idx[mask[idx]]
    return float(np.mean(predicted[idx] == hidden_labels[idx])) if len(idx) else float("nan")
