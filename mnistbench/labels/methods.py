"""The learners of the minimum-labels benchmark: each takes the images, a LabelOracle and the config,
and returns a Fitted classifier.

- prototype: nearest chosen image by cosine similarity (the seed's baseline; numpy only);
- supervised: a zoo CNN on the k labelled images alone, under strong augmentation;
- cluster: label-free embedding -> clusters named by the k labels -> pseudo-labels for the clusters'
  cores -> a CNN, then self-training rounds that add the fringe it is sure of;
- selftrain: the same start on the deskewed embedding with a cluster per label, then rounds of fresh
  CNNs trained under augmentation on the last round's confident labels, the k true labels always in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np

from ..config import selftrain_clusters
from . import selection as sel
from .embedding import embedding
from .oracle import LabelOracle
from .settings import LabelsConfig


@dataclass
class Fitted:
    """A trained label-benchmark classifier: predict(x uint8 (N, 28, 28)) -> class ids."""

    predict: object
    params_total: int
    info: dict
    proba: object = None  # images -> class probabilities, where the method has them
    # The classifier as one Keras model of float images (N, 28, 28, 1) in [0, 1], where the method has
    # one: the run saves it, so that verify, export-run and the reference board can re-check the run.
    net: object = None


class Method(Protocol):
    """What every learner takes: the training images, the oracle of the k labels, the run's settings, and
    what the run computed without labels (the embedding and its mixture, where it has them); `say` hears
    progress lines."""

    def __call__(self, x: np.ndarray, oracle: LabelOracle, config: LabelsConfig, *,
                 features: np.ndarray | None = None, clustering: sel.Clustering | None = None,
                 say: Callable[[str], None] | None = None) -> Fitted: ...


def fit_prototype(x: np.ndarray, oracle: LabelOracle, config: LabelsConfig, **_) -> Fitted:
    """Nearest prototype by cosine similarity; no training (the seed's baseline)."""
    prototypes = sel.unit_rows(x[oracle.indices])
    labels = oracle.labels()

    def predict(images):
        return labels[np.argmax(sel.unit_rows(images) @ prototypes.T, axis=1)]

    return Fitted(predict, prototypes.size, {})


def _train_cnn(x: np.ndarray, y: np.ndarray, config: LabelsConfig, epochs: int, *, augment: bool) -> Fitted:
    """A zoo CNN trained on (x, y); no validation split (labels are scarce).

    augment=True is for a handful of true labels: the seed's strong augmentation, the set repeated so
    that each epoch has enough steps. augment=False is for tens of thousands of pseudo-labels: the
    model's own recipe with a one-cycle schedule and label smoothing (pseudo_label_smoothing if the recipe has none),
    which keeps the CNN from memorising the clusters' mistakes. With the seed's augmentation and a
    constant 1e-3 instead, five epochs left the CNN below its own pseudo-labels (95.5 % against
    97.0 % on the hidden training labels, seed 0)."""
    from ..config import Recipe  # noqa: PLC0415
    from ..fitting import classification_targets, compile_for, fit  # noqa: PLC0415
    from ..models import create_model, get_spec  # noqa: PLC0415
    from ..training import set_determinism  # noqa: PLC0415

    set_determinism(config.seed)
    net = create_model(config.model)
    xs = x[..., None].astype(np.float32) / 255.0
    if augment:
        # Tiny sets are repeated so that every epoch is at least min_steps augmented batches, warped by
        # the seed's ranges at a constant 1e-3.
        repeat = max(1, -(-config.min_steps * config.small_batch_size // len(x)))
        xs, ys = np.repeat(xs, repeat, axis=0), np.repeat(y, repeat)
        recipe = Recipe(optimizer="adam", lr=1e-3, schedule="constant", callbacks=(), augment=True, epochs=epochs,
                        batch_size=config.small_batch_size if len(x) < 1000 else 256)
        smoothing = 0.0
    else:
        ys = y
        model_recipe = get_spec(config.model).recipe
        recipe = replace(model_recipe, epochs=epochs, schedule="onecycle", callbacks=(), augment=False)
        smoothing = model_recipe.label_smoothing or config.pseudo_label_smoothing
    loss, targets = classification_targets(ys, smoothing)
    compile_for(net, recipe, len(xs), loss=loss, metrics=())
    fit(net, xs, targets, recipe, config.seed)

    return _as_fitted(net, {"cnn": config.model, "cnn_epochs": epochs, "cnn_augment": augment})


def _as_fitted(net, info: dict) -> Fitted:
    """A trained Keras classifier of uint8 (N, 28, 28) images as a Fitted, its parameters counted."""
    from ..models import parameter_counts  # noqa: PLC0415

    def proba(images):
        return net.predict(images[..., None].astype(np.float32) / 255.0, batch_size=1024, verbose=0)

    return Fitted(lambda images: np.argmax(proba(images), axis=1), parameter_counts(net)[0], info, proba, net)


def fit_supervised(x: np.ndarray, oracle: LabelOracle, config: LabelsConfig, **_) -> Fitted:
    """A zoo model trained on the k labelled images alone, with strong augmentation."""
    return _train_cnn(x[oracle.indices], oracle.labels(), config, config.epochs or 30, augment=True)


def cluster_labels(features: np.ndarray, oracle: LabelOracle, n_clusters: int, seed: int,
                   core_fraction: float = 0.8, clustering: sel.Clustering | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cluster label-free features, name each cluster by the labelled images in it, and return
    (pseudo-label, keep) for every image: `keep` marks each cluster's densest 80 %, its core, where
    the pseudo-labels are purest. A cluster with no labelled member takes the label of the labelled
    image nearest its mean. `clustering`: the run's mixture, used when it has these clusters and seed."""
    if clustering is None or (clustering.k, clustering.seed) != (n_clusters, seed):
        clustering = sel.mixture_clusters(features, n_clusters, seed)
    cluster, density, means = clustering.assign, clustering.density, clustering.means
    labels = oracle.labels()
    known_cluster = cluster[oracle.indices]
    name = np.empty(n_clusters, dtype=np.int64)
    keep = np.zeros(len(features), dtype=bool)
    for c in range(n_clusters):
        votes = labels[known_cluster == c]
        if len(votes):
            name[c] = np.bincount(votes).argmax()
        else:
            name[c] = labels[np.argmin(np.linalg.norm(features[oracle.indices] - means[c], axis=1))]
        members = np.flatnonzero(cluster == c)
        if len(members):
            keep[members[density[members] >= np.quantile(density[members], 1 - core_fraction)]] = True
    return name[cluster], keep


# Self-training rounds of fit_cluster (config.self_training_rounds): on the hidden training labels
# (seed 0), round 1 reached 97.45 % and round 2 97.55 %; each round costs one CNN training.


def fit_cluster(x: np.ndarray, oracle: LabelOracle, config: LabelsConfig, features: np.ndarray | None = None,
                clustering: sel.Clustering | None = None, **_) -> Fitted:
    """Semi-supervised: label-free embedding -> clusters named by the k labels -> pseudo-labels for the
    clusters' cores -> a CNN trained on them, then self-training rounds that add the fringe it is sure of."""
    if features is None:
        features, _ = embedding(x, seed=config.seed, epochs=config.embedding_epochs, dims=config.embedding_dims)
    pseudo, keep = cluster_labels(features, oracle, sel.N_CLASSES, config.seed, config.core_fraction, clustering)
    pseudo[oracle.indices] = oracle.labels()
    keep[oracle.indices] = True
    epochs = config.epochs or 3
    labels, use, fitted = pseudo, keep, None
    for round_ in range(config.self_training_rounds):
        if round_:
            # The cores taught the last CNN; now it labels the clusters' fringes, where the clustering
            # is least sure, and a fresh CNN learns from the cores and the confident fringe together.
            probs = fitted.proba(x)
            fringe = ~keep & (probs.max(axis=1) >= config.confidence)
            labels = pseudo.copy()
            labels[fringe] = probs[fringe].argmax(axis=1)
            labels[oracle.indices] = oracle.labels()
            use = keep | fringe
        fitted = _train_cnn(x[use], labels[use], config, epochs, augment=False)
    fitted.info.update({"pseudo_labelled_core": int(keep.sum()), "pseudo_labelled": int(use.sum()),
                        "clusters": sel.N_CLASSES, "self_training_rounds": config.self_training_rounds})
    return fitted


# The augmentation of selftrain's rounds: milder than the seed's (rotation 10 and shifts of 10 %
# against its 30 degrees and 30 %), since every image, not a handful, is being learnt.
SELFTRAIN_WARP = dict(rotation=10.0, zoom=0.1, shear=0.1, shift=0.1)
SELFTRAIN_EPOCHS = 4  # a round's; 8 gained 0.01 points after the first round on the development subset


def _train_round(x: np.ndarray, labels: np.ndarray, use: np.ndarray, oracle: LabelOracle, config: LabelsConfig,
                 seed: int) -> Fitted:
    """One self-training round: a fresh CNN on x[use] with `labels`, under augmentation, one-cycle Adam
    and label smoothing, with the k labelled images repeated to about one per batch (FixMatch's labelled
    stream, folded into one)."""
    from ..fitting import classification_targets, compile_for, fit  # noqa: PLC0415
    from ..models import create_model, get_spec  # noqa: PLC0415
    from ..training import set_determinism  # noqa: PLC0415

    set_determinism(seed)
    model_recipe = get_spec(config.model).recipe
    # Repeated to about one of every batch's images. Ten per batch was no better on the development
    # subset (k = 100, seed 0: 98.91 % after a round against 98.95 %).
    chosen = oracle.indices
    repeat = max(1, int(use.sum()) // (model_recipe.batch_size * len(chosen)))
    images = np.concatenate([x[use], np.repeat(x[chosen], repeat, axis=0)])
    targets = np.concatenate([labels[use], np.repeat(oracle.labels(), repeat)])
    epochs = config.epochs or SELFTRAIN_EPOCHS
    recipe = replace(model_recipe, epochs=epochs, schedule="onecycle", callbacks=(), augment=True,
                     **SELFTRAIN_WARP)
    net = create_model(config.model)
    loss, targets = classification_targets(targets, model_recipe.label_smoothing or config.pseudo_label_smoothing)
    compile_for(net, recipe, len(images), loss=loss, metrics=())
    fit(net, images[..., None].astype(np.float32) / 255.0, targets, recipe, seed)

    return _as_fitted(net, {"cnn": config.model, "cnn_epochs": epochs})


def _cnns(n: int) -> str:
    return "a CNN" if n == 1 else f"{n} CNNs"


def _average(members: list[Fitted]) -> Fitted:
    """An ensemble: the members' class probabilities averaged; its parameters are all of theirs."""
    if len(members) == 1:
        return members[0]
    info = {**members[0].info, "ensemble": len(members)}
    if all(m.net is not None for m in members):
        # One model averaging the members: what predicts here is what is saved and re-checked.
        from ..models import average_of  # noqa: PLC0415

        fitted = _as_fitted(average_of([m.net for m in members]), info)
        assert fitted.params_total == sum(m.params_total for m in members)
        return fitted

    def proba(images):
        return np.mean([m.proba(images) for m in members], axis=0)

    return Fitted(lambda images: np.argmax(proba(images), axis=1), sum(m.params_total for m in members), info, proba)


def confident_per_class(predicted: np.ndarray, confidence: np.ndarray, keep: float) -> np.ndarray:
    """Each predicted class's most confident `keep` fraction: per class, so that a class the CNN is
    less sure of (the 9s beside the 4s and 7s) is not crowded out of the next round."""
    use = np.zeros(len(predicted), dtype=bool)
    for c in np.unique(predicted):
        members = np.flatnonzero(predicted == c)
        use[members[confidence[members] >= np.quantile(confidence[members], 1 - keep)]] = True
    return use


def _label_every_image(x: np.ndarray, members: list[Fitted], share: np.ndarray | None) -> np.ndarray:
    """Class probabilities for the learner's images: the round's averaged CNNs, or with cross-fitting,
    for each image the CNN that did not learn it."""
    if share is None:
        return _average(members).proba(x)
    probs = np.empty((len(x), sel.N_CLASSES), dtype=np.float32)
    for member, cnn in enumerate(members):
        mine = share == member
        probs[mine] = cnn.proba(x[mine])
    return probs


def fit_selftrain(x: np.ndarray, oracle: LabelOracle, config: LabelsConfig, features: np.ndarray | None = None,
                  clustering: sel.Clustering | None = None, say=None, observe=None, **_) -> Fitted:
    """Clusters of the label-free embedding, one per label (ten at least, sel.MIXTURE_MAX_K at most),
    each named by the majority of the labels in it; their cores' pseudo-labels start the rounds. Each
    round trains `selftrain_ensemble` fresh CNNs (three) under augmentation, averaged, labels every
    image by them, and passes each class's most confident `selftrain_keep` on to the next; the k true labels
    are in every round. The last round's CNNs, averaged, are the classifier.

    `observe(stage, labels, use)`, for design tools (benchmarks/labels_dev.py), hears each stage's
    label for every training image and which of them the next CNN learns from; a run passes none."""
    say = say or (lambda message: None)
    watched, observe = observe is not None, observe or (lambda stage, labels, use: None)
    if features is None:
        features, _ = embedding(x, seed=config.seed, epochs=config.embedding_epochs, dims=config.embedding_dims,
                                kind=config.embedding_kind())
    # One cluster per label, up to sel.MIXTURE_MAX_K, each named by the labels in it: a style that ten
    # clusters merge into a neighbour (as the 1s with a foot among the 2s) can get a cluster and a label
    # of its own. Development subset, k = 100, seed 0: 98.95 % after a round against 98.53 % with ten.
    n_clusters = config.clusters or selftrain_clusters(len(oracle))
    labels, use = cluster_labels(features, oracle, n_clusters, config.seed, config.core_fraction, clustering)
    observe("clusters", labels, use)
    rounds = []
    n_members = config.selftrain_ensemble
    # Cross-fitting's shares: member m does not learn the images of share m, and labels them.
    share = (np.random.default_rng(config.seed).permutation(len(x)) % n_members if config.selftrain_crossfit
             else None)
    fitted = None
    for round_ in range(config.selftrain_rounds):
        labels[oracle.indices] = oracle.labels()
        use[oracle.indices] = False  # they come in through the repeated labelled stream
        say(f"self-training round {round_ + 1}/{config.selftrain_rounds}: {_cnns(n_members)} on "
            f"{int(use.sum()):,} pseudo-labelled images and the {len(oracle)} labelled ones"
            + (f", each without its {1 / n_members:.0%} share" if share is not None else ""))
        members = [_train_round(x, labels, use if share is None else use & (share != member), oracle, config,
                                config.seed + round_ + 1000 * member)
                   for member in range(n_members)]
        fitted = _average(members)
        rounds.append(int(use.sum()))
        if round_ + 1 < config.selftrain_rounds:
            probs = _label_every_image(x, members, share)
            labels = probs.argmax(axis=1)
            use = confident_per_class(labels, probs.max(axis=1), config.selftrain_keep)
            observe(f"round {round_ + 1}", labels, use)
    if watched:
        observe(f"round {config.selftrain_rounds}",
                _label_every_image(x, members, share).argmax(axis=1), None)
    fitted.info.update({"clusters": n_clusters, "embedding": config.embedding_kind(),
                        "crossfit": share is not None,
                        "selftrain_round_images": rounds})
    return fitted


FITTERS: dict[str, Method] = {"prototype": fit_prototype, "supervised": fit_supervised, "cluster": fit_cluster,
                               "selftrain": fit_selftrain}
