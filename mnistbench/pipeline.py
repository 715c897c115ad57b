"""The input pipeline every training path feeds to Keras: shuffled, batched, reshuffled every epoch.

Keras's own array pipeline (what `fit(x, y, shuffle=True)` builds) draws its permutation from a
stateless op; under TensorFlow's op determinism, which every seeded run turns on, that op gives the
*same* permutation in every epoch. Here the order comes from a seeded `tf.data` shuffle of the
indices with `reshuffle_each_iteration=True`: a new order every epoch, the same sequence of orders for
the same seed on the same machine. Batches are gathered from the arrays by index, so the shuffle
moves integers, not images.

tf.data's autotuning stays off: when `fit` returns, TensorFlow waits for the autotune thread to wake,
which added 0 to 3 s to the end of a 16 s run on the 2-core CI machine, and it bought no speed there.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import tf


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment=None) -> tf.data.Dataset:
    """(x, y) in batches of `batch_size`, in a fresh seeded order every epoch (the last batch may be short).

    `augment`: a Recipe whose ranges (rotation, zoom, shear, shift, elastic_alpha/sigma) warp every batch
    (augment.py), with new draws every epoch and the same ones for the same seed."""
    n = len(x)
    images, labels = tf.constant(x), tf.constant(y)
    order = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment is None:
        dataset = order.map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
    else:
        from .augment import augment_batch  # noqa: PLC0415

        ranges = {k: float(getattr(augment, k)) for k in ("rotation", "zoom", "shear", "shift", "elastic_alpha",
                                                            "elastic_sigma")}
        # One int64 per batch, a new stream every epoch, the same streams for the same seed.
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

        def warp(i, draw):
            pair = tf.stack([tf.constant(seed, tf.int64), draw])
            return augment_batch(tf.gather(images, i), pair, **ranges), tf.gather(labels, i)

        dataset = tf.data.Dataset.zip((order, draws)).map(warp)
    dataset = dataset.prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    steps = math.ceil(n / batch_size)
    return dataset.with_options(options).apply(tf.data.experimental.assert_cardinality(steps))
