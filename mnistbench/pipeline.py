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


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """(x, y) in batches of `batch_size`, in a fresh seeded order every epoch (the last batch may be short)."""
    n = len(x)
    images, labels = tf.constant(x), tf.constant(y)
    order = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True)
    dataset = order.batch(batch_size).map(lambda i: (tf.gather(images, i), tf.gather(labels, i))).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    steps = math.ceil(n / batch_size)
    return dataset.with_options(options).apply(tf.data.experimental.assert_cardinality(steps))
