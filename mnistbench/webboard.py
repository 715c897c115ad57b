"""The board as one self-contained web page: the three boards as sortable tables, each run's details
with its learning curve, and the pictures (accuracy against parameters with the Pareto front, accuracy
against labels, time to 99 % across seeds).

The page carries its data as JSON and draws everything with its own small script into SVG: no
network, no library, so the file opens anywhere and can be mailed or put on a course page.
`mnistbench export --format html` writes it; `mnistbench serve` renders it afresh on every request.
The page itself (markup, style, script) is the package file board_page.html.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from importlib import resources

from .boards import boards
from .config import DEFAULT_TARGETS
from .references import references_boards
from .schema import EPOCH_COLUMNS, run_as_dict

# Label offsets (pixels) of the published results on the parameters picture, so that close ones stay readable.
_LABEL_OFFSETS = (-10, -8, 14, 4, 6, -6)


def params_references() -> list[dict]:
    """The published parameter-board results that have a count and an accuracy, for the picture; filled
    when honest or partly so, hollow (and starred) when chosen on the test set or unverified."""
    from .references import load_references  # noqa: PLC0415

    chosen = [r for r in load_references() if r.board == "params" and r.params and r.accuracy]
    return [{"name": r.name,
             "label": r.name.split("/")[0].split(",")[0].split(" ")[0] + ("" if r.honest in ("yes", "partly") else "*"),
             "params": r.params, "accuracy": r.accuracy, "honest": r.honest in ("yes", "partly"),
             "dy": _LABEL_OFFSETS[i % len(_LABEL_OFFSETS)]} for i, r in enumerate(chosen)]


# Run columns the page shows in a run's details (the rest stay in exports).
DETAIL_COLUMNS = ("id", "benchmark", "model", "status", "owner", "test_accuracy", "val_accuracy", "params_total",
                  "params_trainable", "labels_used", "selection_labels_read", "flags", "verification", "model_sha256",
                  "seed", "epochs_run", "batch_size", "train_seconds", "eval_seconds", "time_to_99", "time_to_995", "device",
                  "tf_version", "keras_version", "git_commit", "host", "created_at", "error")


def _compact(details: dict, longest: int = 50) -> dict:
    """A run's details for the page: a long list (the 1,000 images a labels run chose) as its length."""
    return {k: (f"{len(v):,} items (`mnistbench show`)" if isinstance(v, list) and len(v) > longest else v)
            for k, v in details.items()}


def page_data(reader, source: str = "") -> dict:
    """Everything the page shows, as JSON-able values: the boards' rows, every run with its epochs."""
    runs = reader.runs()
    tables = boards(runs)
    epochs = reader.epochs_by_run()  # one query, not one a run: a class board has thousands
    details = []
    for run in runs:
        row = run_as_dict(run)
        details.append({**{k: row.get(k) for k in DETAIL_COLUMNS}, "config": row.get("config") or {},
                        "details": _compact(row.get("details") or {}),
                        "epochs": [{k: getattr(e, k) for k in EPOCH_COLUMNS} for e in epochs.get(run.id, [])]})
    return {
        "source": source,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "boards": [{"name": b.name, "title": b.title, "caption": b.caption,
                    "columns": [{"key": c.key, "header": c.header, "kind": c.kind} for c in b.columns],
                    "rows": b.rows} for b in tables],
        "runs": details,
        "references": {"params": params_references()},
        "claims": [{"name": b.name, "title": b.title, "caption": b.caption,
                    "columns": [{"key": c.key, "header": c.header, "kind": c.kind} for c in b.columns],
                    "rows": b.rows} for b in references_boards()],
        "targets": DEFAULT_TARGETS,
    }


def render_page(data: dict, title: str = "mnistbench leaderboard") -> str:
    """The HTML document; the data goes in a JSON script element with <, > and & written as JSON escapes,
    so that no value (`</script>`, `<!--<script>`, which would swallow the page's own code) is markup."""
    payload = (json.dumps(data, default=str, allow_nan=False)
               .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    template = resources.files("mnistbench").joinpath("board_page.html").read_text(encoding="utf-8")
    return (template.replace("%%TITLE%%", html.escape(title))
            .replace("%%DATA%%", payload))


def html_board(reader, source: str = "", title: str = "mnistbench leaderboard") -> str:
    return render_page(json_safe(page_data(reader, source)), title)


def json_safe(value):
    """JSON has no NaN or infinity: such a value (a diverged loss) becomes null."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value
