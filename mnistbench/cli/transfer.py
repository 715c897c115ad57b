"""Runs that travel: `export-run`, `import-run`, `submit`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..config import (
    TrainBenchmark,
)
from .app import DataOption, DbOption, app, friendly, make_console, open_store


@app.command("export-run")
@friendly
def export_run_command(run_id: Annotated[int, typer.Argument(help="A finished accuracy or params run with a saved model.")],
               output: Annotated[Optional[str], typer.Option("--output", "-o", help="The zip to write "
                                                              "(default: run-ID.zip).")] = None,
               db: DbOption = None):
    """Pack a run (row, epochs, config, saved model) into a zip that `import-run` takes on another board."""
    from ..transfer import export_run  # noqa: PLC0415

    path = export_run(open_store(db), run_id, output or f"run-{run_id}.zip")
    make_console().print(f"wrote {path}: run {run_id} with its model; bring it home with `mnistbench import-run {path}`")


@app.command("import-run")
@friendly
def import_run_command(path: Annotated[str, typer.Argument(help="A zip written by `mnistbench export-run`.")],
               db: DbOption = None, data: DataOption = None):
    """Re-check an exported run (model hash, parameter count, test accuracy) and record it flagged `imported`."""
    from ..data import load_mnist  # noqa: PLC0415
    from ..transfer import import_run, read_run_zip  # noqa: PLC0415

    package = read_run_zip(path)  # a wrong file fails before TensorFlow and the data load
    store = open_store(db)
    mnist = load_mnist(data)
    with make_console().status("re-evaluating the model on the test set"):
        accepted = import_run(store, path, mnist, package)
    make_console().print(f"run {accepted.run_id}: imported {accepted.source}: {accepted.params_total:,} params, "
                     f"test accuracy {100 * accepted.test_accuracy:.2f} % (re-evaluated here)")


@app.command()
@friendly
def submit(path: Annotated[str, typer.Argument(help="A Keras 3 .keras file taking 28x28 images in [0, 1].")],
           benchmark: Annotated[TrainBenchmark, typer.Option(help="The board to enter.")],
           labels: Annotated[Optional[int], typer.Option(
               help="Training labels the model saw, as declared by you (default: all 60,000).")] = None,
           name: Annotated[Optional[str], typer.Option(help="The model's name on the board (default: the file's).")] = None,
           db: DbOption = None, data: DataOption = None):
    """Enter a model trained by other code: its parameters counted and its test accuracy measured here, flagged `external`."""
    from ..data import load_mnist  # noqa: PLC0415
    from ..transfer import submit_model  # noqa: PLC0415

    store = open_store(db)
    mnist = load_mnist(data)
    with make_console().status("evaluating the model on the test set"):
        accepted = submit_model(store, path, mnist, benchmark=benchmark.value, labels=labels, name=name)
    make_console().print(f"run {accepted.run_id}: {accepted.source}: {accepted.params_total:,} params, "
                     f"test accuracy {100 * accepted.test_accuracy:.2f} % (flagged external: labels declared)")
