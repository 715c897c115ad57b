"""Reading the board: `board`, `runs`, `show`, `models`, `export` and `serve`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..config import (
    Benchmark,
    ExportFormat,
    Format,
    Status,
)
from ..request import target_fraction
from .app import DbOption, app, fail, friendly, make_console, open_reader_for


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
    from ..boards import boards  # noqa: PLC0415
    from ..render import emit  # noqa: PLC0415

    if time_to is not None and time_to not in (99.0, 99.5):
        fail("--time-to takes 99 or 99.5")
    goal = target_fraction(target)
    if top is not None and top < 1:
        fail(f"--top must be at least 1, got {top}")
    if min_seeds is not None and min_seeds < 1:
        fail(f"--min-seeds must be at least 1, got {min_seeds}")
    if top is None and format == Format.table:
        top = 20  # a terminal shows a leaderboard's head; exports carry every row
    runs = open_reader_for(db).runs()
    if verified_only:
        runs = [r for r in runs if r.verification == "verified"]
    if by_config or min_seeds is not None:
        if time_to is not None:
            fail("--time-to ranks single runs; leave out --by-config/--min-seeds")
        from ..aggregate import by_config_boards  # noqa: PLC0415

        tables = by_config_boards(runs, which.value if which else None, target=goal, top=top,
                                  min_seeds=min_seeds or 1)
    else:
        tables = boards(runs, which.value if which else None, target=goal, top=top, time_to=time_to)
    if references:
        from ..references import references_boards  # noqa: PLC0415

        tables = [*tables, *references_boards(which.value if which else None)]
    emit(tables, format.value, make_console())


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
    from ..boards import listing  # noqa: PLC0415
    from ..render import emit  # noqa: PLC0415

    if limit is not None and limit < 1:
        fail(f"--limit must be at least 1, got {limit}")
    if limit is None and format == Format.table:
        limit = 50
    if limit is not None:
        limit = min(limit, 2**63 - 1)  # more than any board holds, and what SQLite can take
    found = open_reader_for(db).runs(benchmark=benchmark.value if benchmark else None, model=model,
                            status=status.value if status else None,
                            sweep=sweep, limit=limit)
    emit([listing(found)], format.value, make_console())


@app.command()
@friendly
def show(run_id: Annotated[int, typer.Argument(help="The run's id.")], db: DbOption = None,
         as_command: Annotated[bool, typer.Option(
             "--as-command", help="Print the mnistbench command line that repeats the run, and nothing else.")] = False):
    """Show one run: its record, its config and its learning curve."""
    from ..quickread import EPOCH_COLUMNS, run_as_dict  # noqa: PLC0415
    from ..render import run_detail  # noqa: PLC0415

    run = open_reader_for(db).get_run(run_id, with_epochs=True)
    if as_command:
        typer.echo(_repeat_command(run))
        return
    epochs = [{k: getattr(e, k) for k in EPOCH_COLUMNS} for e in run.epochs]
    make_console().print(run_detail(run_as_dict(run), epochs))


def _repeat_command(run) -> str:
    import shlex  # noqa: PLC0415

    from ..config import labels_command, train_command  # noqa: PLC0415
    from ..errors import MnistbenchError  # noqa: PLC0415

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

    from ..models import create_model, get_spec, list_models, parameter_counts  # noqa: PLC0415

    console = make_console()
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
def export(
    which: Annotated[Optional[Benchmark], typer.Argument(help="One board; every run when left out.")] = None,
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="html: one self-contained page with "
                                                 "all three boards, run details and pictures.")] = ExportFormat.csv,
    target: Annotated[Optional[float], typer.Option(help="Board target in %.")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file.")] = None,
    db: DbOption = None,
):
    """Export every run, or one board, as csv, json or markdown; or the whole board as a web page."""
    from ..atomic import write_text_atomically  # noqa: PLC0415
    from ..boards import boards, listing  # noqa: PLC0415
    from ..render import to_csv, to_json, to_markdown  # noqa: PLC0415

    goal = target_fraction(target)
    reader = open_reader_for(db)
    if format == ExportFormat.html:
        from ..schema import default_url, public_url  # noqa: PLC0415
        from ..webboard import html_board  # noqa: PLC0415

        text = html_board(reader, source=public_url(db or default_url()))
    else:
        runs_found = reader.runs()
        tables = (boards(runs_found, which.value, target=goal) if which
                  else [listing(runs_found)])
        writer = {"csv": to_csv, "json": to_json, "markdown": to_markdown, "table": to_markdown}[format.value]
        text = writer(tables)
    if output:
        write_text_atomically(output, text)
        make_console().print(f"wrote {output}")
    else:
        typer.echo(text, nl=False)




@app.command()
@friendly
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback shows the board "
                                      "to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).")] = 8000,
):
    """Show the web board live from any database, read-only: every page load reads the board afresh."""
    from ..server import serve_board  # noqa: PLC0415

    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}")

    def announce(url: str) -> None:
        make_console().print(f"serving the board read-only at {url} (Ctrl-C stops)")

    serve_board(db, host, port, on_ready=announce)
