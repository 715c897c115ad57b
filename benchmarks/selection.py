"""Label selection speed on the 60,000 training images, against the seed's quadratic double loop.

    python -m benchmarks.selection [--data PATH] [--embedding]

With --embedding, also the label-free selection the cluster method uses (a Gaussian mixture on the
autoencoder+UMAP embedding), timed on the cached embedding (computed first if it is not cached: minutes).

The seed's loop is timed on a sample of pairs with scipy's cosine and extrapolated to all same-class
pairs; ours is timed end to end (median of 5, after a warm-up). Writes benchmarks/results/selection.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.spatial.distance import cosine

from benchmarks.common import save
from mnistbench.data import load_mnist
from mnistbench.labels import selection as sel


def median_time(fn, repeat=5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def embedding_cases(x: np.ndarray, wanted: bool) -> dict:
    if not wanted:
        return {}
    from mnistbench.labels.embedding import embedding  # noqa: PLC0415

    features, _ = embedding(x, seed=0)
    return {f"kmeans embedding k={k}": (lambda k=k: sel.select_kmeans(features, k, 0, metric="euclidean", images=x))
            for k in (10,)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    parser.add_argument("--embedding", action="store_true", help="also time selection on the learnt embedding")
    args = parser.parse_args()
    mnist = load_mnist(args.data)
    x, y = mnist.x_train, mnist.y_train
    flat = x.reshape(len(x), -1).astype(np.float64)

    pairs = 20_000
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(x), pairs), rng.integers(0, len(x), pairs)
    start = time.perf_counter()
    for a, b in zip(i, j, strict=True):
        cosine(flat[a], flat[b])
    per_pair = (time.perf_counter() - start) / pairs
    same_class_pairs = int(sum(n * (n - 1) for n in np.bincount(y)))
    loop_estimate = per_pair * same_class_pairs

    results = {"seed double loop (extrapolated)": loop_estimate, "per pair us": per_pair * 1e6}
    for name, fn in {
        "cosine k=10": lambda: sel.select_cosine(x, y, 10),
        "cosine k=100": lambda: sel.select_cosine(x, y, 100),
        "kmeans pixels k=10": lambda: sel.select_kmeans(x, 10),
        "kmeans pixels k=100": lambda: sel.select_kmeans(x, 100),
        "random k=100": lambda: sel.select_random(len(x), 100),
        **embedding_cases(x, args.embedding),
    }.items():
        results[name] = median_time(fn)
    print(f"seed's double loop: {per_pair * 1e6:.1f} us a pair x {same_class_pairs:,} pairs = "
          f"{loop_estimate / 3600:.2f} h (extrapolated)")
    for name, seconds in results.items():
        if name.startswith(("cosine", "kmeans", "random")):
            print(f"{name:22} {seconds:7.3f} s   {loop_estimate / seconds:12,.0f}x faster than the loop")
    save("selection", results)


if __name__ == "__main__":
    main()
