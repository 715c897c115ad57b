"""The settings of one minimum-labels run: how the k images are chosen, the method that learns from
them, and its knobs, each with its domain check."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..config import (
    TRAINING_IMAGES,
    EmbeddingKind,
    Features,
    LabelsMethod,
    Selection,
    at_least,
    method_embedding,
    resolved_labels_defaults,
    within,
)
from ..errors import ConfigError


@dataclass
class LabelsConfig:
    """One minimum-labels run: how the k images are chosen, the method that learns from them, and its knobs."""

    k: int = 10
    select: str = "cosine"  # cosine (label-aware, the seed's) | kmeans (label-free) | random
    stratified: bool = False  # random only: balance the classes (reads every label)
    method: str = "prototype"  # prototype | supervised | cluster | selftrain
    features: str = "pixels"  # what kmeans selection clusters: raw pixels or the label-free embedding
    # The CNN the method trains; None: its own. supervised and cluster: medium (cluster, k=10, seed 0:
    # 97.45 % vs 95.68 % with fast); selftrain: fast (development subset, seed 0: 98.55 % after a round
    # against 98.47 % with medium, in a third of the time: 71 s a round against 227 s).
    model: str | None = None
    epochs: int | None = None  # CNN epochs; None = the method's default (supervised 30, cluster 3, selftrain 4 a round)
    seed: int = 0
    # The label-free embedding: autoencoder epochs and the code's dimensions (the N2D recipe).
    embedding_epochs: int = 20
    embedding_dims: int = 10
    # autoencoder (N2D) | deskewed (PCA of the deskewed images, then UMAP); None: the method's own
    # (selftrain: deskewed; the others, and every run recorded before the field: autoencoder).
    embedding: str | None = None
    # cluster: each cluster's densest fraction is its core, pseudo-labelled; self-training rounds then
    # add the fringe a CNN is this sure of (its top probability; label smoothing caps it near 0.91).
    core_fraction: float = 0.8
    self_training_rounds: int = 2
    confidence: float = 0.9
    pseudo_label_smoothing: float = 0.1  # when the CNN's own recipe has none
    # selftrain: self-training rounds under augmentation, each of fresh CNNs on the labels of the round
    # before, keeping each class's most confident `selftrain_keep`; the k true labels are always in,
    # repeated to about one per batch. Chosen on the development subset (labels/devset.py).
    selftrain_rounds: int = 2
    # CNNs a round trains from different seeds; their mean labels the next round, the last's classifies.
    # Three: development subset, k = 100, seeds 0 and 1: 99.04 / 99.09 % after two rounds against 98.99 / 99.06 %.
    selftrain_ensemble: int = 3
    clusters: int | None = None  # selftrain's clusters, each named by the labels in it; None: k, 10 to 100 (stored resolved)
    selftrain_keep: float = 0.95
    # selftrain: each round's CNNs learn from all but their own share of the pseudo-labelled images, and each
    # image's next label comes from the CNN that did not learn it (cross-fitting: a CNN repeats the labels
    # it was taught on the images it learnt, mistakes included). Needs two CNNs a round at least.
    selftrain_crossfit: bool = False
    # supervised: a handful of true labels, repeated to this many steps an epoch, in small batches.
    min_steps: int = 50
    small_batch_size: int = 64

    def validate(self, n_train: int = TRAINING_IMAGES) -> LabelsConfig:
        self.select = Selection.check(self.select, "--select")
        self.method = LabelsMethod.check(self.method, "--method")
        if not self.model:  # recorded as resolved, so a stored run names the CNN it trained
            self.model = "fast" if self.method == "selftrain" else "medium"
        self.features = Features.check(self.features, "--features")
        if self.embedding:  # None or "" (--set embedding=none): the method's own
            self.embedding = EmbeddingKind.check(self.embedding, "embedding")
        # Recorded as resolved, like the model: a run of the defaults and one that names the same values are
        # one configuration on the board, and a stored run says what it clustered.
        for name, value in resolved_labels_defaults(asdict(self)).items():
            setattr(self, name, value)
        if not 1 <= self.k <= n_train:
            raise ConfigError(f"--k must be between 1 and {n_train:,} (the training images), got {self.k}")
        if self.select == "cosine" and self.k % 10:
            raise ConfigError(f"--k {self.k}: cosine selection takes k/10 images per class, so k must be a "
                              "multiple of 10 (or use --select kmeans/random)")
        if self.select == "cosine" and self.k > COSINE_MAX_K:
            raise ConfigError(f"--k {self.k}: cosine selection takes k/10 images of every class and the "
                              f"smallest class has 5,421, so k can be at most {COSINE_MAX_K:,}")
        if self.epochs is not None:
            at_least(self.epochs, 1, "--epochs")
        within(self.seed, 0, 2**32 - 1, "--seed")
        at_least(self.embedding_epochs, 1, "embedding_epochs")
        at_least(self.embedding_dims, 2, "embedding_dims")
        within(self.core_fraction, 0, 1, "core_fraction", lower_open=True)
        at_least(self.self_training_rounds, 1, "self_training_rounds")
        within(self.confidence, 0, 1, "confidence")
        within(self.pseudo_label_smoothing, 0, 1, "pseudo_label_smoothing", upper_open=True)
        at_least(self.selftrain_rounds, 1, "selftrain_rounds")
        at_least(self.selftrain_ensemble, 1, "selftrain_ensemble")
        if self.clusters is not None:
            at_least(self.clusters, 10, "clusters")
        within(self.selftrain_keep, 0, 1, "selftrain_keep", lower_open=True)
        if self.selftrain_crossfit and self.selftrain_ensemble < 2:
            raise ConfigError("selftrain_crossfit labels each image by a CNN that did not learn it, so it needs "
                              f"selftrain_ensemble of 2 or more, got {self.selftrain_ensemble}")
        at_least(self.min_steps, 1, "min_steps")
        at_least(self.small_batch_size, 1, "small_batch_size")
        return self

    def embedding_kind(self) -> str:
        """The embedding this run clusters: the configured one, else the method's own."""
        return self.embedding or method_embedding(self.method)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LabelsConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


COSINE_MAX_K = 54_210  # 10 x the smallest training class (5,421 fives)
