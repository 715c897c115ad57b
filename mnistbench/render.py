"""Boards and runs as rich tables, CSV, JSON or Markdown. Formatting only: no ranking, no database."""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .boards import Board, Column
from .config import Format
from .sanitize import printable

FORMATS = Format.values()
SPARKS = "▁▂▃▄▅▆▇█"


def fmt(value, kind: str) -> str:
    """A cell as text; control characters removed, since a run's fields may be a stranger's words."""
    return printable(_fmt(value, kind))


def _fmt(value, kind: str) -> str:
    if value is None or value == "":
        return "" if kind == "text" else "–"
    if kind == "pct":
        return f"{100 * value:.2f}"
    if kind == "float4":
        return f"{value:.4f}"
    if kind == "seconds":
        return f"{value:,.1f}"
    if kind == "int":
        return f"{value:,}" if isinstance(value, int) else str(value)
    return str(value)


def _visible(board: Board) -> list[Column]:
    """Drop text columns that are empty on every row (flags, verified), to keep tables narrow."""
    return [c for c in board.columns if c.kind != "text" or c.key in ("model",) or any(r.get(c.key) for r in board.rows)]


# Dropped first when a terminal is too narrow for every column.
EXPENDABLE = ("date", "device", "sweep", "train_seconds", "val_accuracy", "epochs", "selection_labels_read")


def _fit(board: Board, columns: list[Column], width: int | None) -> list[Column]:
    """Keep the columns that fit `width`, dropping the expendable ones first."""
    if width is None:
        return columns

    kept = list(columns)
    for key in EXPENDABLE:
        if sum(_min_width(board, c) + 3 for c in kept) + 1 <= width:
            break
        kept = [c for c in kept if c.key != key]
    return kept


def _min_width(board: Board, column: Column) -> int:
    """Numbers at full width; text folds, but not below its longest word or 14 characters."""
    header = len(column.header) + (2 if column.kind == "pct" else 0)
    cells = [len(fmt(r.get(column.key), column.kind)) for r in board.rows]
    if column.kind != "text":
        return max([header, *cells])
    words = [len(w) for r in board.rows for w in str(r.get(column.key) or "").split()]
    return min(max([len(w) for w in column.header.split()] + words), 14)


def rich_table(board: Board, width: int | None = None) -> Table:
    table = Table(title=board.title, caption=board.caption, title_justify="left")
    columns = _fit(board, _visible(board), width)
    for column in columns:
        header = column.header + (" %" if column.kind == "pct" else "")
        if column.kind == "text":
            table.add_column(header, overflow="fold", min_width=_min_width(board, column))
        else:  # numbers are never cut: a truncated accuracy is worse than a wide table
            table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for row in board.rows:
        table.add_row(*(Text(fmt(row.get(c.key), c.kind)) for c in columns))  # Text: never read as markup
    if not board.rows:
        table.caption = (board.caption + " · " if board.caption else "") + "no runs yet"
    return table


def to_csv(boards: list[Board]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    many = len(boards) > 1
    for board in boards:
        keys = [c.key for c in board.columns]
        writer.writerow((["board"] if many else []) + keys)
        for row in board.rows:
            writer.writerow(([board.name] if many else [])
                            + ["" if row.get(k) is None else _cell(row.get(k)) for k in keys])
    return out.getvalue()


def _cell(value):
    return printable(value) if isinstance(value, str) else value


def to_json(boards: list[Board]) -> str:
    from .webboard import json_safe  # noqa: PLC0415  (NaN and infinity as null: JSON has neither)

    return json.dumps(json_safe({b.name: {"title": b.title, "caption": b.caption, "rows": b.rows} for b in boards}),
                      indent=2, default=str, allow_nan=False)


def to_markdown(boards: list[Board]) -> str:
    parts = []
    for board in boards:
        columns = _visible(board)
        lines = [f"### {board.title}", "", f"_{board.caption}_", ""] if board.caption else [f"### {board.title}", ""]
        lines.append("| " + " | ".join(c.header + (" %" if c.kind == "pct" else "") for c in columns) + " |")
        lines.append("|" + "|".join("---:" if c.kind != "text" else "---" for c in columns) + "|")
        for row in board.rows:
            lines.append("| " + " | ".join(fmt(row.get(c.key), c.kind).replace("|", "/") for c in columns) + " |")
        if not board.rows:
            lines.append("| " + " | ".join("" for _ in columns) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def emit(boards: list[Board], fmt_name: str, console: Console) -> None:
    if fmt_name == "table":
        for board in boards:
            console.print(rich_table(board, console.width))
    elif fmt_name == "csv":
        console.out(to_csv(boards), end="", highlight=False)
    elif fmt_name == "json":
        console.out(to_json(boards), highlight=False)
    elif fmt_name == "markdown":
        console.out(to_markdown(boards), end="", highlight=False)
    else:
        Format.check(fmt_name, "--format")


def sparkline(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARKS[min(len(SPARKS) - 1, int((v - low) / span * len(SPARKS)))] for v in values)


def run_detail(run_dict: dict, epochs: list[dict]) -> Group:
    """`mnistbench show`: the run's columns, its config (what it was told), its details (what it measured)
    and its learning curve."""
    info = Table(show_header=False, box=None, title=f"Run {run_dict['id']}", title_justify="left")
    info.add_column(style="bold")
    info.add_column()
    for key, value in run_dict.items():
        if key in ("config", "details") or value is None or value == "":
            continue
        if key.endswith("accuracy") and isinstance(value, float):
            shown = f"{100 * value:.2f} %"
        else:
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        info.add_row(key, Text(printable(shown)))
        if key == "params_trainable" and isinstance(run_dict.get("params_total"), int) and isinstance(value, int):
            info.add_row("params_non_trainable", Text(f"{run_dict['params_total'] - value} (the total ranks)"))
    config = Text(json.dumps(run_dict.get("config") or {}, indent=2, default=str))  # json escapes controls
    details = Text(json.dumps(run_dict.get("details") or {}, indent=2, default=str))
    curve = Table(title="Learning curve", title_justify="left")
    for header in ("epoch", "loss", "acc %", "val loss", "val acc %", "lr", "s", "img/s"):
        curve.add_column(header, justify="right")
    for e in epochs:
        curve.add_row(str(e["epoch"]), fmt(e["loss"], "float4"), fmt(e["accuracy"], "pct"),
                      "–" if e["val_loss"] is None else f"{e['val_loss']:.4f}", fmt(e["val_accuracy"], "pct"),
                      "–" if e["lr"] is None else f"{e['lr']:.2e}", fmt(e["seconds"], "seconds"),
                      fmt(e["images_per_s"], "seconds"))
    parts = [info, Text("config", style="bold"), config, Text("details", style="bold"), details]
    if epochs:
        spark = sparkline([e["val_accuracy"] for e in epochs]) or sparkline([e["accuracy"] for e in epochs])
        parts += [curve, Text(f"val accuracy  {spark}")]
    return Group(*parts)
