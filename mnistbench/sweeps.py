"""Hyperparameter sweeps with Optuna, their trials recorded as runs on the board.

The objective is validation accuracy, never test accuracy: trials do not touch the test set. When a
sweep ends, the best trial's saved model is evaluated on the test set once and recorded as its own
run. The study lives beside the board in the same database (Optuna's RDB storage on the same URL), so
a stopped sweep resumes and several processes can work on one sweep at once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .config import Recipe, Status, TrainConfig
from .errors import ConfigError, MnistbenchError, SweepError  # noqa: F401  (SweepError re-exported)

SAMPLERS = ("bayes", "random", "grid")
PRUNERS = ("median", "hyperband")
RECIPE_KEYS = {f.name for f in fields(Recipe)}
SPACE_TYPES = ("int", "float", "categorical")


# --- search spaces ----------------------------------------------------------------------------------


def load_space(path: str | Path) -> dict:
    """A search space from JSON or YAML: {name: {type: int|float|categorical, low, high, step, log, choices}}."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # noqa: PLC0415  (comes with Optuna)

            space = yaml.safe_load(text)
        else:
            space = json.loads(text)
    except Exception as exc:  # both parsers raise their own families
        raise ConfigError(f"{path}: not valid {path.suffix[1:] or 'JSON'} ({exc.__class__.__name__})") from None
    return check_space(space, str(path))


def check_space(space, where: str = "search space") -> dict:
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{where}: expected a mapping of parameter names to ranges")
    for name, spec in space.items():
        if not isinstance(spec, dict) or spec.get("type") not in SPACE_TYPES:
            raise ConfigError(f"{where}: {name} needs type int, float or categorical")
        if spec["type"] == "categorical":
            if not spec.get("choices"):
                raise ConfigError(f"{where}: {name} needs a non-empty list of choices")
        elif not ("low" in spec and "high" in spec and spec["low"] <= spec["high"]):
            raise ConfigError(f"{where}: {name} needs low <= high")
    return space


def suggest(trial, space: dict) -> dict:
    params = {}
    for name, spec in space.items():
        if spec["type"] == "int":
            params[name] = trial.suggest_int(name, spec["low"], spec["high"], step=spec.get("step", 1),
                                             log=spec.get("log", False))
        elif spec["type"] == "float":
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False),
                                               step=spec.get("step"))
        else:
            params[name] = trial.suggest_categorical(name, spec["choices"])
    return params


def grid_of(space: dict, points: int = 3) -> dict:
    """Grid values: every int step, every choice, and `points` values across a float range (log-spaced
    for log ranges)."""
    import numpy as np  # noqa: PLC0415

    grid = {}
    for name, spec in space.items():
        if spec["type"] == "categorical":
            grid[name] = list(spec["choices"])
        elif spec["type"] == "int":
            grid[name] = list(range(spec["low"], spec["high"] + 1, spec.get("step", 1)))
        elif spec.get("step"):
            grid[name] = [float(v) for v in np.arange(spec["low"], spec["high"] + 1e-12, spec["step"])]
        elif spec.get("log"):
            grid[name] = [float(v) for v in np.geomspace(spec["low"], spec["high"], points)]
        else:
            grid[name] = [float(v) for v in np.linspace(spec["low"], spec["high"], points)]
    return grid


def split_params(params: dict) -> tuple[dict, dict]:
    """(recipe overrides, model builder overrides)."""
    return ({k: v for k, v in params.items() if k in RECIPE_KEYS},
            {k: v for k, v in params.items() if k not in RECIPE_KEYS})


# --- running ---------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    name: str
    trials_done: int
    pruned: int
    best_params: dict | None
    best_val_accuracy: float | None
    winner_run_id: int | None
    winner_test_accuracy: float | None


def _sampler(method: str, space: dict, seed: int):
    import optuna  # noqa: PLC0415

    if method == "bayes":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "grid":
        return optuna.samplers.GridSampler(grid_of(space), seed=seed)
    raise ConfigError(f"unknown --method {method!r}; choose one of {', '.join(SAMPLERS)}")


def _pruner(prune: bool, kind: str, epochs: int):
    import optuna  # noqa: PLC0415

    if not prune:
        return optuna.pruners.NopPruner()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 2))
    raise ConfigError(f"unknown --pruner {kind!r}; choose one of {', '.join(PRUNERS)}")


