"""Time to 99 %: our `fast` recipe against Keras ports of two public peers, in one process.

    python -m benchmarks.time_to_99 [--seeds 0 1 2 3 4] [--recipes fast tuomaso keras_io] [--data FILE]

Recipes, trained in a rotating order for each seed so that the machine's drift hits them alike:
  fast      `mnistbench train accuracy --model fast` as the CLI runs it (training.train into a throwaway board:
            55,000 training images, 5,000 held out for validation, the test set evaluated once at the end)
  tuomaso   tuomaso/train_mnist_fast, final notebook: conv 24@5x5 -> maxpool -> ReLU -> conv 32@3x3 -> maxpool
            -> ReLU -> dense 256 -> dense 10; inputs normalised by MNIST's mean and std, the 60,000 images
            shuffled once, one epoch of batch 256, Adam(0.01, betas 0.7/0.9) under PyTorch's OneCycleLR
            (30 % warm-up from peak/25, cosine, down to peak/25/1e4); PyTorch's default initialisation
  keras_io  keras.io/examples/vision/mnist_convnet: conv 32@3x3 -> pool -> conv 64@3x3 -> pool -> dropout 0.5 ->
            dense 10, inputs in [0, 1], Adam defaults, batch 128, 15 epochs, validation_split 0.1
Every peer runs with Keras's fit on in-memory arrays and the same 32 steps per call into TensorFlow that
`fast` uses (the peers' own code has no such knob; it only removes per-step Python overhead), so the ratio
compares recipes, not frameworks. Seconds are training wall-clock (model built and compiled before the
clock starts; test evaluation after it stops). The compute limit is each recipe's training FLOPs
(3 x forward multiply-adds x 2 per image, all epochs) over the float32 matmul peak measured in the same run.
Writes benchmarks/results/time_to_99.json.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import numpy as np

from benchmarks.common import save
from benchmarks.throughput import forward_flops, keras, matmul_peak, tf

STEPS_PER_CALL = 32


class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """PyTorch's OneCycleLR with its defaults (cosine annealing, pct_start 0.3, div_factor 25,
    final_div_factor 1e4), stepped once per batch."""

    def __init__(self, peak: float, total_steps: int, pct_start: float = 0.3, div: float = 25.0,
                 final_div: float = 1e4):
        self.peak, self.total = peak, total_steps
        self.initial = peak / div
        self.final = self.initial / final_div
        self.up = float(pct_start * total_steps) - 1
        self.down = float(total_steps) - 1 - self.up

    def __call__(self, step):
        step = tf.cast(step, tf.float32)

        def cos(start, end, fraction):
            return end + (start - end) / 2 * (1 + tf.cos(math.pi * tf.clip_by_value(fraction, 0.0, 1.0)))

        return tf.where(step <= self.up, cos(self.initial, self.peak, step / self.up),
                        cos(self.peak, self.final, (step - self.up) / self.down))

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total}


def torch_default(fan_in: int):
    """PyTorch's default init for Conv2d and Linear weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    limit = 1 / math.sqrt(fan_in)
    return {"kernel_initializer": keras.initializers.RandomUniform(-limit, limit),
            "bias_initializer": keras.initializers.RandomUniform(-limit, limit)}


def tuomaso_model() -> keras.Model:
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(24, 5, **torch_default(25)), L.MaxPooling2D(2), L.ReLU(),  # (12, 12, 24)
        L.Conv2D(32, 3, **torch_default(24 * 9)), L.MaxPooling2D(2), L.ReLU(),  # (5, 5, 32)
        L.Flatten(),
        L.Dense(256, activation="relu", **torch_default(800)),
        L.Dense(10, **torch_default(256)),
    ], name="tuomaso")


def keras_io_model() -> keras.Model:
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
        L.Flatten(), L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ], name="keras_io")


def run_tuomaso(mnist, seed: int) -> dict:
    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(mnist.x_train))  # its data_saver shuffles once
    mean, std = 0.1307, 0.3081
    x = ((mnist.x_train[order, ..., None] / 255.0 - mean) / std).astype("float32")
    y = mnist.y_train[order].astype("int64")
    x_test = ((mnist.x_test[..., None] / 255.0 - mean) / std).astype("float32")
    batch = 256
    steps = math.ceil(len(x) / batch)
    model = tuomaso_model()
    model.compile(optimizer=keras.optimizers.Adam(OneCycle(0.01, steps), beta_1=0.7, beta_2=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  steps_per_execution=STEPS_PER_CALL)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, mnist.y_test, batch_size=2000, verbose=0)
    return {"seconds": seconds, "test_accuracy": float(accuracy), "images": len(x), "epochs": 1, "model": model}


