"""Training throughput of every zoo model: mnistbench's own training path against a plain `model.fit`.

    python -m benchmarks.throughput [--data PATH] [--images 6000] [--epochs 5] [--repeat 4] [--models baseline,fast]
    python -m benchmarks.throughput --pool run1.json run2.json   # saved runs side by side
    python -m benchmarks.throughput --small-nets [--repeat 3]    # shared before/after (benchmarks/small_nets.py)

For each model, in one process and with the same thread settings: --repeat pairs of (1) a plain
`model.fit` on in-memory numpy arrays and (2) `mnistbench.training.train` with augmentation off, on the
same images, model and batch size, in A-B / B-A order on alternate rounds; plus two runs of (3) `train`
with augmentation on, reported beside them. All are timed by the same callback over the epochs after
the first (which includes graph tracing), in wall seconds and in process CPU seconds.

On a small virtual machine an epoch runs in one of two scheduler states, at random and for both paths
alike: TensorFlow's threads spread over the CPUs, or stacked on one (on the 2-core CI machine: about
1.7 cores busy against 1.05, and 7,500 against 4,700 images/s for the same fit). A ratio of medians then
mostly counts which path drew more slow epochs, so the ratio is given three ways: the median of the
paired fits (with a 90 % bootstrap interval), like against like within each state (`state_split`), and
best epoch against best epoch. Beside them: the time our recorder's epoch hooks take, the only
per-epoch work our path adds, and the achieved GFLOP/s (3x the forward FLOPs per image: forward, and a
backward pass of about twice that) against a float32 matrix-multiply peak measured in the same run.
Prints a table and writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.common import save

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mnistbench import data as data_mod  # noqa: E402
from mnistbench.config import TrainConfig  # noqa: E402
from mnistbench.environment import device_name  # noqa: E402
from mnistbench.models import create_model, get_spec, list_models  # noqa: E402
from mnistbench.store import Store  # noqa: E402
from mnistbench.training import _Recorder, set_determinism, train  # noqa: E402


def forward_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of the convolutions and dense layers for one image; a layer applied several
    times (the shared model's block) counts once per call."""
    return int(sum(_layer_flops(layer) * max(1, len(getattr(layer, "_inbound_nodes", []))) for layer in model.layers))


def _layer_flops(layer) -> int:
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.Dense)):
        return 0
    out, cin = layer.output.shape, layer.input.shape[-1]
    if isinstance(layer, keras.layers.SeparableConv2D):
        return 2 * out[1] * out[2] * (np.prod(layer.kernel_size) * cin + cin * out[-1])
    if isinstance(layer, keras.layers.Conv2D):
        return 2 * out[1] * out[2] * out[-1] * np.prod(layer.kernel_size) * cin
    return 2 * cin * out[-1]


def bootstrap_ci(ratios: list[float], level: float = 0.9, draws: int = 10_000) -> tuple[float, float]:
    """A bootstrap confidence interval of the median of paired ratios: the machine's noise (a third
    of the wall-clock rate between runs of the same fit) makes a single ratio meaningless."""
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(ratios, size=(draws, len(ratios))), axis=1)
    return float(np.quantile(medians, (1 - level) / 2)), float(np.quantile(medians, (1 + level) / 2))


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
    """The one instrument both paths are timed with: wall seconds and process CPU seconds per epoch.

    CPU seconds (all of the process's threads) are less inflated by a noisy neighbour: on this shared
    2-core machine the wall-clock images/s of the same fit varied by a third between runs."""

    def on_train_begin(self, logs=None):
        self.wall, self.cpu = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.wall.append(time.perf_counter() - self.start)
        self.cpu.append(time.process_time() - self.cpu_start)

    def epochs(self, images: int) -> list[Epoch]:
        """The epochs after the first (which includes graph tracing)."""
        return [Epoch(images / wall, images / cpu, cpu / wall) for wall, cpu in zip(self.wall[1:], self.cpu[1:], strict=True)]


@dataclass(frozen=True)
class Epoch:
    """One timed epoch: images per wall second, images per CPU second, and the cores it kept busy."""
    wall_rate: float
    cpu_rate: float
    cores: float


def fit_rates(epochs: list[Epoch]) -> tuple[float, float]:
    """A fit's (images per wall second, images per CPU second): medians over its timed epochs."""
    return statistics.median(e.wall_rate for e in epochs), statistics.median(e.cpu_rate for e in epochs)


