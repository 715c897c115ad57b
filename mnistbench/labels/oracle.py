"""The k labels a run may read, and nothing else.

The learning methods never see the training labels array: they get the images and a LabelOracle
built from the chosen indices, which copies those k labels and drops the rest.
"""

from __future__ import annotations

import numpy as np


class LabelOracle:
    """The k labels a run was given, and nothing else: built from the chosen indices, then sealed."""

    def __init__(self, all_labels: np.ndarray, indices: np.ndarray):
        self.indices = np.asarray(indices, dtype=np.int64).copy()
        self._labels = np.asarray(all_labels)[self.indices].astype(np.int64)  # a copy; the full array is dropped

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def __len__(self) -> int:
        return len(self.indices)
