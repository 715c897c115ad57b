"""Training throughput of every zoo model: mnistbench's own training path against a plain `model.fit`.

    python -m benchmarks.throughput [--data PATH] [--images 8000] [--epochs 3] [--repeat 2] [--models baseline,fast]

For each model, in one process and with the same thread settings, alternated --repeat times: (1) `mnistbench.training.train` with
augmentation off, (2) the same with augmentation on, (3) a plain `model.fit` on in-memory numpy arrays of
the same images, model and batch size. Images/s are measured over the epochs after the first (which
includes graph tracing). The achieved GFLOP/s (3x the forward FLOPs per image: forward, and a backward
pass of about twice that) is set against a float32 matrix-multiply peak measured in the same run.
Prints a table and writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace

from benchmarks.common import save

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mnistbench import data as data_mod  # noqa: E402
from mnistbench.config import TrainConfig  # noqa: E402
from mnistbench.environment import device_name  # noqa: E402
from mnistbench.models import create_model, get_spec, list_models  # noqa: E402
from mnistbench.store import Store  # noqa: E402
from mnistbench.training import set_determinism, train  # noqa: E402


def forward_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of the convolutions and dense layers for one image."""
    total = 0
    for layer in model.layers:
        out = layer.output.shape
        if isinstance(layer, keras.layers.SeparableConv2D):
            k = np.prod(layer.kernel_size)
            cin = layer.input.shape[-1]
            total += 2 * out[1] * out[2] * (k * cin + cin * out[-1])
        elif isinstance(layer, keras.layers.Conv2D):
            k = np.prod(layer.kernel_size)
            total += 2 * out[1] * out[2] * out[-1] * k * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * out[-1]
    return int(total)


def matmul_peak(n: int = 2048, repeat: int = 10) -> float:
    """float32 GFLOP/s of an n x n matrix multiply through TensorFlow, best of `repeat`."""
    a = tf.random.uniform((n, n))
    b = tf.random.uniform((n, n))
    tf.linalg.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self.times = []


def plain_fit(name: str, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, seed: int) -> float:
    set_determinism(seed)
    model = create_model(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    return len(x) / statistics.median(timer.times[1:])


def ours(name: str, mnist, store, images: int, batch_size: int, epochs: int, augment: bool, seed: int) -> float:
    spec = get_spec(name)
    recipe = replace(spec.recipe, epochs=epochs, batch_size=batch_size, augment=augment, callbacks=(),
                     schedule="constant", label_smoothing=0.0, optimizer="adam")
    config = TrainConfig(benchmark="accuracy", model=name, recipe=recipe, seed=seed, val_size=0,
                         train_size=images, save_model=False)
    result = train(config, mnist, store, evaluate_test=False)
    run = store.get_run(result.run_id, with_epochs=True)
    return statistics.median(e.images_per_s for e in run.epochs[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    parser.add_argument("--images", type=int, default=8_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", default=",".join(list_models()))
    parser.add_argument("--repeat", type=int, default=2, help="alternate plain and ours this often; best of each")
    args = parser.parse_args()
    mnist = data_mod.load_mnist(args.data)
    store = Store(f"sqlite:///{tempfile.mkdtemp()}/throughput.db")
    peak = matmul_peak()
    rows = []
    for name in args.models.split(","):
        batch = get_spec(name).recipe.batch_size
        split = data_mod.split(mnist, val_size=0, train_size=args.images, seed=0)
        flops = 3 * forward_flops(create_model(name))
        plains, mines, augmenteds = [], [], []
        for i in range(args.repeat):
            # Interleaved, and in A-B / B-A order on alternate rounds so that neither path always runs
            # first; best of each, since a shared machine's noise only ever slows a run down.
            order = ("plain", "ours") if i % 2 == 0 else ("ours", "plain")
            for which in order:
                if which == "plain":
                    plains.append(plain_fit(name, split.x_train, split.y_train, batch, args.epochs, 0))
                else:
                    mines.append(ours(name, mnist, store, args.images, batch, args.epochs, False, 0))
            augmenteds.append(ours(name, mnist, store, args.images, batch, args.epochs, True, 0))
        plain, mine, augmented = max(plains), max(mines), max(augmenteds)
        row = {"model": name, "batch_size": batch, "plain_img_s": plain, "ours_img_s": mine,
               "ratio": mine / plain, "median_pair_ratio": statistics.median(m / p for m, p in zip(mines, plains)),
               "plain_runs": plains, "ours_runs": mines, "ours_augmented_img_s": augmented, "augmented_ratio": augmented / plain,
               "train_mflop_per_image": flops / 1e6, "gflop_s": mine * flops / 1e9,
               "fraction_of_peak": mine * flops / 1e9 / peak}
        rows.append(row)
        print(f"{name:9} batch {batch:4}  plain {plain:8,.0f} img/s  ours {mine:8,.0f} ({row['ratio']:.3f}; "
              f"pairs {row['median_pair_ratio']:.3f})  "
              f"augmented {augmented:8,.0f} ({row['augmented_ratio']:.3f})  "
              f"{row['gflop_s']:6.1f} GFLOP/s = {100 * row['fraction_of_peak']:.0f} % of peak", flush=True)
    result = {"device": device_name(), "tensorflow": tf.__version__, "matmul_peak_gflop_s": peak,
              "images": args.images, "epochs": args.epochs, "models": rows}
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s on {result['device']}")
    save("throughput", result)


if __name__ == "__main__":
    main()
