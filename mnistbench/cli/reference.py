"""The reference board: `reference add`, `reference build`, `reference publish`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import DataOption, DbOption, friendly, make_console, open_reader_for, open_store, reference_app

FolderOption = Annotated[Optional[str], typer.Option(
    "--folder", help="The reference bundles' folder (default: leaderboards/reference).")]



@reference_app.command("add")
@friendly
def reference_add(run_ids: Annotated[list[int], typer.Argument(help="Finished runs with saved models, or ensembles of them.")],
                  folder: FolderOption = None, db: DbOption = None):
    """Put runs on the reference board: each as an export-run bundle, an ensemble as its members plus an entry."""
    from ..reference import DEFAULT_FOLDER, add  # noqa: PLC0415

    for name in add(open_store(db), run_ids, Path(folder) if folder else DEFAULT_FOLDER):
        make_console().print(f"wrote {name}")


@reference_app.command("build")
@friendly
def reference_build(folder: FolderOption = None, db: DbOption = None, data: DataOption = None):
    """Import every reference bundle into the board, re-evaluated on this machine's test set; refuse any that disagrees."""
    from ..data import load_mnist  # noqa: PLC0415
    from ..reference import DEFAULT_FOLDER, build  # noqa: PLC0415

    source = Path(folder) if folder else DEFAULT_FOLDER
    store = open_store(db)
    mnist = load_mnist(data)
    with make_console().status(f"re-evaluating the reference runs of {source} on the test set"):
        built = build(store, mnist, source)
    for name, run_id, accuracy in built.imported:
        make_console().print(f"run {run_id}: {name}, test accuracy {100 * accuracy:.2f} % (re-evaluated here)")
    for members, run_id, accuracy in built.ensembles:
        make_console().print(f"run {run_id}: ensemble of runs {', '.join(map(str, members))}, test accuracy "
                         f"{100 * accuracy:.2f} % (re-evaluated here)")
    make_console().print(f"{len(built.imported)} runs and {len(built.ensembles)} ensembles added, "
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
    from ..reference import publish  # noqa: PLC0415

    reader = open_reader_for(db)
    for path in publish(reader.runs(), Path(readme), Path(results), Path(page), reader=reader):
        make_console().print(f"wrote {path}")
    if png:
        from ..screenshot import page_png  # noqa: PLC0415

        make_console().print(f"wrote {page_png(Path(page), Path(png))}")
