"""The minimum-parameters search: the smallest width of a family that reaches a target on validation.

Candidates are chosen on validation accuracy only; the test set is touched once, for the winner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from .config import TrainConfig
from .errors import ConfigError
from .models import create_model, get_spec, parameter_counts
from .artifacts import evaluate_saved
from .training import train


@dataclass
class Attempt:
    width: int
    run_id: int
    params_total: int
    val_accuracy: float | None


@dataclass
class SmallestOutcome:
    attempts: list[Attempt] = field(default_factory=list)
    best: Attempt | None = None
    test_run_id: int | None = None
    test_accuracy: float | None = None


def find_smallest(config: TrainConfig, mnist, store, *, target: float = 0.99, observer=None,
                  widths: tuple[int, ...] | None = None) -> SmallestOutcome:
    """Train widths from the largest down; stop at the first that misses `target` on validation and
    evaluate the smallest one that reached it on the test set (once)."""
    spec = get_spec(config.model)
    widths = tuple(sorted(widths or spec.widths, reverse=True))
    if not widths:
        raise ConfigError(f"model {config.model!r} has no widths to search; use a family such as tiny")
    if config.val_size <= 0:
        raise ConfigError("--find-smallest chooses on validation accuracy: it needs --val-size > 0")
    start = config.model_options.get("width")
    if start is not None:
        widths = tuple(w for w in widths if w <= start) or (start,)
    outcome = SmallestOutcome()
    tag = f"find-smallest-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"  # groups the attempts in `runs`
    for width in widths:
        candidate = replace(config, model_options={**config.model_options, "width": width}, save_model=True)
        result = train(candidate, mnist, store, observer=observer, evaluate_test=False,
                       extra={"sweep": tag, "trial": width})
        attempt = Attempt(width, result.run_id, parameter_counts(create_model(config.model, width=width))[0],
                          result.val_accuracy)
        outcome.attempts.append(attempt)
        if result.status != "finished" or (attempt.val_accuracy or 0) < target:
            break
        outcome.best = attempt
    if outcome.best is not None:
        outcome.test_run_id = outcome.best.run_id
        outcome.test_accuracy, seconds = evaluate_saved(store, outcome.best.run_id, mnist)
        store.update_run(outcome.best.run_id, test_accuracy=outcome.test_accuracy, eval_seconds=seconds)
    return outcome
