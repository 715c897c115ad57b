"""Training commands: `train`, `labels`, and the `sweep` sub-app."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from ..config import (
    DEFAULT_VAL_SIZE,
    Callback,
    Features,
    LabelsMethod,
    Optimizer,
    Pruner,
    Schedule,
    Selection,
    Status,
    SweepMethod,
    TrainBenchmark,
)
from .app import DataOption, DbOption, SetOption, app, fail, friendly, make_console, open_store
from .views import find_smallest_table, say_mean, trials_table


@app.command("train")
@friendly
def train_command(
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
    smallest: Annotated[bool, typer.Option(
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

    from ..config import parse_seeds  # noqa: PLC0415
    from ..data import load_mnist  # noqa: PLC0415
    from ..errors import ConfigError  # noqa: PLC0415
    from ..request import target_fraction, train_request  # noqa: PLC0415

    # Every option is checked before the board opens or TensorFlow loads: a typo fails in a second.
    request = train_request(
        benchmark.value, model, settings=settings, width=width, seed=seed, val_size=val_size, train_size=train_size,
        save_model=save_model, spread_threads=spread_threads, seed_protocol=seed_protocol,
        recipe_options=dict(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, schedule=schedule,
                            callbacks=callbacks, augment=augment, label_smoothing=label_smoothing,
                            steps_per_execution=steps_per_execution))
    seed_list = parse_seeds(seeds)
    if seed_list and seed is not None:
        raise ConfigError("give --seed or --seeds, not both")
    goal = target_fraction(target) if smallest else None  # before hours of training
    store = open_store(db)  # open the board first: a bad URL should not wait for TensorFlow
    from ..backend import unused_gpu_warning  # noqa: PLC0415
    from ..models import get_spec  # noqa: PLC0415  (imports TensorFlow)
    from ..progress import RichProgress  # noqa: PLC0415
    from ..training import train  # noqa: PLC0415

    name = request.model
    spec = get_spec(name)  # an unknown name fails before any data is looked for
    warning = unused_gpu_warning()
    if warning:
        typer.echo(warning, err=True)
    config = request.config(spec.recipe)
    mnist = load_mnist(data)
    console = make_console()
    if smallest:
        from ..params import find_smallest, pareto_curve  # noqa: PLC0415

        with RichProgress(console) as progress:
            outcome = find_smallest(config, mnist, store, target=goal, observer=progress, seeds=seed_list,
                             resume=resume)
        reused = [i for a in outcome.attempts for i in a.reused]
        if reused:
            console.print(f"taken from the board, not trained again (same config and seed, model saved): "
                          f"run{'s' * (len(reused) > 1)} {', '.join(map(str, reused))}; --no-resume trains them anew")
        console.print(find_smallest_table(outcome, name, goal, pareto_curve(outcome.attempts)))
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
            result = train(one, mnist, store, observer=progress)
        results.append(result)
        acc = "–" if result.test_accuracy is None else f"{100 * result.test_accuracy:.2f} %"
        val = "–" if result.val_accuracy is None else f"{100 * result.val_accuracy:.2f} %"
        console.print(f"run {result.run_id} {result.status} (seed {one.seed}): test accuracy {acc} (best val {val}), "
                      f"{result.params_total:,} params, {result.labels_used:,} labels, {result.epochs_run} "
                      f"epoch{'s' * (result.epochs_run != 1)} in {result.train_seconds:.1f} s")
        if result.model_path is None and save_model:
            typer.echo(f"warning: run {result.run_id}'s model was not saved (see `mnistbench show "
                       f"{result.run_id}`)", err=True)
        if result.status == Status.interrupted:
            raise typer.Exit(130)
    if len(results) > 1:
        say_mean(console, [r.test_accuracy for r in results], [r.train_seconds for r in results],
                  [r.run_id for r in results])


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

    from ..config import parse_seeds  # noqa: PLC0415
    from ..errors import ConfigError  # noqa: PLC0415
    from ..request import labels_config  # noqa: PLC0415

    seed_list = parse_seeds(seeds)
    if seed_list and seed is not None:
        raise ConfigError("give --seed or --seeds, not both")
    config = labels_config({"k": k, "select": select, "method": method, "features": features, "model": model,
                            "epochs": epochs, "seed": seed}, settings, stratified=stratified)
    store = open_store(db)
    from ..data import load_mnist  # noqa: PLC0415
    from ..labels import run_labels  # noqa: PLC0415

    if config.method != "prototype":
        from ..models import get_spec  # noqa: PLC0415

        get_spec(config.model)
    mnist = load_mnist(data)
    console = make_console()
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
        say_mean(console, [r.test_accuracy for r in results], [r.train_seconds for r in results],
                  [r.run_id for r in results])


sweep_app = typer.Typer(help="Search hyperparameters with Optuna on validation accuracy; every trial is a run on "
                        "the board.", no_args_is_help=True)
app.add_typer(sweep_app, name="sweep")


@sweep_app.command("show")
@friendly
def sweep_show(name: Annotated[str, typer.Argument(help="The sweep's name.")], db: DbOption = None):
    """A sweep's best trials, its parameter importances, and a PNG of the search (parallel coordinates)."""
    from ..sweeps import summarize  # noqa: PLC0415

    console = make_console()
    store = open_store(db)
    summary = summarize(store, name, store.figures_dir())
    console.print(trials_table(f"Sweep {name}: best trials", summary.rows,
                                ", ".join(f"{n} {state}" for state, n in sorted(summary.states.items()))))
    if summary.importances:
        console.print("parameter importances: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.importances.items()))
    if summary.figure:
        console.print(f"parallel coordinates: {summary.figure}")


@sweep_app.command("accuracy", hidden=True, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@sweep_app.command("params", hidden=True, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def sweep_old_spelling(ctx: typer.Context):
    """`sweep accuracy ...`, as it was spelled before `sweep run`: one line naming the new spelling."""
    fail(f"`mnistbench sweep {ctx.info_name}` is now `mnistbench sweep run {ctx.info_name}` (same options)")


@sweep_app.command("run")
@friendly
def sweep_run(
    benchmark: Annotated[TrainBenchmark, typer.Argument(help="The board whose model is searched.")],
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
    """Run (or --resume) a sweep: each trial a run on the board, chosen on validation, the winner tested once."""
    from ..errors import ConfigError  # noqa: PLC0415

    console = make_console()
    store = open_store(db)
    benchmark = benchmark.value
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    from ..config import TrainConfig, override  # noqa: PLC0415
    from ..data import load_mnist  # noqa: PLC0415
    from ..models import get_spec  # noqa: PLC0415
    from ..sweeps import format_params, load_space, run_sweep  # noqa: PLC0415

    spec = get_spec(model)
    base = TrainConfig(benchmark=benchmark, model=model, recipe=override(spec.recipe, epochs=epochs), seed=seed,
                       val_size=val_size, train_size=train_size).validate()
    label = resume or sweep_name or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    mnist = load_mnist(data)
    from ..progress import SweepProgress  # noqa: PLC0415
    from ..sweeps import done_trials  # noqa: PLC0415

    try:
        with SweepProgress(console, label, trials, done_trials(store, label) if resume else 0) as progress:
            result = run_sweep(base, mnist, store, name=label, trials=trials, method=method.value,
                               space=load_space(space) if space else None, prune=prune, pruner=pruner.value,
                               resume=resume is not None, on_trial=progress.on_trial)
        if progress.ended:
            console.print(trials_table(f"Sweep {label}: this command's trials", progress.ended))
    except KeyboardInterrupt:
        typer.echo(f"sweep {label} stopped; its finished trials are kept: continue with --resume {label}", err=True)
        raise typer.Exit(130) from None
    if result.best_params is None:
        fail(f"sweep {label}: no trial finished")
    console.print(f"sweep {label}: {result.trials_done} trials finished, {result.pruned} pruned; best "
                  f"validation accuracy {100 * result.best_val_accuracy:.2f} % with {format_params(result.best_params)}; "
                  f"its test accuracy (measured once) {100 * result.winner_test_accuracy:.2f} %, run "
                  f"{result.winner_run_id}")
