"""Choosing which training images get labelled, for the minimum-labels board. Numpy only.

- cosine (the seed's): per class, the most typical images by average cosine similarity. Reads every
  training label to group the images, so its runs are flagged `label-aware selection`.
- kmeans (label-free): spherical k-means into k clusters of unlabelled features, then each cluster's
  medoid; only the k chosen labels are ever read.
- random: k random images; `stratified` reads every label to balance the classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import MIXTURE_MAX_K, N_CLASSES  # noqa: F401  (re-exported: the method and tools read them here)
from ..errors import ConfigError


@dataclass
class Selection:
    indices: np.ndarray  # into the training set, in the order chosen
    method: str
    labels_read: int  # how many training labels the selection itself looked at
    flag: str  # shown on the board: "label-aware selection" or "label-free"
    seconds: float = 0.0


@dataclass(frozen=True)
class Clustering:
    """k clusters of an embedding (mixture_clusters): each point's cluster, its log-density, the means."""
    assign: np.ndarray
    density: np.ndarray
    means: np.ndarray
    k: int
    seed: int


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Flattened float32 rows scaled to unit length (all-zero rows stay zero)."""
    flat = x.reshape(len(x), -1).astype(np.float32)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return flat / np.maximum(norms, 1e-12)


def typicality(u: np.ndarray) -> np.ndarray:
    """Average cosine similarity of each unit row to the others: (u_i . S - 1) / (n - 1), S = sum of rows.

    The closed form of the seed's double loop, linear in n instead of quadratic.
    """
    n = len(u)
    if n == 1:
        return np.ones(1, dtype=np.float32)
    return (u @ u.sum(axis=0) - 1.0) / (n - 1)


def spherical_kmeans(u: np.ndarray, k: int, *, seed: int = 0, iterations: int = 25, restarts: int = 1,
                     fit_sample: int = 12_000) -> tuple[np.ndarray, np.ndarray]:
    """Cluster unit rows by cosine similarity. Returns (assignments, unit centroids) of the best restart.

    Centroids are fitted on a random sample of `fit_sample` rows (ample for k up to a few hundred),
    then every row is assigned once: 5x faster on the 60,000 images, same clusters to the eye.
    """
    rng = np.random.default_rng(seed)
    fit = u if len(u) <= fit_sample else u[rng.choice(len(u), size=fit_sample, replace=False)]
    best = (-np.inf, None)
    for _ in range(restarts):
        centroids = _kmeanspp(fit, k, rng)
        for _ in range(iterations):
            assign = np.argmax(fit @ centroids.T, axis=1)
            sums = _one_hot(assign, k).T @ fit  # a matmul: np.add.at is ~100x slower here
            for c in np.flatnonzero(np.bincount(assign, minlength=k) == 0):
                sums[c] = fit[np.argmin(np.max(fit @ centroids.T, axis=1))]  # re-seed an empty cluster
            new = unit_rows(sums)
            if np.allclose(new, centroids, atol=1e-6):
                break
            centroids = new
        score = float(np.max(fit @ centroids.T, axis=1).sum())
        if score > best[0]:
            best = (score, centroids)
    centroids = best[1]
    return np.argmax(u @ centroids.T, axis=1), centroids


def _one_hot(assign: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(assign), k), dtype=np.float32)
    out[np.arange(len(assign)), assign] = 1.0
    return out


def _kmeanspp(u: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding in cosine distance, on a sample for speed."""
    sample = u[rng.choice(len(u), size=min(len(u), 20_000), replace=False)]
    centroids = [sample[rng.integers(len(sample))]]
    dist = 1.0 - sample @ centroids[0]
    for _ in range(1, k):
        p = np.maximum(dist, 0) ** 2
        p = p / p.sum() if p.sum() > 0 else None
        centroids.append(sample[rng.choice(len(sample), p=p)])
        dist = np.minimum(dist, 1.0 - sample @ centroids[-1])
    return np.stack(centroids)


def medoids(u: np.ndarray, assign: np.ndarray, k: int) -> np.ndarray:
    """Per cluster, the member with the highest average cosine similarity to its cluster (closed form)."""
    chosen = []
    for c in range(k):
        members = np.flatnonzero(assign == c)
        if len(members):
            chosen.append(members[np.argmax(typicality(u[members]))])
    return np.array(chosen, dtype=np.int64)


