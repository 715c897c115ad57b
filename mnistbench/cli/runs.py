"""Commands on one run or a few: `verify`, `flag`, `delete`, `ensemble`."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import DataOption, DbOption, app, fail, friendly, make_console, open_store


@app.command()
@friendly
def verify(run_id: Annotated[int, typer.Argument(help="The run to check.")], db: DbOption = None,
           data: DataOption = None):
    """Reload a run's saved model; check its SHA-256, parameter count and test accuracy against the row."""
    from ..data import load_mnist  # noqa: PLC0415
    from ..verify import verify_run  # noqa: PLC0415

    store = open_store(db)
    store.get_run(run_id)  # a missing id fails before the data and TensorFlow load
    result = verify_run(store, run_id, load_mnist(data))
    if result.status == "verified":
        make_console().print(f"run {run_id} verified: {result.params_total:,} params, "
                         f"test accuracy {100 * result.test_accuracy:.2f} %")
        return
    fail(f"run {run_id} mismatch: " + "; ".join(result.problems))


@app.command()
@friendly
def flag(run_id: Annotated[int, typer.Argument(help="The run to flag.")],
         note: Annotated[str, typer.Argument(help="What bends the protocol, shown in the board's flags column.")],
         db: DbOption = None):
    """Add a flag to a run (on a class board: the run's owner or the lecturer)."""
    from ..sanitize import one_line  # noqa: PLC0415

    note = one_line(note)
    if not note or "," in note:
        fail("a flag is a short note without commas, e.g. 'test set seen'")
    flags = open_store(db).add_flag(run_id, note)
    make_console().print(f"run {run_id} flagged: {', '.join(flags)}")


@app.command()
@friendly
def delete(run_id: Annotated[int, typer.Argument(help="The run to remove.")], db: DbOption = None,
           yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False):
    """Remove a run and its epochs from the board (on a class board: the lecturer only)."""
    store = open_store(db)
    run = store.get_run(run_id)
    if not yes and not typer.confirm(f"delete run {run_id} ({run.benchmark}, {run.model}, owner {run.owner})?"):
        fail("nothing deleted")
    store.delete_run(run_id)
    make_console().print(f"run {run_id} deleted")


@app.command("ensemble")
@friendly
def ensemble_command(run_ids: Annotated[list[int], typer.Argument(help="Finished accuracy runs with saved models.")],
             db: DbOption = None, data: DataOption = None):
    """Average the softmax outputs of saved runs, evaluate once on the test set, record the ensemble."""
    from ..data import load_mnist  # noqa: PLC0415
    from ..ensembles import ensemble  # noqa: PLC0415

    store = open_store(db)
    for run_id in run_ids:
        store.get_run(run_id)
    run_id, accuracy, members = ensemble(store, run_ids, load_mnist(data))
    best = max(members.values(), key=lambda a: a or 0)
    make_console().print(f"run {run_id}: ensemble of {len(run_ids)} runs, test accuracy {100 * accuracy:.2f} % "
                     f"(best member {100 * (best or 0):.2f} %)")
