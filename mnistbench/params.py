"""The minimum-parameters search: the smallest width of a family that reaches a target on validation.

Candidates are chosen on validation accuracy only; the test set is touched once, for the winner.

A walk takes hours on a laptop (a `shared` run is 10-20 minutes, a width three of them), so it resumes:
a width and seed that the board already holds as a finished run of the very same configuration, its
model saved, is taken from the board instead of trained again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from .aggregate import configuration, configuration_of
from .artifacts import evaluate_saved
from .config import Status, TrainConfig
from .errors import ConfigError
from .models import create_model, get_spec, parameter_counts
from .training import recorded_config, train


@dataclass
class Attempt:
    """One width of the walk: a run per seed, judged by their mean validation accuracy."""

    width: int
    run_ids: list[int]
    params_total: int
    val_accuracies: list[float | None]
    reused: list[int] = field(default_factory=list)  # run ids taken from the board, not trained here
    interrupted: bool = False  # a seed was stopped: the width has no mean

    @property
    def run_id(self) -> int:
        return self.run_ids[0]

    @property
    def val_accuracy(self) -> float | None:
        if self.interrupted:
            return None
        values = [v for v in self.val_accuracies if v is not None]
        return sum(values) / len(values) if len(values) == len(self.val_accuracies) and values else None


@dataclass
class SmallestOutcome:
    attempts: list[Attempt] = field(default_factory=list)
    best: Attempt | None = None
    test_run_ids: list[int] = field(default_factory=list)
    test_accuracies: list[float] = field(default_factory=list)
    interrupted: bool = False  # a candidate was stopped (Ctrl-C, SIGTERM): the walk ended there

    @property
    def test_run_id(self) -> int | None:
        return self.test_run_ids[0] if self.test_run_ids else None

    @property
    def test_accuracy(self) -> float | None:
        return sum(self.test_accuracies) / len(self.test_accuracies) if self.test_accuracies else None


def reusable_run(store, candidate: TrainConfig):
    """The latest finished run of exactly `candidate`'s configuration and seed whose saved model is still
    there and unchallenged, or None."""
    wanted = configuration_of(candidate.benchmark, candidate.model, recorded_config(candidate))
    for run in reversed(store.runs(benchmark=candidate.benchmark, model=candidate.model, status=Status.finished)):
        if (run.seed == candidate.seed and run.val_accuracy is not None and not run.members
                and run.verification != "mismatch" and configuration(run) == wanted):
            model_file = store.model_file(run)
            if model_file is not None and model_file.exists():
                return run
    return None


def find_smallest(config: TrainConfig, mnist, store, *, target: float = 0.99, observer=None,
                  widths: tuple[int, ...] | None = None, seeds: list[int] | None = None,
                  resume: bool = True) -> SmallestOutcome:
    """Train widths from the largest down, each with every seed; stop at the first width whose mean
    validation accuracy misses `target`, and evaluate the smallest one that reached it on the test set,
    once per seed. The test set never steers the walk. With `resume`, a width and seed already on the
    board (`reusable_run`) is taken from it."""
    spec = get_spec(config.model)
    widths = tuple(sorted(widths or spec.widths, reverse=True))
    if not widths:
        raise ConfigError(f"model {config.model!r} has no widths to search; use a family such as tiny")
    if config.val_size <= 0:
        raise ConfigError("--find-smallest chooses on validation accuracy: it needs --val-size > 0")
    start = config.model_options.get("width")
    if start is not None:
        widths = tuple(w for w in widths if w <= start) or (start,)
    seeds = list(seeds) if seeds else [config.seed]
    outcome = SmallestOutcome()
    tag = f"find-smallest-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"  # groups the attempts in `runs`
    for width in widths:
        attempt = Attempt(width, [], parameter_counts(create_model(config.model, width=width))[0], [])
        finished = True
        for seed in seeds:
            candidate = replace(config, seed=seed, model_options={**config.model_options, "width": width},
                                save_model=True)
            earlier = reusable_run(store, candidate) if resume else None
            if earlier is not None:
                attempt.run_ids.append(earlier.id)
                attempt.val_accuracies.append(earlier.val_accuracy)
                attempt.reused.append(earlier.id)
                continue
            result = train(candidate, mnist, store, observer=observer, evaluate_test=False,
                           extra={"sweep": tag, "trial": width})
            attempt.run_ids.append(result.run_id)
            attempt.val_accuracies.append(result.val_accuracy)
            if result.status != Status.finished:  # stopped by the user: no further seed or width
                finished, attempt.interrupted = False, True
                break
        outcome.attempts.append(attempt)
        outcome.interrupted = not finished
        if not finished or (attempt.val_accuracy or 0) < target:
            break
        outcome.best = attempt
    if outcome.best is not None:
        for run_id in outcome.best.run_ids:
            accuracy, seconds = evaluate_saved(store, run_id, mnist)
            store.update_run(run_id, test_accuracy=accuracy, eval_seconds=seconds)
            outcome.test_run_ids.append(run_id)
            outcome.test_accuracies.append(accuracy)
    return outcome


def pareto_curve(attempts: list[Attempt]) -> list[Attempt]:
    """The attempts no other attempt beats with fewer parameters and a higher mean validation accuracy,
    fewest parameters first."""
    ranked = sorted(attempts, key=lambda a: (a.params_total, -(a.val_accuracy or 0)))
    front, best = [], -1.0
    for attempt in ranked:
        if (attempt.val_accuracy or 0) > best:
            front.append(attempt)
            best = attempt.val_accuracy or 0
    return front