def select_cosine(x: np.ndarray, labels: np.ndarray, k: int, seed: int = 0) -> Selection:
    """k/10 per class. With more than one per class, the class is first split into k/10 sub-clusters
    (spherical k-means) and each sub-cluster gives its most typical image: the picks spread over the
    class's styles instead of k/10 near-duplicates of its single most typical digit."""
    if k % N_CLASSES:
        raise ConfigError(f"--k {k}: cosine selection takes k/10 images per class, so k must be a multiple of 10")
    per_class = k // N_CLASSES
    u = unit_rows(x)
    chosen = []
    for c in range(N_CLASSES):
        members = np.flatnonzero(labels == c)
        if per_class == 1:
            chosen.append(members[np.argmax(typicality(u[members]))])
        else:
            assign, _ = spherical_kmeans(u[members], per_class, seed=seed + c)
            chosen.extend(members[medoids(u[members], assign, per_class)])
    return Selection(np.array(chosen, dtype=np.int64), "cosine", len(labels), "label-aware selection")


def select_kmeans(features: np.ndarray, k: int, seed: int = 0, metric: str = "cosine",
                  images: np.ndarray | None = None, clustering: Clustering | None = None) -> Selection:
    """Medoids of k clusters of unlabelled features; reads no label.

    cosine: spherical k-means on raw pixels, medoid = highest average similarity in its cluster.
    euclidean: for a learnt embedding (UMAP coordinates have no meaningful origin, so cosine would
    mislead): a Gaussian mixture (see mixture_clusters; k-means past MIXTURE_MAX_K clusters, where a
    mixture is too slow); each cluster's pick is its most typical
    member by the seed's cosine score on the `images` (pixel space), which finds the cluster's clearest
    digit. (The densest point in the embedding is not: where a cluster bends towards a neighbour, its
    mode can sit on the neighbour's digit, as an 8 for the 9s on one seed.) Still label-free.
    `clustering`: the mixture of these features with k clusters and this seed, where the caller has it.
    """
    if metric == "cosine":
        u = unit_rows(features)
        assign, _ = spherical_kmeans(u, k, seed=seed)
        return Selection(medoids(u, assign, k), "kmeans", 0, "label-free")
    if k <= MIXTURE_MAX_K:
        found = clustering if clustering is not None and (clustering.k, clustering.seed) == (k, seed) \
            else mixture_clusters(features, k, seed)
        assign, density = found.assign, found.density
    else:  # a 1,000-component mixture: 112 s for 3 of its up to 100 iterations here; k-means: seconds
        assign, density = euclidean_kmeans(features, k, seed)
    u = unit_rows(images) if images is not None else None
    chosen = []
    for c in range(k):
        members = np.flatnonzero(assign == c)
        if len(members):
            score = typicality(u[members]) if u is not None else density[members]
            chosen.append(members[np.argmax(score)])
    return Selection(np.array(chosen, dtype=np.int64), "kmeans-embedding", 0, "label-free")


def euclidean_kmeans(features: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k clusters by plain k-means, for k past MIXTURE_MAX_K (many small clusters, where a mixture's
    per-cluster covariances matter least). Returns (assignment, minus the distance to its centre)."""
    from sklearn.cluster import KMeans  # noqa: PLC0415

    km = KMeans(k, n_init=1, random_state=seed).fit(features)
    return km.labels_, -np.linalg.norm(features - km.cluster_centers_[km.labels_], axis=1)


def mixture_clusters(features: np.ndarray, k: int, seed: int = 0) -> Clustering:
    """k clusters of an embedding by a Gaussian mixture: k-means with a covariance per cluster, which
    UMAP's elongated, unequal clusters need (plain k-means split one digit and merged two on MNIST).
    A run fits it once and hands it to both its users, the selection and the cluster naming (k = 100:
    about a minute on 2 cores)."""
    from sklearn.mixture import GaussianMixture  # noqa: PLC0415

    gmm = GaussianMixture(k, covariance_type="full", random_state=seed, n_init=mixture_inits(k)).fit(features)
    return Clustering(gmm.predict(features), gmm.score_samples(features), gmm.means_, k, seed)


def mixture_inits(k: int) -> int:
    """How many initialisations the mixture of k clusters tries, keeping the fit of the highest likelihood (no
    label read): ten for ten clusters, falling to two at a hundred, so that each k costs about the same.
    Two were too few for ten labels: on one seed both landed in a fit that put two clusters on one digit
    (likelihood bound 20.04 against 21.18 for the best of five; clusters 88.5 % pure against 98.0 %), so no
    image of one class was chosen and the run tested 89.21 % (docs/experiments.md, 2026-12-07)."""
    return min(10, max(2, 100 // k))


def select_random(labels_or_n, k: int, seed: int = 0, stratified: bool = False) -> Selection:
    rng = np.random.default_rng(seed)
    if stratified:
        from ..data import stratified_indices  # noqa: PLC0415

        labels = np.asarray(labels_or_n)
        return Selection(rng.permutation(stratified_indices(labels, k, rng)), "random-stratified", len(labels),
                         "label-aware selection")
    n = int(labels_or_n)
    return Selection(rng.choice(n, size=k, replace=False), "random", 0, "label-free")
