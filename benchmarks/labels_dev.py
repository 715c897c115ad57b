"""Design tool of the minimum-labels benchmark: a labels method scored on the development subset.

    python -m benchmarks.labels_dev [--k 10] [--seed 0] [--set FIELD=VALUE ...] [--holdout 5000] [--data PATH]

Runs the selftrain method as a run would (label-free selection on its embedding, the k labels through
a LabelOracle), then reads the labels of the declared development subset (mnistbench/labels/devset.py:
10,000 training images) to score every stage: the named clusters, each self-training round's labels,
the share of them the next round learns from and how pure that share is. With --holdout N, the first N
development images are taken out of the learner's images altogether, and the final classifier is scored on
them as a test set would score it (the learnt ones flatter it: it has seen them under their pseudo-labels,
and the final round only repeats them). The test set is not loaded
into any score, and nothing is recorded on a board: this is how the method's knobs were chosen, not a
result. Writes benchmarks/results/labels_dev-k{K}-s{SEED}[-TAG].json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import save
from mnistbench import data as data_mod
from mnistbench.config import parse_settings
from mnistbench.environment import cpu_flags, device_name
from mnistbench.labels import selection as sel
from mnistbench.labels.devset import dev_accuracy, dev_indices
from mnistbench.labels.embedding import embedding
from mnistbench.labels.methods import fit_selftrain
from mnistbench.labels.oracle import LabelOracle
from mnistbench.labels.settings import LabelsConfig


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--data", default=None)
    parser.add_argument("--tag", default="", help="appended to the result file's name")
    parser.add_argument("--holdout", type=int, default=0,
                        help="this many development images are taken out of the learner's images and score the "
                             "final classifier as unseen images (a stand-in for the test set)")
    args = parser.parse_args(argv)
    fields, _ = parse_settings(args.set, LabelsConfig)
    config = LabelsConfig(k=args.k, seed=args.seed, select="kmeans", features="embedding", method="selftrain",
                          **fields).validate()
    mnist = data_mod.load_mnist(args.data)
    dev = dev_indices(len(mnist.y_train))
    unseen = dev[:args.holdout]  # the first `holdout` of the (sorted) development indices
    learner = np.setdiff1d(np.arange(len(mnist.y_train)), unseen)
    x, hidden = mnist.x_train[learner], mnist.y_train[learner]  # `hidden` is read only by the scores below
    seen_dev = np.flatnonzero(np.isin(learner, dev))  # development images among the learner's, as positions

    def score(labels, mask=None):
        return round(100 * dev_accuracy(labels, hidden, mask, positions=seen_dev), 2)

    print(f"{device_name()} ({cpu_flags()}); {config.embedding_kind()} embedding, "
          f"k={config.k}, seed {config.seed}; {len(x):,} images learnt from, {len(unseen):,} held out")
    start = time.perf_counter()
    features, embed_seconds = embedding(x, seed=config.seed, epochs=config.embedding_epochs,
                                        dims=config.embedding_dims, kind=config.embedding_kind())
    clustering = sel.mixture_clusters(features, config.k, config.seed) if config.k <= sel.MIXTURE_MAX_K else None
    chosen = sel.select_kmeans(features, config.k, config.seed, metric="euclidean", images=x, clustering=clustering)
    oracle = LabelOracle(hidden, chosen.indices)
    stages = []

    def observe(stage, labels, use):
        row = {"stage": stage, "seconds": round(time.perf_counter() - start, 1), "dev_accuracy": score(labels)}
        if use is not None:
            row.update(learnt_share=round(float(use.mean()), 3), learnt_purity=score(labels, use))
        stages.append(row)
        print("  ".join(f"{k} {v}" for k, v in row.items()), flush=True)

    fitted = fit_selftrain(x, oracle, config, features=features, clustering=clustering, observe=observe)
    # The final classifier on the held-out images, as a test set would score it (without any, on the
    # learnt development images, which it has seen under their pseudo-labels).
    scored_x, scored_y = ((mnist.x_train[unseen], mnist.y_train[unseen]) if len(unseen)
                          else (x[seen_dev], hidden[seen_dev]))
    predicted = fitted.predict(scored_x)
    final = round(100 * float(np.mean(predicted == scored_y)), 2)
    print(f"final classifier on the {'held-out' if len(unseen) else 'learnt'} development images: {final}", flush=True)
    # Its mistakes by (true, predicted) pair, most common first, and each class's share of its predictions
    # against its share of the truth: whole styles read as a neighbour show as a few large pairs.
    wrong, counts = np.unique(np.stack([scored_y, predicted])[:, predicted != scored_y], axis=1, return_counts=True)
    pairs = [[int(t), int(p), int(n)] for (t, p), n in zip(wrong.T, counts, strict=True)]
    pairs.sort(key=lambda row: -row[2])
    print("mistakes, true -> predicted: " + ", ".join(f"{t}->{p} {n}" for t, p, n in pairs[:8]), flush=True)
    shares = {int(c): [round(float(np.mean(predicted == c)), 4), round(float(np.mean(scored_y == c)), 4)]
              for c in range(sel.N_CLASSES)}
    result = {"config": config.to_dict(), "embedding_seconds": round(embed_seconds, 1),
              "seconds": round(time.perf_counter() - start, 1), "stages": stages,
              "held_out": len(unseen), "final": final,
              "mistakes": pairs, "class_shares_predicted_true": shares}
    save(f"labels_dev-k{config.k}-s{config.seed}{'-' + args.tag if args.tag else ''}", result)
    return result


if __name__ == "__main__":
    main()
