"""Augmentation's price: images/s of a plain epoch, of an epoch augmented in the input pipeline (what
mnistbench does, mnistbench/augment.py), and of one augmented by Keras preprocessing layers in the
model's forward pass (what it did before), for the same model, batch and data, in one process.

    python -m benchmarks.augment [--models baseline tuned deotte fast] [--images 6000] [--epochs 4] [--rounds 3]

Each round fits every setting once, in a rotating order, so the machine's drift hits them alike; an
epoch's rate is images over its wall seconds, the first epoch of every fit (tracing) left out. Prints the
median rate of each setting and the paired ratio to plain (median over rounds); writes
benchmarks/results/augment.json.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from benchmarks.common import save
from benchmarks.throughput import EpochTimer, keras

SETTINGS = ("plain", "pipeline", "layers")


def layer_augmenter(recipe) -> keras.Sequential:
    """The old way: the seed's ranges as Keras preprocessing layers, four resampling passes per step."""
    fill = {"fill_mode": "nearest"}
    return keras.Sequential([
        keras.layers.RandomRotation(recipe.rotation / 360, **fill),
        keras.layers.RandomZoom(recipe.zoom, **fill),
        keras.layers.RandomShear(x_factor=recipe.shear, y_factor=recipe.shear, **fill),
        keras.layers.RandomTranslation(recipe.shift, recipe.shift, **fill),
    ], name="augment")


def fit_rate(name: str, setting: str, x, y, batch: int, epochs: int, seed: int) -> list[float]:
    from mnistbench.config import Recipe
    from mnistbench.models import create_model
    from mnistbench.pipeline import batches
    from mnistbench.training import set_determinism

    set_determinism(seed)
    recipe = Recipe()  # the seed's ranges: rotation 15, zoom 0.15, shear 0.1, shift 0.1
    net = create_model(name)
    model = keras.Sequential([layer_augmenter(recipe), net]) if setting == "layers" else net
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    timer = EpochTimer()
    data = batches(x, y, batch, seed, augment=recipe if setting == "pipeline" else None)
    model.fit(data, epochs=epochs, verbose=0, callbacks=[timer])
    return [e.wall_rate for e in timer.epochs(len(x))][1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["baseline", "tuned", "deotte", "fast"])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", default=None, help="an MNIST npz [default: mnistbench's own source]")
    args = parser.parse_args()

    from mnistbench.data import load_mnist, to_float
    from mnistbench.environment import cpu_flags, device_name
    from mnistbench.models import get_spec

    mnist = load_mnist(args.data)
    x, y = to_float(mnist.x_train[:args.images]), mnist.y_train[:args.images].astype(np.int64)
    print(f"{device_name()} [{cpu_flags()}]", flush=True)
    rows = []
    for name in args.models:
        batch = get_spec(name).recipe.batch_size
        rates = {s: [] for s in SETTINGS}
        for round_ in range(args.rounds):
            order = SETTINGS[round_ % 3:] + SETTINGS[:round_ % 3]
            for setting in order:
                rates[setting].append(statistics.median(fit_rate(name, setting, x, y, batch, args.epochs, round_)))
        ratio = {s: statistics.median(a / p for a, p in zip(rates[s], rates["plain"], strict=True)) for s in SETTINGS}
        row = {"model": name, "batch": batch, **{f"{s}_images_per_s": statistics.median(rates[s]) for s in SETTINGS},
               **{f"{s}_over_plain": ratio[s] for s in SETTINGS}, "rounds": rates}
        rows.append(row)
        print(f"{name:9} batch {batch:4}  plain {row['plain_images_per_s']:7,.0f}  pipeline {row['pipeline_images_per_s']:7,.0f} "
              f"({ratio['pipeline']:.2f}x)  layers {row['layers_images_per_s']:7,.0f} ({ratio['layers']:.2f}x) images/s",
              flush=True)
    print("\n| model | batch | plain img/s | pipeline-augmented img/s | pipeline / plain "
          "| layer-augmented img/s | layers / plain |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['plain_images_per_s']:,.0f} | {r['pipeline_images_per_s']:,.0f} | "
              f"**{r['pipeline_over_plain']:.2f}** | {r['layers_images_per_s']:,.0f} | {r['layers_over_plain']:.2f} |")
    save("augment", {"device": device_name(), "cpu_flags": cpu_flags(), "images": args.images, "epochs": args.epochs,
                     "rounds": args.rounds, "models": rows})


if __name__ == "__main__":
    main()
