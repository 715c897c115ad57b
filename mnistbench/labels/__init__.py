"""The minimum-labels benchmark: choose k training images, learn from their k labels (and the
unlabelled rest), evaluate once on the test set.

- oracle: the k labels a run may read, and nothing else;
- selection: which images get labelled (cosine prototypes, k-means medoids, random);
- embedding: the label-free features (autoencoder + UMAP) that selection and clustering use;
- methods: the learners (prototype, supervised, cluster);
- runner: one recorded run, from selection to the test;
- settings: `LabelsConfig`, a run's settings and their checks.
"""

from .oracle import LabelOracle
from .runner import LabelsResult, run_labels
from .settings import LabelsConfig

__all__ = ["LabelOracle", "LabelsConfig", "LabelsResult", "run_labels"]
