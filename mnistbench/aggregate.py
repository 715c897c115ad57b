"""Seeds aggregated: runs of one configuration grouped, and ranked by their mean, so that a lucky seed
no longer outranks a reproducible recipe.

A configuration is everything a run was told except its seed: the benchmark, the model and its stored
config (the model's builder options, the whole recipe and data settings, or the labels config). What a run
*measured* (seconds, threads pinned, the images it chose) lives in its `details`, so it never splits a group.
Each seed counts once: a seed run twice contributes its latest run.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

from .boards import TAIL_COLUMNS, Board, Column, test_selected
from .config import Status, resolved_labels_defaults
from .rules import RULES, Entry


def configuration(run) -> dict:
    """The part of a run's stored config that says how it was made, without its seed."""
    return configuration_of(run.benchmark, run.model, run.config)


def configuration_of(benchmark: str, model: str, stored: dict | None) -> dict:
    """`configuration` of a run not yet recorded: its benchmark, model and config as the row would store them."""
    config = {k: v for k, v in (stored or {}).items() if k != "seed"}
    if benchmark == "labels":  # runs recorded before their defaults were stored resolved
        config.update(resolved_labels_defaults(config))
    return {"benchmark": benchmark, "model": model, **config}


@dataclass
class Group:
    configuration: dict
    runs: list  # one per seed, in seed order

    @property
    def n(self) -> int:
        return len(self.runs)

    def _values(self, name: str) -> list[float]:
        return [getattr(r, name) for r in self.runs if getattr(r, name) is not None]

    @property
    def mean(self) -> float:
        return statistics.fmean(self._values("test_accuracy"))

    @property
    def std(self) -> float | None:
        values = self._values("test_accuracy")
        return statistics.stdev(values) if len(values) > 1 else None

    @property
    def worst(self) -> float:
        return min(self._values("test_accuracy"))

    @property
    def mean_seconds(self) -> float | None:
        values = self._values("train_seconds")
        return statistics.fmean(values) if values else None


def groups(runs, benchmarks: set[str]) -> list[Group]:
    """Finished runs of `benchmarks` with a test accuracy, grouped by configuration (latest run per seed)."""
    found: dict[str, dict] = {}
    for run in sorted(runs, key=lambda r: r.id):
        if (run.status != Status.finished or run.test_accuracy is None or run.benchmark not in benchmarks or run.members
                or test_selected(run)):
            continue
        key = json.dumps(configuration(run), sort_keys=True, default=str)
        found.setdefault(key, {})[run.seed] = run  # a later run of the same seed replaces the earlier
    return [Group(json.loads(key), [by_seed[s] for s in sorted(by_seed, key=lambda s: (s is None, s))])
            for key, by_seed in found.items()]


def _flat(config: dict, prefix: str = "") -> dict:
    """A nested configuration as one level of dotted names: {"recipe": {"lr": 0.01}} -> {"recipe.lr": 0.01}."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# Not a setting that tells two configurations apart on the board: the model has its own column, and the
# label count k its own (labels).
_SHOWN_ELSEWHERE = {"benchmark", "model", "k"}
MAX_SETTINGS = 3  # the rest are in `mnistbench show RUN`


def settings(group_list: list[Group]) -> list[str]:
    """For each group, what tells it apart from the other groups of its model (and label count)
    on one board, as `name=value` pairs: the settings whose values differ among them. Two rows of
    `selftrain` at ten labels read `clusters=10` and `clusters=30`; a model with one configuration reads ''."""
    flat = [_flat(g.configuration) for g in group_list]
    siblings: dict[tuple, list[int]] = {}
    for i, config in enumerate(flat):
        siblings.setdefault((config.get("model"), config.get("k")), []).append(i)
    out = [""] * len(group_list)
    for members in siblings.values():
        if len(members) < 2:
            continue
        names = sorted({name for i in members for name in flat[i]} - _SHOWN_ELSEWHERE)
        differing = [n for n in names if len({json.dumps(flat[i].get(n), default=str) for i in members}) > 1]
        for i in members:
            pairs = [f"{n}={_setting_value(flat[i].get(n))}" for n in differing]
            more = len(pairs) - MAX_SETTINGS
            out[i] = ", ".join(pairs[:MAX_SETTINGS]) + (f", +{more} more" if more > 0 else "")
    return out


def _setting_value(value) -> str:
    if value is None:
        return "default"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


COLUMNS = [Column("rank", "#", "int"), Column("model", "model"), Column("setting", "setting"),
           Column("runs", "runs"), Column("n", "seeds", "int"),
           Column("mean", "mean test acc", "pct"), Column("std", "± std", "pct"), Column("worst", "worst", "pct")]


def _row(group: Group, rank, setting: str = "") -> dict:
    first = group.runs[0]
    return {"rank": rank, "model": first.model, "setting": setting, "runs": ",".join(str(r.id) for r in group.runs),
            "n": group.n,
            "mean": group.mean, "std": group.std, "worst": group.worst, "params": first.params_total,
            "labels": first.labels_used, "train_seconds": group.mean_seconds, "device": first.device,
            "flags": first.flags or "", "verified": "", "date": first.created_at.strftime("%Y-%m-%d")
            if first.created_at else "", "seeds": [r.seed for r in group.runs]}


def by_config_boards(runs, which: str | None = None, *, target: float | None = None, top: int | None = None,
                     min_seeds: int = 1) -> list[Board]:
    """The boards ranked by configuration: accuracy by mean; params and labels by the fewest parameters or
    labels among configurations whose *mean* reaches the target, each with at least `min_seeds` seeds."""
    out = []
    for name in ([which] if which else ["accuracy", "params", "labels"]):
        rule = RULES[name]
        found = [g for g in groups(runs, rule.members) if g.n >= min_seeds]
        setting = {id(g): text for g, text in zip(found, settings(found), strict=True)}
        kept = [Entry.of_group(g) for g in found]
        ranked, missing = ([e.item for e in entries] for entries in rule.rank(kept, target))
        goal = rule.goal(target)
        caption = f"mean over seeds; configurations with at least {min_seeds} seed{'s' * (min_seeds > 1)}"
        if name == "accuracy":
            extra = [Column("params", "params", "int"), Column("train_seconds", "mean train s", "seconds")]
            title = "Maximum accuracy, by configuration"
        elif name == "params":
            extra = [Column("params", "params", "int"), Column("reaches", "reaches target"),
                     Column("train_seconds", "mean train s", "seconds")]
            title, caption = "Minimum parameters, by configuration", f"fewest parameters whose {caption} reach {goal:.2%}"
        else:
            extra = [Column("labels", "labels", "int"), Column("train_seconds", "mean train s", "seconds")]
            title, caption = "Minimum labels, by configuration", f"fewest labels whose {caption} reach {goal:.2%}"
        rows = [_row(g, i, setting[id(g)]) for i, g in enumerate(ranked[:top] if top else ranked, 1)]
        if name == "params":
            rows = [{**r, "reaches": "yes"} for r in rows]
            if not top:
                rows += [{**_row(g, None, setting[id(g)]), "reaches": "no"} for g in missing]
        out.append(Board(f"{name}-by-config", title, [*COLUMNS, *extra, Column("device", "device"),
                                                       *TAIL_COLUMNS[:1], TAIL_COLUMNS[-1]], rows, caption))
    return out
