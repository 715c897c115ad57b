"""A label-free embedding of the training images: an autoencoder's code, then UMAP (the N2D recipe).

Neither step reads a label. Cached by the images' digest and the settings, with the seconds it took.
"""

from __future__ import annotations

import time

import numpy as np


def embedding(x: np.ndarray, seed: int = 0, epochs: int = 20, dims: int = 10, say=None) -> tuple[np.ndarray, float]:
    """A label-free embedding of the images: an autoencoder's code, then UMAP (the N2D recipe).

    The autoencoder compresses 784 pixels to 10 numbers while keeping what reconstructs the digit;
    UMAP then pulls same-digit codes into tight, separable clusters. Neither reads a label.
    Returns (features, seconds it took). Cached by the images' digest and the seed; a cached copy
    reports the seconds of the run that computed it, so a board's timings stay honest. `say(message)`
    hears of each autoencoder epoch and of the UMAP stage.
    """
    from ..data import cache_path, digest  # noqa: PLC0415

    cached = cache_path().parent / "embeddings" / f"ae-umap-{digest(x)[:16]}-s{seed}-e{epochs}-d{dims}.npz"
    if cached.exists():
        with np.load(cached) as f:
            return f["features"], float(f["seconds"])
    start = time.perf_counter()
    features = _compute_embedding(x, seed, epochs, dims, say or (lambda message: None))
    seconds = time.perf_counter() - start
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, features=features, seconds=seconds)
    except OSError:
        pass  # a read-only cache only costs the next run the same minutes
    return features, seconds


def _compute_embedding(x: np.ndarray, seed: int, epochs: int, dims: int, say) -> np.ndarray:
    import umap  # noqa: PLC0415

    from ..backend import keras  # noqa: PLC0415
    from ..pipeline import batches  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    flat = x.reshape(len(x), -1).astype(np.float32) / 255.0
    inputs = keras.Input((784,))
    h = inputs
    for units in (500, 500, 2000):
        h = keras.layers.Dense(units, activation="relu")(h)
    code = keras.layers.Dense(dims)(h)
    h = code
    for units in (2000, 500, 500):
        h = keras.layers.Dense(units, activation="relu")(h)
    autoencoder = keras.Model(inputs, keras.layers.Dense(784)(h))
    autoencoder.compile("adam", "mse")
    started = time.perf_counter()

    def tell(epoch, logs):
        say(f"autoencoder epoch {epoch + 1}/{epochs}: reconstruction loss {logs['loss']:.4f} "
            f"({time.perf_counter() - started:.0f} s)")

    autoencoder.fit(batches(flat, flat, 256, seed), shuffle=False, epochs=epochs, verbose=0,
                    callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=tell)])
    say(f"UMAP of the {len(x):,} codes to {dims} dimensions")
    codes = keras.Model(inputs, code).predict(flat, batch_size=2048, verbose=0)
    reducer = umap.UMAP(n_neighbors=min(20, len(x) - 1), n_components=dims, min_dist=0.0, random_state=seed,
                        n_jobs=1)
    return reducer.fit_transform(codes).astype(np.float32)
