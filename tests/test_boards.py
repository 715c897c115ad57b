"""Ranking rules and their rendering, on hand-made runs."""

from __future__ import annotations

import io
import json
from datetime import datetime
from types import SimpleNamespace

from rich.console import Console

from mnistbench import boards, render


def run(id, benchmark="accuracy", acc=0.99, params=1000, labels=60000, status="finished", **extra):
    fields = dict(id=id, benchmark=benchmark, model="m", status=status, test_accuracy=acc, val_accuracy=acc,
                  params_total=params, params_trainable=params, labels_used=labels, epochs_run=1, train_seconds=1.0, device="CPU",
                  flags="", verification=None, created_at=datetime(2026, 1, 1), sweep=None, trial=None,
                  config={}, selection_labels_read=None, time_to_99=None, epoch_to_99=None,
                  time_to_995=None, epoch_to_995=None, members=None, seed=0)
    fields.update(extra)
    return SimpleNamespace(**fields)


def ids(board):
    return [row["run"] for row in board.rows]


def test_accuracy_board_best_first_ties_to_earlier_run():
    runs = [run(1, acc=0.98), run(2, acc=0.99), run(3, acc=0.99), run(4, acc=0.999, status="interrupted"),
            run(5, benchmark="labels", acc=0.999)]
    assert ids(boards.accuracy_board(runs)) == [2, 3, 1]
    assert ids(boards.accuracy_board(runs, top=1)) == [2]


def test_time_to_board():
    runs = [run(1, time_to_99=30.0, epoch_to_99=3), run(2, time_to_99=10.0, epoch_to_99=1), run(3)]
    board = boards.accuracy_board(runs, time_to=99)
    assert ids(board) == [2, 1] and board.rows[0]["time_to"] == 10.0


def test_params_board_needs_target_then_fewest_params():
    runs = [run(1, "params", params=500, acc=0.989), run(2, params=900, acc=0.991), run(3, params=800, acc=0.990),
            run(4, params=800, acc=0.995), run(5, params=100, acc=0.999, benchmark="labels")]
    assert ids(boards.params_board(runs)) == [4, 3, 2, 1]  # 1 missed: listed last, unranked
    assert [r["rank"] for r in boards.params_board(runs).rows] == [1, 2, 3, None]
    assert ids(boards.params_board(runs, top=2)) == [4, 3]
    assert ids(boards.params_board(runs, target=0.98)) == [1, 4, 3, 2]


def test_params_board_shows_trainable_and_non_trainable_and_ranks_the_total():
    runs = [run(1, "params", params=1000, params_trainable=900), run(2, "params", params=950, params_trainable=950)]
    board = boards.params_board(runs)
    assert ids(board) == [2, 1] and "ranked on the total" in board.caption
    assert [(r["params"], r["params_trainable"], r["params_non_trainable"]) for r in board.rows] == [
        (950, 950, 0), (1000, 900, 100)]
    assert {"params_trainable", "params_non_trainable"} <= {c.key for c in board.columns}


def test_labels_board_and_best_per_k():
    runs = [run(1, "labels", acc=0.96, labels=100), run(2, "labels", acc=0.97, labels=10),
            run(3, "labels", acc=0.80, labels=10), run(4, "labels", acc=0.94, labels=20),
            run(5, "labels", acc=0.99, labels=100)]
    main, per_k = boards.labels_boards(runs)
    assert ids(main) == [2, 5, 1]
    assert [(r["labels"], r["run"]) for r in per_k.rows] == [(10, 2), (20, 4), (100, 5)]


def test_table_renders_numbers_uncut():
    board = boards.accuracy_board([run(1, acc=0.99123, params=327242)])
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(render.rich_table(board))
    text = console.file.getvalue()
    assert "99.12" in text and "327,242" in text and "Maximum accuracy" in text


def test_csv_json_markdown():
    board = boards.params_board([run(1, acc=0.995, params=1500)])
    csv_text = render.to_csv([board])
    assert csv_text.splitlines()[0].startswith("rank,run,model,params") and ",1500,1500,0,yes,0.995," in csv_text
    assert json.loads(render.to_json([board]))["params"]["rows"][0]["params"] == 1500
    md = render.to_markdown([board])
    assert "| # | run | model | params | trainable | non-trainable | reaches target |" in md
    assert "| 1 | 1 | m | 1,500 | 1,500 | 0 | yes | 99.50 |" in md


def test_sparkline():
    assert render.sparkline([0.1, 0.5, 0.9]) == "▁▅█"


def test_a_test_selected_run_is_shown_below_and_never_ranked():
    from mnistbench import aggregate

    runs = [run(1, acc=0.990), run(2, acc=0.995, flags="test-selected"), run(3, "params", params=10, acc=0.999,
                                                                              flags="EMA weights 0.999, test-selected")]
    board = boards.accuracy_board(runs)
    assert [(r["run"], r["rank"]) for r in board.rows] == [(1, 1), (2, None)] and "unranked" in board.caption
    assert ids(boards.accuracy_board(runs, top=5)) == [1]
    params = boards.params_board(runs)
    assert [(r["run"], r["rank"], r["reaches"]) for r in params.rows] == [(1, 1, "yes"), (3, None, "never ranked")]
    assert [g.runs[0].id for g in aggregate.groups(runs, {"accuracy", "params"})] == [1]
    assert not boards.test_selected(run(4, flags="selected on test day"))


def test_one_rule_ranks_single_runs_and_configurations_alike():
    """Runs that are each a configuration of their own (one seed, distinct configs): the per-run boards and
    the per-configuration boards rank them in the same order, missed entries included (rules.py)."""
    from mnistbench.aggregate import by_config_boards

    runs = [run(1, "params", acc=0.991, params=900), run(2, "params", acc=0.989, params=700),
            run(3, "accuracy", acc=0.995, params=5000), run(4, "params", acc=0.992, params=900),
            run(5, "labels", acc=0.97, labels=10), run(6, "labels", acc=0.96, labels=10),
            run(7, "labels", acc=0.99, labels=100), run(8, "labels", acc=0.90, labels=5)]
    runs = [SimpleNamespace(**{**vars(r), "config": {"n": r.id}}) for r in runs]  # every run its own config
    per_run = {b.name: b for b in boards.boards(runs)}
    per_config = {b.name.removesuffix("-by-config"): b for b in by_config_boards(runs)}
    for name in ("accuracy", "params", "labels"):
        assert [r["run"] for r in per_run[name].rows] == [int(r["runs"]) for r in per_config[name].rows], name
    assert ids(per_run["params"]) == [4, 1, 3, 2]  # 900 twice: the higher accuracy first; 700 missed, below
    assert [r["reaches"] for r in per_run["params"].rows] == ["yes", "yes", "yes", "no"]
    assert ids(per_run["labels"]) == [5, 6, 7]