def state_split(cores: list[float], min_gap: float = 0.3) -> float | None:
    """The cores value that separates the two scheduler states, or None when there is one.

    On this 2-core VM an epoch of the same fit runs either with its threads on both CPUs (about 1.7
    cores busy) or stacked on one (about 1.05, and exactly the images/s of `taskset -c 0`), at random
    from epoch to epoch and for both paths alike. A ratio of medians then mostly measures how many
    epochs of each path drew the slow state. The split is Otsu's: the threshold with the largest
    between-class variance, over both paths' epochs pooled so the same threshold serves both."""
    values = sorted(cores)
    if len(values) < 4 or values[-1] - values[0] < min_gap:
        return None
    best, split = -1.0, None
    for i in range(1, len(values)):
        low, high = values[:i], values[i:]
        between = len(low) * len(high) * (statistics.fmean(high) - statistics.fmean(low)) ** 2
        if between > best:
            best, split = between, (values[i - 1] + values[i]) / 2
    return split


@dataclass(frozen=True)
class StateRatio:
    """ours/plain median wall images/s over the epochs of one scheduler state, with a 90 % bootstrap
    interval (each path's epochs resampled on their own) and how many epochs each path had there."""
    ratio: float | None
    ci90: tuple[float, float] | None
    plain_epochs: int
    our_epochs: int


def state_ratio(plain: list[Epoch], ours: list[Epoch], split: float | None, fast: bool, min_epochs: int = 3,
                draws: int = 10_000) -> StateRatio:
    """Like against like in one state (fast: threads spread over the CPUs); no ratio where either path
    has fewer than `min_epochs` epochs in that state."""
    def pick(epochs):
        return np.array([e.wall_rate for e in epochs if split is None or (e.cores > split) == fast])
    p, o = pick(plain), pick(ours)
    if len(p) < min_epochs or len(o) < min_epochs:
        return StateRatio(None, None, len(p), len(o))
    rng = np.random.default_rng(0)
    ratios = (np.median(rng.choice(o, size=(draws, len(o))), axis=1)
              / np.median(rng.choice(p, size=(draws, len(p))), axis=1))
    ci = (float(np.quantile(ratios, 0.05)), float(np.quantile(ratios, 0.95)))
    return StateRatio(float(np.median(o) / np.median(p)), ci, len(p), len(o))


