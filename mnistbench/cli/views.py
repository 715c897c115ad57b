"""What the commands print beyond the boards (render.py draws those): the find-smallest curve, a sweep's
trials, the mean of several seeds. Rich, imported when a table is drawn (the CLI's top imports only typer);
never TensorFlow."""

from __future__ import annotations

import statistics


def find_smallest_table(outcome, name: str, target: float, front: list):
    """The widths find-smallest tried: mean validation accuracy by width, each seed's, and the Pareto front."""
    from rich.table import Table  # noqa: PLC0415

    on_front = {a.width for a in front}
    curve = Table(title=f"find-smallest {name}: mean validation accuracy by width", title_justify="left",
                  caption="* on the Pareto front (no smaller width reached a higher mean validation accuracy)")
    for header in ("width", "params", "runs", "val % (mean)", "val % by seed", "reached", "front"):
        curve.add_column(header, justify="right")
    for a in sorted(outcome.attempts, key=lambda a: a.params_total):
        mean = "–" if a.val_accuracy is None else f"{100 * a.val_accuracy:.2f}"
        by_seed = " / ".join("–" if v is None else f"{100 * v:.2f}" for v in a.val_accuracies)
        curve.add_row(str(a.width), f"{a.params_total:,}", ",".join(map(str, a.run_ids)), mean, by_seed,
                      "yes" if (a.val_accuracy or 0) >= target else "no", "*" if a.width in on_front else "")
    return curve


def trials_table(title: str, rows: list[dict], caption: str = ""):
    """Trials as a table: one column per key (parameters included), values rounded."""
    from rich.table import Table  # noqa: PLC0415

    from ..sweeps import rounded  # noqa: PLC0415  (Optuna stays unimported until a sweep is shown)

    table = Table(title=title, title_justify="left", caption=caption or None)
    keys = list(dict.fromkeys(k for row in rows for k in row)) or ["trial"]
    for key in keys:
        table.add_column("val %" if key == "val_accuracy" else key, justify="left" if key == "state" else "right")
    for row in rows:
        table.add_row(*(rounded(row.get(k), k) for k in keys))
    return table


def say_mean(console, accuracies: list, seconds: list, run_ids: list) -> None:
    """The mean of several seeds' runs, one line: ± std, n, worst, seconds each."""
    values = [100 * a for a in accuracies if a is not None]
    if not values:
        return
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    console.print(f"runs {', '.join(map(str, run_ids))}: mean test accuracy {statistics.fmean(values):.2f} %{spread} "
                  f"(n={len(values)}, worst {min(values):.2f} %), {statistics.fmean(seconds):.1f} s of training each "
                  f"on average")
