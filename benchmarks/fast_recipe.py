"""The fast recipe's clock: full `fast` runs (2 epochs, 55,000 images) under four settings, in one process.

    python -m benchmarks.fast_recipe [--seeds 0 1 2] [--repeat 1]

Settings, run in rotating order for each seed so that the machine's drift hits them alike:
  before   the net with BatchNorm after its first conv, one step per call into TensorFlow (session 3's recipe)
  steps32  the same net, 32 steps per call
  default  the net without that BatchNorm, 32 steps per call: what `mnistbench train accuracy --model fast` runs
  spread   default, plus the busiest threads pinned one per CPU (`--spread-threads`)
Each run is the real recipe through `training.train` into a throwaway board, test set evaluated once, so
the script also checks that settings with the same net give the same accuracy. Reports training seconds,
the ratio against `before` per seed and its median, and writes benchmarks/results/fast_recipe.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import replace

from benchmarks.common import save

OLD_NET = {"first_batchnorm": True}
SETTINGS = {
    "before": {"steps_per_execution": 1, "spread_threads": False, "model_options": OLD_NET},
    "steps32": {"steps_per_execution": 32, "spread_threads": False, "model_options": OLD_NET},
    "default": {"steps_per_execution": 32, "spread_threads": False, "model_options": {}},
    "spread": {"steps_per_execution": 32, "spread_threads": True, "model_options": {}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--data", default=None, help="an MNIST npz [default: mnistbench's own source]")
    args = parser.parse_args()

    from mnistbench.config import TrainConfig
    from mnistbench.data import load_mnist
    from mnistbench.models import get_spec
    from mnistbench.store import Store
    from mnistbench.training import train

    mnist = load_mnist(args.data)
    store = Store(f"sqlite:///{tempfile.mkdtemp()}/fast_recipe.db")
    recipe = get_spec("fast").recipe
    names = list(SETTINGS)
    runs = []
    for rep in range(args.repeat):
        for i, seed in enumerate(args.seeds):
            order = names[(i + rep) % len(names):] + names[:(i + rep) % len(names)]
            for name in order:
                setting = SETTINGS[name]
                config = TrainConfig(benchmark="accuracy", model="fast", seed=seed, save_model=False,
                                     recipe=replace(recipe, steps_per_execution=setting["steps_per_execution"]),
                                     spread_threads=setting["spread_threads"],
                                     model_options=setting["model_options"])
                result = train(config, mnist, store)
                epochs = store.get_run(result.run_id, with_epochs=True).epochs
                runs.append({"setting": name, "net": "old" if setting["model_options"] else "new", "seed": seed,
                             "repeat": rep, "seconds": result.train_seconds, "test_accuracy": result.test_accuracy,
                             "epoch_images_per_s": [e.images_per_s for e in epochs]})
                print(f"seed {seed} {name:8} {result.train_seconds:5.1f} s  test {100 * result.test_accuracy:.2f} %  "
                      f"epochs {' '.join(f'{e.images_per_s:,.0f}' for e in epochs)} images/s", flush=True)

    summary = {}
    for name in names:
        mine = [r for r in runs if r["setting"] == name]
        ratios = [r["seconds"] / p["seconds"] for r in mine for p in runs
                  if p["setting"] == "before" and (p["seed"], p["repeat"]) == (r["seed"], r["repeat"])]
        summary[name] = {"seconds": [round(r["seconds"], 2) for r in mine],
                         "max_seconds": max(r["seconds"] for r in mine),
                         "median_time_ratio_to_before": statistics.median(ratios)}
        times = " / ".join(f"{r['seconds']:.1f}" for r in mine)
        print(f"{name:8} seconds {times}  max {summary[name]['max_seconds']:.1f}"
              f"  time/before median {summary[name]['median_time_ratio_to_before']:.3f}")
    same = all(len({r["test_accuracy"] for r in runs if (r["net"], r["seed"], r["repeat"]) == key}) == 1
               for key in {(r["net"], r["seed"], r["repeat"]) for r in runs})
    print("same test accuracy wherever the net is the same:", same)
    save("fast_recipe", {"runs": runs, "summary": summary, "same_accuracy": same})


if __name__ == "__main__":
    main()
