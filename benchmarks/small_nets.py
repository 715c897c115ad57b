"""The small nets' training speed before and after session 7's changes, in one process.

    python -m benchmarks.small_nets [--data PATH] [--images 12000] [--epochs 4] [--repeat 3]
    python -m benchmarks.throughput --small-nets   # the same

`shared` (the params board's default net) is trained through `mnistbench.training.train`, the CLI's
path, in five variants that change one thing at a time:

- before: `SampleNorm` differentiated by TensorFlow, dropout 0.1, batch 128 (sessions 1-6);
- after: `SampleNorm`'s derivative written out (mnistbench/models.py), the same recipe: the change made;
- + batch 256, and + no dropout: what two recipe changes would buy. Neither is the default: at 30
  epochs without dropout `shared` reached 98.87 % (RESULTS.md, session 7), short of the 99.1 % of the
  40-epoch recipe with it;
- after, mixed bfloat16: the default recipe computing in bfloat16 (for CPUs with AVX512_BF16 or AMX).

Fits are interleaved, in forward and reverse order on alternate rounds. Each is timed over its epochs
after the first (graph tracing) in wall seconds and in process CPU seconds; images per CPU second are
the steadier figure on a shared 2-core VM, whose wall-clock speed of the same fit moves by a third as
TensorFlow's threads land on one or both CPUs. Prints a table and the seconds a full params run of each
variant would take at its measured wall rate (the default recipe's epochs); writes benchmarks/results/small_nets.json.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
from dataclasses import replace

from benchmarks.common import save
from benchmarks.throughput import EpochTimer, matmul_peak

from mnistbench import data as data_mod
from mnistbench import models
from mnistbench.backend import keras, tf
from mnistbench.config import TrainConfig
from mnistbench.environment import cpu_flags, device_name
from mnistbench.store import Store
from mnistbench.training import train

FULL_RUN_IMAGES = 55_000  # a params run's training images per epoch


class AutodiffSampleNorm(models.SampleNorm):
    """The layer as it was until session 7: the same function, its gradient left to TensorFlow."""

    def call(self, x):
        axes = tuple(range(1, len(x.shape)))
        mean = keras.ops.mean(x, axis=axes, keepdims=True)
        variance = keras.ops.var(x, axis=axes, keepdims=True)
        return self.gamma * (x - mean) * keras.ops.rsqrt(variance + self.epsilon) + self.beta


@contextlib.contextmanager
def sample_norm(layer_class):
    """Builders look SampleNorm up when they run: swap it for the length of a fit."""
    saved = models.SampleNorm
    models.SampleNorm = layer_class
    try:
        yield
    finally:
        models.SampleNorm = saved


# name: (SampleNorm class, batch size, dropout, precision)
VARIANTS = {
    "before": (AutodiffSampleNorm, 128, 0.1, "float32"),
    "after: custom gradient": (models.SampleNorm, 128, 0.1, "float32"),
    "+ batch 256": (models.SampleNorm, 256, 0.1, "float32"),
    "+ batch 256, no dropout": (models.SampleNorm, 256, 0.0, "float32"),
    # bfloat16 compute: where the CPU has AVX512_BF16 or AMX, oneDNN's convolutions run in it.
    "after, mixed bfloat16": (models.SampleNorm, 128, 0.1, "mixed_bfloat16"),
}


def timed_fit(variant: str, mnist, store: Store, images: int, epochs: int) -> tuple[float, float]:
    """(images per wall second, images per CPU second): medians over the fit's epochs after the first."""
    layer_class, batch, dropout, precision = VARIANTS[variant]
    recipe = replace(models.get_spec("shared").recipe, epochs=epochs, batch_size=batch, precision=precision)
    config = TrainConfig(benchmark="params", model="shared", recipe=recipe, model_options={"dropout": dropout},
                         val_size=0, train_size=images, save_model=False)
    timer = EpochTimer()
    with sample_norm(layer_class):
        train(config, mnist, store, evaluate_test=False, callbacks=[timer])
    rates = timer.epochs(images)
    return statistics.median(e.wall_rate for e in rates), statistics.median(e.cpu_rate for e in rates)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    parser.add_argument("--images", type=int, default=12_000)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit; the first is not timed")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    mnist = data_mod.load_mnist(args.data)
    store = Store(f"sqlite:///{tempfile.mkdtemp()}/small_nets.db")
    peak = matmul_peak()
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for round_ in range(args.repeat):
        for name in (list(VARIANTS) if round_ % 2 == 0 else list(VARIANTS)[::-1]):
            rates[name].append(timed_fit(name, mnist, store, args.images, args.epochs))
    epochs = models.get_spec("shared").recipe.epochs
    rows, base = [], None
    for name, (_, batch, dropout, precision) in VARIANTS.items():
        wall = statistics.median(r[0] for r in rates[name])
        cpu = statistics.median(r[1] for r in rates[name])
        base = base or (wall, cpu)
        rows.append({"variant": name, "batch_size": batch, "dropout": dropout, "precision": precision,
                     "wall_img_s": wall, "cpu_img_s": cpu,
                     "wall_runs": [r[0] for r in rates[name]], "cpu_runs": [r[1] for r in rates[name]],
                     "wall_ratio": wall / base[0], "cpu_ratio": cpu / base[1], "full_run_epochs": epochs,
                     "full_run_s": epochs * FULL_RUN_IMAGES / wall})
    print("| shared variant | batch | dropout | img/s (wall) | img per CPU-s | wall / before | CPU / before "
          "| full run: epochs | full run: s at this rate |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['variant']} | {row['batch_size']} | {row['dropout']} | {row['wall_img_s']:,.0f} | "
              f"{row['cpu_img_s']:,.0f} | {row['wall_ratio']:.2f} | {row['cpu_ratio']:.2f} | "
              f"{row['full_run_epochs']} | {row['full_run_s']:,.0f} |")
    machine = f"{device_name()}, {cpu_flags()}, float32 matmul peak {peak:.0f} GFLOP/s"
    print(f"{machine}; TensorFlow {tf.__version__}; {args.images:,} images x {args.epochs} epochs per fit, "
          f"{args.repeat} rounds")
    save("small_nets", {"device": device_name(), "cpu_flags": cpu_flags(), "tensorflow": tf.__version__,
                        "matmul_peak_gflop_s": peak, "images": args.images, "epochs": args.epochs,
                        "repeat": args.repeat, "variants": rows})


if __name__ == "__main__":
    main()
