"""The ranking rule of each board, written once: which runs compete, the target they must reach, what is
ranked and how ties break. The per-run boards (boards.py), the per-configuration boards (aggregate.py)
and the web page (built from boards.py) all rank through `RULES`.

- accuracy: the highest test accuracy first;
- params: the fewest parameters among entries reaching the target (default 99.0 %); accuracy runs compete
  too; the params runs that miss it are shown below, unranked;
- labels: the fewest labels among entries reaching the target (default 95.0 %).
Ties go to the higher accuracy, then to the earlier run.

An entry is one run, or one configuration's seeds (its mean accuracy, its first run's counts and id).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import DEFAULT_TARGETS


@dataclass(frozen=True)
class Entry:
    """What a rule reads of a run or of a configuration's group of runs; `item` is what was ranked."""
    item: object
    accuracy: float
    params: int | None
    labels: int | None
    order: int  # the (first) run's id: the earlier run wins a tie
    benchmark: str

    @classmethod
    def of_run(cls, run) -> Entry:
        return cls(run, run.test_accuracy, run.params_total, run.labels_used, run.id, run.benchmark)

    @classmethod
    def of_group(cls, group) -> Entry:
        first = group.runs[0]
        return cls(group, group.mean, first.params_total, first.labels_used, first.id, first.benchmark)


@dataclass(frozen=True)
class Rule:
    board: str
    members: frozenset[str]  # the benchmarks whose runs compete on this board
    counted: str | None = None  # "params" or "labels": the fewest first, among entries reaching the target
    shows_missed: bool = False  # this board's own entries that miss the target, unranked below

    def goal(self, target: float | None = None) -> float | None:
        """The target accuracy: the one asked for, else the board's default (none for accuracy)."""
        return target if target is not None else DEFAULT_TARGETS.get(self.board)

    def rank(self, entries: list[Entry], target: float | None = None) -> tuple[list[Entry], list[Entry]]:
        """(ranked, missed): the entries in rank order, and those shown unranked below them."""
        if self.counted is None:
            return sorted(entries, key=lambda e: (-e.accuracy, e.order)), []
        goal = self.goal(target)
        counted = [e for e in entries if getattr(e, self.counted) is not None]

        def key(e: Entry):
            return getattr(e, self.counted), -e.accuracy, e.order

        ranked = sorted((e for e in counted if e.accuracy >= goal), key=key)
        missed = sorted((e for e in counted if e.accuracy < goal and e.benchmark == self.board), key=key)
        return ranked, missed if self.shows_missed else []


RULES = {
    "accuracy": Rule("accuracy", frozenset({"accuracy"})),
    "params": Rule("params", frozenset({"accuracy", "params"}), counted="params", shows_missed=True),
    "labels": Rule("labels", frozenset({"labels"}), counted="labels"),
}
