"""Design tool of the minimum-labels benchmark: a labels method scored on the development subset.

    python -m benchmarks.labels_dev [--k 10] [--seed 0] [--set FIELD=VALUE ...] [--data PATH]

Runs the selftrain method as a run would (label-free selection on its embedding, the k labels through
a LabelOracle), then reads the labels of the declared development subset (mnistbench/labels/devset.py:
10,000 training images) to score every stage: the named clusters, each self-training round's labels,
the share of them the next round learns from and how pure that share is. The test set is not loaded
into any score, and nothing is recorded on a board: this is how the method's knobs were chosen, not a
result. Writes benchmarks/results/labels_dev-k{K}-s{SEED}[-TAG].json.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import save

from mnistbench import data as data_mod
from mnistbench.config import LabelsConfig, parse_settings
from mnistbench.environment import cpu_flags, device_name
from mnistbench.labels import selection as sel
from mnistbench.labels.devset import dev_accuracy
from mnistbench.labels.embedding import embedding
from mnistbench.labels.methods import fit_selftrain
from mnistbench.labels.oracle import LabelOracle


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--data", default=None)
    parser.add_argument("--tag", default="", help="appended to the result file's name")
    args = parser.parse_args(argv)
    fields, _ = parse_settings(args.set, LabelsConfig)
    config = LabelsConfig(k=args.k, seed=args.seed, select="kmeans", features="embedding", method="selftrain",
                          **fields).validate()
    mnist = data_mod.load_mnist(args.data)
    x, hidden = mnist.x_train, mnist.y_train  # `hidden` is read only by the scores below
    print(f"{device_name()} ({cpu_flags()}); {config.embedding_kind()} embedding, "
          f"k={config.k}, seed {config.seed}")
    start = time.perf_counter()
    features, embed_seconds = embedding(x, seed=config.seed, epochs=config.embedding_epochs,
                                        dims=config.embedding_dims, kind=config.embedding_kind())
    chosen = sel.select_kmeans(features, config.k, config.seed, metric="euclidean", images=x)
    oracle = LabelOracle(hidden, chosen.indices)
    stages = []

    def observe(stage, labels, use):
        row = {"stage": stage, "seconds": round(time.perf_counter() - start, 1),
               "dev_accuracy": round(100 * dev_accuracy(labels, hidden), 2)}
        if use is not None:
            row.update(learnt_share=round(float(use.mean()), 3),
                       learnt_purity=round(100 * dev_accuracy(labels, hidden, use), 2))
        stages.append(row)
        print("  ".join(f"{k} {v}" for k, v in row.items()), flush=True)

    fit_selftrain(x, oracle, config, features=features, observe=observe)
    result = {"config": config.to_dict(), "embedding_seconds": round(embed_seconds, 1),
              "seconds": round(time.perf_counter() - start, 1), "stages": stages}
    save(f"labels_dev-k{config.k}-s{config.seed}{'-' + args.tag if args.tag else ''}", result)
    return result


if __name__ == "__main__":
    main()