class _PruningObserver:
    """Reports each epoch's validation accuracy to the trial and asks training to stop when pruned."""

    def __init__(self, trial, inner=None):
        self.trial, self.inner, self.pruned_at = trial, inner, None

    def on_start(self, *args):
        if self.inner:
            self.inner.on_start(*args)

    def on_batch(self, step):
        if self.inner:
            self.inner.on_batch(step)

    def on_epoch(self, report):
        if self.inner:
            self.inner.on_epoch(report)
        if report.val_accuracy is None:
            return None
        self.trial.report(report.val_accuracy, report.epoch)
        if self.trial.should_prune():
            self.pruned_at = report.epoch
            return "stop"
        return None


def _study_storage(store):
    """Optuna's storage on the board's database; a role that may not create Optuna's tables (a student on
    a class board) is told so in one line."""
    import optuna  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    try:
        return optuna.storages.RDBStorage(store.url, engine_kwargs=_engine_kwargs(store))
    except SQLAlchemyError as exc:
        message = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        if "permission denied" in message.lower() or "insufficientprivilege" in message.lower():
            raise SweepError("sweeps on a class board need a role that may create Optuna's tables (the "
                             f"lecturer's); this one may not ({message})") from None
        raise SweepError(f"the sweep's storage cannot be opened: {message}") from None


