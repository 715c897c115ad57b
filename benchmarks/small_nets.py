"""The small nets' training speed before and after session 7's changes, in one process.

    python -m benchmarks.small_nets [--data PATH] [--images 12000] [--epochs 4] [--repeat 3]
    python -m benchmarks.throughput --small-nets   # the same
    python -m benchmarks.small_nets --parts [--repeat 3]   # where one training step's time goes

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

`--parts` times each kind of layer in `shared` alone instead, forward and backward at the recipe's
batch size and at the shape it has in the net, the harness's own cost (an identity layer) taken off;
each is multiplied by how often the net applies it, and set beside the whole net's step timed the same
way. It answers which lever could make a params run several times faster: a part's share bounds what
removing it would buy. Writes benchmarks/results/small_net_parts.json.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
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


# name: (layer factory, input shape without the batch, times applied in `shared` at width 26)
PARTS = {
    "conv 3x3, 8 filters (28x28x1 in)": (lambda: keras.layers.Conv2D(8, 3), (28, 28, 1), 1),
    "ReLU (26x26x8)": (lambda: keras.layers.ReLU(), (26, 26, 8), 1),
    "SampleNorm (26x26x8)": (lambda: models.SampleNorm(), (26, 26, 8), 1),
    "Dropout 0.1 (26x26x8)": (lambda: keras.layers.Dropout(0.1), (26, 26, 8), 1),
    "max-pool 2 (26x26x8)": (lambda: keras.layers.MaxPooling2D(2), (26, 26, 8), 1),
    "separable conv, valid (13x13x8 in)": (lambda: keras.layers.SeparableConv2D(26, 3), (13, 13, 8), 1),
    "separable conv, same (11x11x26)": (lambda: keras.layers.SeparableConv2D(26, 3, padding="same"), (11, 11, 26), 3),
    "ReLU (11x11x26)": (lambda: keras.layers.ReLU(), (11, 11, 26), 4),
    "SampleNorm (11x11x26)": (lambda: models.SampleNorm(), (11, 11, 26), 4),
    "Dropout 0.1 (11x11x26)": (lambda: keras.layers.Dropout(0.1), (11, 11, 26), 4),
}


def time_step(layer, shape, batch: int, steps: int, input_gradient: bool = True) -> tuple[float, float]:
    """(wall ms, CPU ms) of one forward and backward pass of `layer` on a random batch; the gradient
    reaches the layer's weights, and its input where a layer before it needs that."""
    x = tf.random.normal((batch, *shape))
    layer(x)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True))
        sources = ([x] if input_gradient else []) + list(layer.trainable_variables)
        return [tf.reduce_sum(g) for g in tape.gradient(loss, sources) if g is not None]

    step(x)  # trace
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        out = step(x)
    [t.numpy() for t in out]  # the last step has finished
    return (time.perf_counter() - wall) / steps * 1e3, (time.process_time() - cpu) / steps * 1e3


def parts(batch: int, steps: int, repeat: int) -> dict:
    """Medians over `repeat` interleaved rounds of every part, the identity harness and the whole net."""
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in [*PARTS, "identity", "whole net"]}
    for _ in range(repeat):
        timings["identity"].append(time_step(keras.layers.Identity(), (26, 26, 8), batch, steps))
        for name, (make, shape, _) in PARTS.items():
            timings[name].append(time_step(make(), shape, batch, steps, input_gradient=not name.startswith("conv")))
        timings["whole net"].append(time_step(models.create_model("shared"), (28, 28, 1), batch, steps,
                                              input_gradient=False))
    median = {name: tuple(statistics.median(t[i] for t in runs) for i in (0, 1)) for name, runs in timings.items()}
    harness = median["identity"]
    rows = [{"part": name, "times_applied": count,
             "wall_ms": max(0.0, median[name][0] - harness[0]) * count,
             "cpu_ms": max(0.0, median[name][1] - harness[1]) * count}
            for name, (_, _, count) in PARTS.items()]
    return {"rows": rows, "harness_ms": harness, "whole_net_ms": median["whole net"], "batch": batch,
            "steps": steps, "repeat": repeat}


def print_parts(result: dict) -> None:
    total = sum(r["cpu_ms"] for r in result["rows"])
    print("| part of `shared` | times applied | wall ms a step | CPU ms a step | share of the parts' CPU ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in result["rows"]:
        print(f"| {r['part']} | {r['times_applied']} | {r['wall_ms']:.1f} | {r['cpu_ms']:.1f} | "
              f"{r['cpu_ms'] / total:.0%} |")
    whole = result["whole_net_ms"]
    print(f"| sum of the parts | | {sum(r['wall_ms'] for r in result['rows']):.1f} | {total:.1f} | |")
    print(f"| the whole net (forward and backward, no optimiser) | | {whole[0] - result['harness_ms'][0]:.1f} | "
          f"{whole[1] - result['harness_ms'][1]:.1f} | |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    parser.add_argument("--images", type=int, default=12_000)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit; the first is not timed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parts", action="store_true", help="instead: time each kind of layer of shared alone")
    parser.add_argument("--steps", type=int, default=200, help="--parts: steps timed per part and round")
    args = parser.parse_args(argv)
    if args.parts:
        batch = models.get_spec("shared").recipe.batch_size
        result = parts(batch, args.steps, args.repeat)
        print_parts(result)
        print(f"{device_name()}, {cpu_flags()}; TensorFlow {tf.__version__}; batch {batch}, "
              f"{args.steps} steps x {args.repeat} rounds")
        save("small_net_parts", {"device": device_name(), "cpu_flags": cpu_flags(), **result})
        return
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