def run_keras_io(mnist, seed: int) -> dict:
    keras.utils.set_random_seed(seed)
    x = (mnist.x_train[..., None] / 255.0).astype("float32")
    y = keras.utils.to_categorical(mnist.y_train, 10)
    model = keras_io_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"],
                  steps_per_execution=STEPS_PER_CALL)
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=15, validation_split=0.1, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate((mnist.x_test[..., None] / 255.0).astype("float32"),
                                 keras.utils.to_categorical(mnist.y_test, 10), verbose=0)
    return {"seconds": seconds, "test_accuracy": float(accuracy), "images": int(len(x) * 0.9), "epochs": 15,
            "model": model}


def run_fast(mnist, seed: int, store) -> dict:
    from mnistbench.config import TrainConfig
    from mnistbench.models import create_model, get_spec
    from mnistbench.training import train

    config = TrainConfig(benchmark="accuracy", model="fast", seed=seed, save_model=False,
                         recipe=get_spec("fast").recipe)
    result = train(config, mnist, store)
    return {"seconds": result.train_seconds, "test_accuracy": result.test_accuracy,
            "images": 60_000 - config.val_size, "epochs": get_spec("fast").recipe.epochs,
            "model": create_model("fast")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--recipes", nargs="+", default=["fast", "tuomaso", "keras_io"],
                        choices=["fast", "tuomaso", "keras_io"])
    parser.add_argument("--data", default=None, help="an MNIST npz [default: mnistbench's own source]")
    args = parser.parse_args()

    from mnistbench.data import load_mnist
    from mnistbench.environment import cpu_flags, device_name
    from mnistbench.store import Store

    mnist = load_mnist(args.data)
    store = Store(f"sqlite:///{tempfile.mkdtemp()}/time_to_99.db")
    runners = {"fast": lambda seed: run_fast(mnist, seed, store),
               "tuomaso": lambda seed: run_tuomaso(mnist, seed),
               "keras_io": lambda seed: run_keras_io(mnist, seed)}
    names = args.recipes
    peak = matmul_peak()
    print(f"{device_name()} [{cpu_flags()}]; float32 matmul peak {peak:.1f} GFLOP/s", flush=True)
    runs, flops = [], {}
    for i, seed in enumerate(args.seeds):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            out = runners[name](seed)
            model = out.pop("model")
            flops[name] = 3 * forward_flops(model) * out["images"] * out["epochs"]
            runs.append({"recipe": name, "seed": seed, **out})
            print(f"seed {seed} {name:9} {out['seconds']:6.1f} s  test {100 * out['test_accuracy']:.2f} %", flush=True)

    summary = {}
    for name in names:
        mine = [r for r in runs if r["recipe"] == name]
        accuracies = [100 * r["test_accuracy"] for r in mine]
        summary[name] = {"median_seconds": statistics.median(r["seconds"] for r in mine),
                         "mean_test": statistics.mean(accuracies), "min_test": min(accuracies),
                         "std_test": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                         "train_gflop": flops[name] / 1e9, "compute_limit_s": flops[name] / 1e9 / peak}
    reference = summary.get("fast")
    print("\n| recipe | median train s | test % mean ± std | min test % | time / fast | train GFLOP | "
          "compute limit s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in summary.items():
        ratio = row["median_seconds"] / reference["median_seconds"] if reference else float("nan")
        row["time_ratio_to_fast"] = ratio
        print(f"| {name} | {row['median_seconds']:.1f} | {row['mean_test']:.2f} ± {row['std_test']:.2f} | "
              f"{row['min_test']:.2f} | {ratio:.2f} | {row['train_gflop']:.0f} | {row['compute_limit_s']:.1f} |")
    peers = [n for n in summary if n != "fast"]
    if reference and peers:
        best = min(peers, key=lambda n: summary[n]["median_seconds"])
        print(f"fast / best peer ({best}): {reference['median_seconds'] / summary[best]['median_seconds']:.2f}x "
              f"the time (goal <= 0.6x), mean {reference['mean_test']:.2f} % (goal >= 99.0), "
              f"min {reference['min_test']:.2f} % (goal >= 98.9)")
    save("time_to_99", {"device": device_name(), "tensorflow": tf.__version__, "matmul_peak_gflop_s": peak,
                        "seeds": args.seeds, "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