def done_trials(store, name: str) -> int:
    """Finished plus pruned trials of sweep `name` so far (0 for a new one): where a resumed bar starts."""
    import optuna  # noqa: PLC0415

    try:
        study = optuna.load_study(study_name=name, storage=_study_storage(store))
    except KeyError:
        return 0
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def rounded(value, key: str = "") -> str:
    """A trial's value as a table shows it: accuracies in % with 2 decimals, floats to 3 significant digits."""
    if value is None:
        return "–"
    if key == "val_accuracy":
        return f"{100 * value:.2f}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(params: dict) -> str:
    """`lr=0.00312, dense=64, activation=relu`: three significant digits, no dict braces."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def run_sweep(base: TrainConfig, mnist, store, *, name: str, trials: int, method: str = "bayes",
              space: dict | None = None, prune: bool = True, pruner: str = "median", resume: bool = False,
              observer=None, say=None, on_trial=None) -> SweepResult:
    """Run (or continue) the sweep `name` until it holds `trials` finished or pruned trials.
    `on_trial(row)` hears of each trial as it ends: trial, run, state, val_accuracy and its parameters."""
    import optuna  # noqa: PLC0415

    from .artifacts import evaluate_saved  # noqa: PLC0415
    from .models import get_spec  # noqa: PLC0415
    from .training import train  # noqa: PLC0415

    say = say or (lambda message: None)
    on_trial = on_trial or (lambda row: None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = get_spec(base.model)
    space = check_space(space or spec.space, f"model {base.model}'s search space")
    if base.val_size <= 0:
        raise ConfigError("a sweep maximises validation accuracy: it needs --val-size > 0")
    storage = _study_storage(store)
    if resume:
        try:
            study = optuna.load_study(study_name=name, storage=storage,
                                      sampler=_sampler(method, space, base.seed),
                                      pruner=_pruner(prune, pruner, base.recipe.epochs))
        except KeyError:
            raise SweepError(f"no sweep named {name!r} to resume") from None
        space = json.loads(study.user_attrs.get("space", json.dumps(space)))
    else:
        try:
            study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                        sampler=_sampler(method, space, base.seed),
                                        pruner=_pruner(prune, pruner, base.recipe.epochs), load_if_exists=False)
        except optuna.exceptions.DuplicatedStudyError:
            raise SweepError(f"a sweep named {name!r} exists; continue it with --resume {name}") from None
        study.set_user_attr("space", json.dumps(space))
        study.set_user_attr("config", json.dumps(base.to_dict()))

    def objective(trial):
        params = suggest(trial, space)
        recipe_changes, model_options = split_params(params)
        config = replace(base, recipe=replace(base.recipe, **recipe_changes),
                         model_options={**base.model_options, **model_options}, save_model=True)
        watcher = _PruningObserver(trial, observer)
        say(f"trial {trial.number}: {format_params(params)}")
        row = {"trial": trial.number, "run": None, "state": "failed", "val_accuracy": None, **params}
        try:
            result = train(config, mnist, store, observer=watcher, evaluate_test=False,
                           extra={"sweep": name, "trial": trial.number})
            row.update(run=result.run_id, val_accuracy=result.val_accuracy, state=result.status)
            trial.set_user_attr("run_id", result.run_id)
            if watcher.pruned_at is not None:
                row["state"] = f"pruned at epoch {watcher.pruned_at}"
                store.update_run(result.run_id, status=Status.interrupted, error=f"pruned by the sweep at epoch "
                                 f"{watcher.pruned_at}")
                raise optuna.TrialPruned()
            if result.status == Status.interrupted:
                raise KeyboardInterrupt
            return result.val_accuracy if result.val_accuracy is not None else math.nan
        finally:
            on_trial(row)

    def remaining() -> int:
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        return max(0, trials - len(study.get_trials(deepcopy=False, states=states)))

    if remaining():
        study.optimize(objective, n_trials=remaining(), catch=(MnistbenchError,))
    return finish(study, name, store, mnist, evaluate_saved)


def finish(study, name: str, store, mnist, evaluate_saved) -> SweepResult:
    """Evaluate the best trial on the test set once, as a run of its own, unless a worker already did."""
    import optuna  # noqa: PLC0415

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    pruned = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,)))
    if not done:
        return SweepResult(name, 0, pruned, None, None, None, None)
    best = study.best_trial
    winner_id = study.user_attrs.get("winner_run_id")
    accuracy = None
    if winner_id is None or study.user_attrs.get("winner_trial") != best.number:
        source = store.copied_fields(best.user_attrs["run_id"])
        with store.recording(**{**source, "sweep": name, "flags": "sweep winner"}) as winner:
            accuracy, seconds = evaluate_saved(store, winner.run_id, mnist)
            winner.set(test_accuracy=accuracy, eval_seconds=seconds)
        winner_id = winner.run_id
        study.set_user_attr("winner_run_id", winner_id)
        study.set_user_attr("winner_trial", best.number)
    else:
        accuracy = store.get_run(winner_id).test_accuracy
    return SweepResult(name, len(done), pruned, best.params, best.value, winner_id, accuracy)


def _engine_kwargs(store) -> dict:
    return {"connect_args": {"timeout": 60}} if store.is_sqlite else {"pool_pre_ping": True}


# --- showing ---------------------------------------------------------------------------------------


@dataclass
class SweepSummary:
    name: str
    rows: list[dict]
    importances: dict
    states: dict
    figure: Path | None


def summarize(store, name: str, figure_dir: Path | None = None, top: int = 10) -> SweepSummary:
    import optuna  # noqa: PLC0415

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=_study_storage(store))
    except KeyError:
        raise SweepError(f"no sweep named {name!r}") from None
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    complete = sorted((t for t in trials if t.state == optuna.trial.TrialState.COMPLETE),
                      key=lambda t: -(t.value or 0))
    rows = [{"trial": t.number, "run": t.user_attrs.get("run_id"), "val_accuracy": t.value, **t.params}
            for t in complete[:top]]
    importances = {}
    if len(complete) >= 3:
        try:
            importances = dict(optuna.importance.get_param_importances(study))
        except (RuntimeError, ValueError, ImportError):
            importances = {}
    figure = None
    if figure_dir is not None and len(complete) >= 2:
        figure = parallel_coordinates_png(complete, Path(figure_dir) / f"sweep-{name}.png", name)
    return SweepSummary(name, rows, importances, states, figure)


def parallel_coordinates_png(trials, path: Path, title: str) -> Path:
    """The hyperparameters of each trial as a line across parallel axes, coloured by validation accuracy
    (as the seed's W&B figures show a sweep)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    names = sorted({k for t in trials for k in t.params})
    columns, ends = [], []
    for name in names:
        values = [t.params.get(name) for t in trials]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            arr = np.array(values, dtype=float)
            ends.append((f"{arr.min():.3g}", f"{arr.max():.3g}"))
            if arr.min() > 0 and arr.max() / arr.min() > 20:
                arr = np.log10(arr)  # a log range (learning rates) reads better on a log axis
            columns.append(arr)
        else:
            cats = sorted({str(v) for v in values})
            ends.append((cats[0], cats[-1]))
            columns.append(np.array([cats.index(str(v)) for v in values], dtype=float))
    data = np.stack(columns, axis=1)
    low, high = data.min(axis=0), data.max(axis=0)
    scaled = (data - low) / np.where(high > low, high - low, 1)
    scores = np.array([t.value for t in trials], dtype=float)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(names) + 2), 4.5), dpi=110)
    cmap = plt.get_cmap("viridis")
    norm = plt.Normalize(scores.min(), scores.max() if scores.max() > scores.min() else scores.min() + 1e-9)
    for row, score in sorted(zip(scaled, scores, strict=True), key=lambda p: p[1]):
        ax.plot(range(len(names)), row, color=cmap(norm(score)), alpha=0.8, linewidth=1.5)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_yticks([])
    for i, (low_text, high_text) in enumerate(ends):
        ax.axvline(i, color="grey", linewidth=0.6)
        ax.annotate(high_text, (i, 1.0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7)
        ax.annotate(low_text, (i, 0.0), xytext=(0, -10), textcoords="offset points", ha="center", fontsize=7)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="validation accuracy")
    ax.set_title(f"sweep {title}: {len(trials)} finished trials")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
