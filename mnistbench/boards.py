"""The three boards of single runs, ranked by the rules of rules.py. Pure functions over recorded runs: no
database, no printing.

Beside the rules: the accuracy board ranked by time (fastest validation accuracy to a mark, DAWNBench
style), the labels board's best accuracy at each label count, and the test-selected runs shown unranked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Benchmark, Status
from .errors import ConfigError
from .rules import RULES, Entry

BOARDS = Benchmark.values()


@dataclass
class Column:
    key: str
    header: str
    kind: str = "text"  # text | int | pct | seconds


@dataclass
class Board:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict] = field(default_factory=list)
    caption: str = ""


def _acc(run) -> float:
    return run.test_accuracy if run.test_accuracy is not None else -1.0


def _common(run, rank: int) -> dict:
    return {
        "rank": rank, "run": run.id, "model": run.model, "test_accuracy": run.test_accuracy,
        "val_accuracy": run.val_accuracy, "params": run.params_total, "labels": run.labels_used,
        "params_trainable": run.params_trainable,
        "params_non_trainable": (run.params_total - run.params_trainable
                                 if run.params_total is not None and run.params_trainable is not None else None),
        "epochs": run.epochs_run, "train_seconds": run.train_seconds, "device": run.device,
        "flags": run.flags or "", "verified": run.verification or "",
        "status": run.status, "date": run.created_at.strftime("%Y-%m-%d") if run.created_at else "",
        "sweep": f"{run.sweep}#{run.trial}" if run.sweep else "",
    }


def _ranked(board: str, runs, target: float | None = None) -> tuple[list, list]:
    """(ranked, missed) runs of `board` by its rule."""
    ranked, missed = RULES[board].rank([Entry.of_run(r) for r in runs], target)
    return [e.item for e in ranked], [e.item for e in missed]


def _finished(runs, benchmarks) -> list:
    """The finished runs of `benchmarks` that may be ranked: with a test accuracy, and none test-selected."""
    return [r for r in runs if r.status == Status.finished and r.benchmark in benchmarks and r.test_accuracy is not None
            and not test_selected(r)]


TEST_SELECTED = "test-selected"  # the flag of a run whose test set chose something (`train --seed-protocol`)


def test_selected(run) -> bool:
    """A run whose figure the test set helped choose: shown for comparison, below the ranked ones, never ranked."""
    return TEST_SELECTED in (run.flags or "").split(", ")


def _shown_unranked(runs, benchmarks) -> list:
    return sorted((r for r in runs if r.status == Status.finished and r.benchmark in benchmarks
                   and r.test_accuracy is not None and test_selected(r)), key=lambda r: (-_acc(r), r.id))


BASE_COLUMNS = [Column("rank", "#", "int"), Column("run", "run", "int"), Column("model", "model")]
TAIL_COLUMNS = [Column("flags", "flags"), Column("verified", "verified"), Column("date", "date")]


def accuracy_board(runs, *, top: int | None = None, time_to: float | None = None) -> Board:
    finished = _finished(runs, RULES["accuracy"].members)
    if time_to is None:
        ranked, _ = _ranked("accuracy", finished)
        title, caption = "Maximum accuracy", "best test accuracy first"
        extra = []
    else:
        key = {99.0: "time_to_99", 99.5: "time_to_995"}.get(float(time_to))
        if key is None:
            raise ConfigError("--time-to takes 99 or 99.5")
        ranked = sorted((r for r in finished if getattr(r, key) is not None),
                        key=lambda r: (getattr(r, key), -_acc(r), r.id))
        title = f"Time to {time_to:g} % validation accuracy"
        caption = "training seconds until validation accuracy first reached the mark (DAWNBench style)"
        extra = [Column("time_to", f"s to {time_to:g} %", "seconds"), Column("epoch_to", "epoch", "int")]
    rows = []
    for i, run in enumerate(ranked[:top] if top else ranked, 1):
        row = _common(run, i)
        if time_to is not None:
            row["time_to"] = getattr(run, key)
            row["epoch_to"] = getattr(run, key.replace("time", "epoch"))
        rows.append(row)
    unranked = _shown_unranked(runs, {"accuracy"}) if time_to is None and not top else []
    if unranked:
        rows += [_common(run, None) for run in unranked]
        caption += "; test-selected runs below, unranked"
    columns = [*BASE_COLUMNS, *extra, Column("test_accuracy", "test acc", "pct"),
               Column("val_accuracy", "val acc", "pct"), Column("params", "params", "int"),
               Column("epochs", "epochs", "int"), Column("train_seconds", "train s", "seconds"),
               Column("device", "device"), *TAIL_COLUMNS]
    return Board("accuracy", title, columns, rows, caption)


def params_board(runs, *, target: float | None = None, top: int | None = None) -> Board:
    """Ranked: runs reaching the target. Below them, unranked, the params runs that missed it."""
    target = RULES["params"].goal(target)
    reaching, missing = _ranked("params", _finished(runs, RULES["params"].members), target)
    rows = [{**_common(r, i), "reaches": "yes"} for i, r in enumerate(reaching[:top] if top else reaching, 1)]
    if not top:
        rows += [{**_common(r, None), "reaches": "no"} for r in missing]
        rows += [{**_common(r, None), "reaches": "never ranked"} for r in _shown_unranked(runs, {"params"})]
    columns = [*BASE_COLUMNS, Column("params", "params", "int"), Column("params_trainable", "trainable", "int"),
               Column("params_non_trainable", "non-trainable", "int"), Column("reaches", "reaches target"),
               Column("test_accuracy", "test acc", "pct"),
               Column("val_accuracy", "val acc", "pct"), Column("train_seconds", "train s", "seconds"),
               Column("device", "device"), *TAIL_COLUMNS]
    return Board("params", "Minimum parameters", columns, rows,
                 f"fewest parameters reaching {target:.2%} test accuracy; ranked on the total: trainable plus "
                 f"non-trainable (BatchNormalization's moving statistics), as Keras counts them")


def labels_boards(runs, *, target: float | None = None, top: int | None = None) -> list[Board]:
    target = RULES["labels"].goal(target)
    finished = [r for r in _finished(runs, RULES["labels"].members) if r.labels_used is not None]
    reaching, _ = _ranked("labels", finished, target)
    columns = [*BASE_COLUMNS, Column("labels", "labels", "int"), Column("test_accuracy", "test acc", "pct"),
               Column("selection", "selection"), Column("method", "method"),
               Column("selection_labels_read", "labels read to select", "int"),
               Column("train_seconds", "train s", "seconds"), *TAIL_COLUMNS]

    def row(run, rank):
        cfg = run.config or {}
        return {**_common(run, rank), "selection": cfg.get("select", ""), "method": cfg.get("method", ""),
                "selection_labels_read": run.selection_labels_read}

    main = Board("labels", "Minimum labels", columns,
                 [row(r, i) for i, r in enumerate(reaching[:top] if top else reaching, 1)],
                 f"fewest labels reaching {target:.2%} test accuracy")
    best: dict[int, object] = {}
    for run in sorted(finished, key=lambda r: (-_acc(r), r.id)):
        best.setdefault(run.labels_used, run)
    counts = sorted(best)[:top] if top else sorted(best)
    per_k = Board("labels-by-k", "Best accuracy at each label count", columns,
                  [row(best[k], i) for i, k in enumerate(counts, 1)], "every label count tried")
    return [main, per_k]


def boards(runs, which: str | None = None, *, target: float | None = None, top: int | None = None,
           time_to: float | None = None) -> list[Board]:
    """The boards asked for: one name from BOARDS, or all three when `which` is None."""
    out = []
    for name in ([which] if which else BOARDS):
        if name == "accuracy":
            out.append(accuracy_board(runs, top=top, time_to=time_to))
        elif name == "params":
            out.append(params_board(runs, target=target, top=top))
        elif name == "labels":
            out.extend(labels_boards(runs, target=target, top=top))
        else:
            Benchmark.check(name, "board")
    return out


def listing(runs) -> Board:
    """`mnistbench runs`: every run given, in id order, whatever its status."""
    columns = [Column("run", "run", "int"), Column("benchmark", "benchmark"), Column("model", "model"),
               Column("status", "status"), Column("test_accuracy", "test acc", "pct"),
               Column("val_accuracy", "val acc", "pct"), Column("params", "params", "int"),
               Column("labels", "labels", "int"), Column("epochs", "epochs", "int"),
               Column("train_seconds", "train s", "seconds"), Column("sweep", "sweep"), *TAIL_COLUMNS]
    rows = [{**_common(r, i), "benchmark": r.benchmark} for i, r in enumerate(runs, 1)]
    return Board("runs", "Runs", columns, rows, f"{len(rows)} runs")