def plain_fit(name: str, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, seed: int
              ) -> list[Epoch]:
    set_determinism(seed)
    model = create_model(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    return timer.epochs(len(x))


def ours(name: str, mnist, store, images: int, batch_size: int, epochs: int, augment: bool, seed: int
         ) -> list[Epoch]:
    spec = get_spec(name)
    recipe = replace(spec.recipe, epochs=epochs, batch_size=batch_size, augment=augment, callbacks=(),
                     schedule="constant", label_smoothing=0.0, optimizer="adam")
    config = TrainConfig(benchmark="accuracy", model=name, recipe=recipe, seed=seed, val_size=0,
                         train_size=images, save_model=False)
    timer = EpochTimer()
    train(config, mnist, store, evaluate_test=False, callbacks=[timer])
    return timer.epochs(images)


class HookClock:
    """Times the only per-epoch code our path adds to `fit`: the _Recorder's epoch hooks (recording the
    epoch in the store, keeping the best weights). Unlike a wall-clock ratio, this is not blurred by the
    machine's noise, so it bounds our overhead directly."""

    def __enter__(self):
        self.seconds, self.epochs = 0.0, 0
        self.saved = _Recorder.on_epoch_begin, _Recorder.on_epoch_end
        begin, end = self.saved

        def timed(hook, counts):
            def wrapper(recorder, *args, **kwargs):
                start = time.perf_counter()
                try:
                    return hook(recorder, *args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start
                    self.epochs += counts
            return wrapper

        _Recorder.on_epoch_begin, _Recorder.on_epoch_end = timed(begin, 0), timed(end, 1)
        return self

    def __exit__(self, *exc):
        _Recorder.on_epoch_begin, _Recorder.on_epoch_end = self.saved

    @property
    def ms_per_epoch(self) -> float:
        return 1000 * self.seconds / max(self.epochs, 1)


def summarise(name: str, batch: int, plains: list[list[Epoch]], mines: list[list[Epoch]],
              augmenteds: list[list[Epoch]], hook_ms: list[float], flops: int, peak: float) -> dict:
    """One model's row: the ratio three ways (paired fits; per scheduler state; best epoch), the hooks'
    cost, augmentation, and GFLOP/s."""
    plain_epochs, our_epochs, aug_epochs = ([e for run in runs for e in run] for runs in (plains, mines, augmenteds))
    pairs = [(fit_rates(m), fit_rates(p)) for m, p in zip(mines, plains, strict=True)]
    wall_pairs = [ours[0] / plain[0] for ours, plain in pairs]
    cpu_pairs = [ours[1] / plain[1] for ours, plain in pairs]
    split = state_split([e.cores for e in plain_epochs + our_epochs])
    two_cpu = state_ratio(plain_epochs, our_epochs, split, fast=True)
    one_cpu = state_ratio(plain_epochs, our_epochs, split, fast=False)
    augmented_two_cpu = state_ratio(plain_epochs, aug_epochs, split, fast=True, min_epochs=1).ratio
    plain, mine, augmented = (statistics.median(e.wall_rate for e in epochs)
                              for epochs in (plain_epochs, our_epochs, aug_epochs))
    hooks = statistics.median(hook_ms)
    return {
        "model": name, "batch_size": batch, "plain_img_s": plain, "ours_img_s": mine,
        # The ratio, paired fit by fit: blurred by how many epochs of each fit drew the slow state.
        "ratio": statistics.median(wall_pairs), "ratio_ci90": bootstrap_ci(wall_pairs),
        "cpu_ratio": statistics.median(cpu_pairs), "cpu_ratio_ci90": bootstrap_ci(cpu_pairs),
        # Like against like: epochs in the same scheduler state (see state_split).
        "cores_split": split, "two_cpu": asdict(two_cpu), "one_cpu": asdict(one_cpu),
        "best_epoch_ratio": max(e.wall_rate for e in our_epochs) / max(e.wall_rate for e in plain_epochs),
        "hook_ms_per_epoch": hooks, "hook_ms_runs": hook_ms,
        # Our added work per full epoch of 55,000 images at the plain rate: the ratio it allows.
        "ratio_bound_full_epoch": (55_000 / plain) / (55_000 / plain + hooks / 1000),
        "ours_augmented_img_s": augmented, "augmented_ratio": augmented / plain,
        "augmented_ratio_two_cpu": augmented_two_cpu,
        "plain_runs": [[asdict(e) for e in run] for run in plains],
        "ours_runs": [[asdict(e) for e in run] for run in mines],
        "augmented_runs": [[asdict(e) for e in run] for run in augmenteds],
        "train_mflop_per_image": flops / 1e6, "gflop_s": mine * flops / 1e9,
        "fraction_of_peak": mine * flops / 1e9 / peak,
    }


def print_row(row: dict) -> None:
    def ratio(value):
        return "  -  " if value is None else f"{value:.3f}"

    def state(name):
        st = row[name]
        ci = "" if st["ci90"] is None else f" [{st['ci90'][0]:.3f}, {st['ci90'][1]:.3f}]"
        return f"{ratio(st['ratio'])}{ci} (epochs {st['plain_epochs']}/{st['our_epochs']})"
    low, high = row["ratio_ci90"]
    print(f"{row['model']:9} batch {row['batch_size']:4}  plain {row['plain_img_s']:7,.0f} img/s  "
          f"ours {row['ours_img_s']:7,.0f}  ratio {row['ratio']:.3f} [{low:.3f}, {high:.3f}]  "
          f"two-CPU {state('two_cpu')}  one-CPU {state('one_cpu')}  "
          f"best epoch {row['best_epoch_ratio']:.3f}  cpu {row['cpu_ratio']:.3f}  "
          f"hooks {row['hook_ms_per_epoch']:.1f} ms/epoch  augmented {row['ours_augmented_img_s']:7,.0f} "
          f"({row['augmented_ratio']:.3f}; two-CPU {ratio(row['augmented_ratio_two_cpu'])})  "
          f"{row['gflop_s']:6.1f} GFLOP/s = {100 * row['fraction_of_peak']:.0f} % of peak", flush=True)


def pool(paths: list[str]) -> None:
    """Several saved runs side by side: each run's ratios, then their geometric mean.

    Runs are blocks, never merged epoch by epoch: the same plain fit ran 25 % faster in one run than in
    another on this machine, so merged epochs would compare one path's good hour with the other's bad."""
    results = [json.loads(Path(path).read_text())["result"] for path in paths]
    peak = statistics.median(r["matmul_peak_gflop_s"] for r in results)
    keys = ("ratio", "two_cpu", "one_cpu", "best_epoch_ratio", "cpu_ratio")
    rows = []
    for name in dict.fromkeys(row["model"] for r in results for row in r["models"]):
        per_run = []
        for row in (row for r in results for row in r["models"] if row["model"] == name):
            plains, mines, augmenteds = ([[Epoch(**e) for e in run] for run in row[key]]
                                         for key in ("plain_runs", "ours_runs", "augmented_runs"))
            hook_ms = row.get("hook_ms_runs", [row["hook_ms_per_epoch"]])
            per_run.append(summarise(name, row["batch_size"], plains, mines, augmenteds, hook_ms,
                                     row["train_mflop_per_image"] * 1e6, peak))
        values = {key: [run[key]["ratio"] if isinstance(run[key], dict) else run[key] for run in per_run]
                  for key in keys}
        combined = {key: geometric_mean([v for v in vs if v is not None]) for key, vs in values.items()}
        rows.append({"model": name, "runs": len(per_run), "per_run": values, "geometric_mean": combined})
        print(f"{name:9} " + "  ".join(
            f"{key} {combined[key]:.3f} ({', '.join('-' if v is None else f'{v:.3f}' for v in vs)})"
            for key, vs in values.items() if combined[key] is not None), flush=True)
    save("throughput-pooled", {"device": results[0]["device"], "tensorflow": results[0]["tensorflow"],
                               "matmul_peak_gflop_s": peak, "pooled": [str(p) for p in paths], "models": rows})


def geometric_mean(values: list[float]) -> float | None:
    return float(np.exp(np.mean(np.log(values)))) if values else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", nargs="+", metavar="JSON",
                        help="no training: each saved run's ratios side by side, and their geometric mean")
    parser.add_argument("--data", default=None)
    parser.add_argument("--images", type=int, default=6_000)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fit; the first is not timed")
    parser.add_argument("--models", default=",".join(list_models()))
    parser.add_argument("--repeat", type=int, default=4, help="plain/ours pairs per model (A-B, B-A, ...)")
    parser.add_argument("--small-nets", action="store_true",
                        help="instead: the small nets' speed before and after session 7 (benchmarks/small_nets.py, "
                             "which takes the other options)")
    if "--small-nets" in sys.argv:
        from benchmarks import small_nets  # noqa: PLC0415

        return small_nets.main([a for a in sys.argv[1:] if a != "--small-nets"])
    args = parser.parse_args()
    if args.pool:
        return pool(args.pool)
    mnist = data_mod.load_mnist(args.data)
    store = Store(f"sqlite:///{tempfile.mkdtemp()}/throughput.db")
    peak = matmul_peak()
    rows = []
    for name in args.models.split(","):
        batch = get_spec(name).recipe.batch_size
        split = data_mod.split(mnist, val_size=0, train_size=args.images, seed=0)
        flops = 3 * forward_flops(create_model(name))
        plains, mines, augmenteds, hook_ms, hooks = [], [], [], [], HookClock()
        for i in range(args.repeat):
            # Interleaved, and in A-B / B-A order on alternate rounds so that neither path always runs
            # first. Each entry is one fit's timed epochs.
            order = ("plain", "ours") if i % 2 == 0 else ("ours", "plain")
            for which in order:
                if which == "plain":
                    plains.append(plain_fit(name, split.x_train, split.y_train, batch, args.epochs, 0))
                else:
                    with hooks:
                        mines.append(ours(name, mnist, store, args.images, batch, args.epochs, False, 0))
                    hook_ms.append(hooks.ms_per_epoch)
            if i < 2:  # augmentation is reported, not compared: two runs are enough
                augmenteds.append(ours(name, mnist, store, args.images, batch, args.epochs, True, 0))
        rows.append(summarise(name, batch, plains, mines, augmenteds, hook_ms, flops, peak))
        print_row(rows[-1])
    result = {"device": device_name(), "tensorflow": tf.__version__, "matmul_peak_gflop_s": peak,
              "images": args.images, "epochs": args.epochs, "models": rows}
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s on {result['device']}")
    save("throughput", result)


if __name__ == "__main__":
    main()
