"""Label-free embeddings of the training images, each cached by the images' digest and its settings:

- autoencoder: an autoencoder's code, then UMAP (the N2D recipe; the cluster method's);
- deskewed: the deskewed images' 50 principal components, then UMAP (the selftrain method's): purer
  clusters in a third of the time (labels/deskew.py).

No step reads a label.
"""

from __future__ import annotations

import time

import numpy as np


def embedding(x: np.ndarray, seed: int = 0, epochs: int = 20, dims: int = 10, say=None,
              kind: str = "autoencoder") -> tuple[np.ndarray, float]:
    """A label-free embedding of the images: an autoencoder's code, then UMAP (the N2D recipe).

    The autoencoder compresses 784 pixels to 10 numbers while keeping what reconstructs the digit;
    UMAP then pulls same-digit codes into tight, separable clusters. Neither reads a label.
    Returns (features, seconds it took). Cached by the images' digest and the seed; a cached copy
    reports the seconds of the run that computed it, so a board's timings stay honest. `say(message)`
    hears of each autoencoder epoch and of the UMAP stage. `kind` "deskewed" skips the autoencoder
    (`epochs` is then unused).
    """
    from ..data import cache_path, digest  # noqa: PLC0415

    name = (f"ae-umap-{digest(x)[:16]}-s{seed}-e{epochs}-d{dims}" if kind == "autoencoder"
            else f"deskew-pca-umap-{digest(x)[:16]}-s{seed}-d{dims}")
    cached = cache_path().parent / "embeddings" / f"{name}.npz"
    if cached.exists():
        with np.load(cached) as f:
            return f["features"], float(f["seconds"])
    start = time.perf_counter()
    say = say or (lambda message: None)
    features = _deskewed_umap(x, seed, dims, say) if kind == "deskewed" else _compute_embedding(x, seed, epochs, dims, say)
    seconds = time.perf_counter() - start
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, features=features, seconds=seconds)
    except OSError:
        pass  # a read-only cache only costs the next run the same minutes
    return features, seconds


def _umap(points: np.ndarray, seed: int, dims: int) -> np.ndarray:
    import umap  # noqa: PLC0415

    reducer = umap.UMAP(n_neighbors=min(20, len(points) - 1), n_components=dims, min_dist=0.0, random_state=seed,
                        n_jobs=1)
    return reducer.fit_transform(points).astype(np.float32)


def _deskewed_umap(x: np.ndarray, seed: int, dims: int, say) -> np.ndarray:
    from sklearn.decomposition import PCA  # noqa: PLC0415

    from .deskew import deskew  # noqa: PLC0415

    flat = deskew(x).reshape(len(x), -1).astype(np.float32) / 255.0
    components = min(50, len(x), flat.shape[1])
    say(f"UMAP of the {len(x):,} deskewed images' {components} principal components to {dims} dimensions")
    return _umap(PCA(components, random_state=seed).fit_transform(flat), seed, dims)


def _compute_embedding(x: np.ndarray, seed: int, epochs: int, dims: int, say) -> np.ndarray:
    from ..backend import keras  # noqa: PLC0415
    from ..config import Recipe  # noqa: PLC0415
    from ..fitting import compile_for, fit  # noqa: PLC0415

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
    recipe = Recipe(optimizer="adam", lr=1e-3, schedule="constant", callbacks=(), batch_size=256, epochs=epochs)
    compile_for(autoencoder, recipe, len(flat), loss="mse", metrics=())
    started = time.perf_counter()

    def tell(epoch, logs):
        say(f"autoencoder epoch {epoch + 1}/{epochs}: reconstruction loss {logs['loss']:.4f} "
            f"({time.perf_counter() - started:.0f} s)")

    fit(autoencoder, flat, flat, recipe, seed, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=tell)])
    say(f"UMAP of the {len(x):,} codes to {dims} dimensions")
    codes = keras.Model(inputs, code).predict(flat, batch_size=2048, verbose=0)
    return _umap(codes, seed, dims)
