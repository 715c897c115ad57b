"""The reference board: the record runs of every board, kept in the repository as export-run bundles.

`leaderboards/reference/` holds one zip per run (its row, epochs, config and saved model, as `export-run`
writes them) and `ensembles.json`, each ensemble as its members' bundle names with the accuracy it
recorded. `build` imports every bundle into a board, re-evaluating each model on the local test set and
refusing one whose hash, parameter count or accuracy disagrees (import_run's checks), then forms and
re-tests every ensemble the same way. Building twice adds nothing: a bundle already on the board is
recognised by its model's SHA-256.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_text_atomically
from .config import Status
from .errors import MnistbenchError

DEFAULT_FOLDER = Path("leaderboards") / "reference"
ENSEMBLES = "ensembles.json"
MAX_BUNDLES_BYTES = 25 * 2**20  # the repository carries them all: weights only, a few MB each


@dataclass
class Built:
    imported: list[tuple[str, int, float]] = field(default_factory=list)  # (bundle, run id, accuracy)
    present: list[tuple[str, int]] = field(default_factory=list)  # already on the board
    ensembles: list[tuple[list[int], int, float]] = field(default_factory=list)


def bundle_name(run) -> str:
    """A name that says what the bundle holds: benchmark, model, seed and the run id it had."""
    model = re.sub(r"[^A-Za-z0-9_.-]+", "_", run.model or "model")[:40]
    return f"{run.benchmark}-{model}-seed{run.seed if run.seed is not None else 'na'}-run{run.id}.zip"


def _same_run(path: Path, run) -> bool:
    """Whether the bundle at `path` holds `run`: run ids are per board, so a bundle of the same name can be
    another board's run, told apart by the host and the moment it was created."""
    from .schema import run_as_dict  # noqa: PLC0415
    from .transfer import read_run_zip  # noqa: PLC0415

    theirs, ours = read_run_zip(path)[0]["run"], run_as_dict(run)
    return all(str(theirs.get(k)) == str(ours.get(k)) for k in ("id", "host", "created_at"))


def bundle_path(run, folder: Path) -> tuple[Path, bool]:
    """Where `run`'s bundle goes in `folder`, and whether it is there already. A bundle of the same name
    that holds another run keeps its place; this run takes the next free name (-2, -3, ...)."""
    stem = bundle_name(run).removesuffix(".zip")
    for n in itertools.count(1):
        path = folder / (f"{stem}.zip" if n == 1 else f"{stem}-{n}.zip")
        if not path.exists():
            return path, False
        if _same_run(path, run):
            return path, True
    raise AssertionError("unreachable")


def _ensembles(folder: Path) -> list[dict]:
    path = folder / ENSEMBLES
    if not path.exists():
        return []
    wrong = MnistbenchError(f"{path} is not an ensembles file of mnistbench "
                            f"({{\"ensembles\": [{{\"members\": [...], \"test_accuracy\": ...}}]}})")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["ensembles"]
        well_formed = isinstance(entries, list) and all(
            isinstance(e.get("members"), list) and isinstance(e.get("test_accuracy"), float) for e in entries)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise wrong from None
    if not well_formed:  # checked explicitly: an assert would vanish under python -O
        raise wrong
    return entries


def add(store, run_ids: list[int], folder: Path = DEFAULT_FOLDER) -> list[str]:
    """Put runs on the reference board: a run as its bundle, an ensemble as its members' bundles plus an
    entry in ensembles.json. Returns what was written."""
    from .transfer import export_run  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    written, entries = [], _ensembles(folder)
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run.members:
            names = []
            for member in run.members:
                path, there = bundle_path(store.get_run(member), folder)
                if not there:
                    export_run(store, member, path)
                    written.append(path.name)
                names.append(path.name)
            if run.test_accuracy is None:
                raise MnistbenchError(f"run {run_id} is an ensemble without a test accuracy")
            if not any(sorted(e["members"]) == sorted(names) for e in entries):
                entries.append({"members": names, "test_accuracy": run.test_accuracy, "model": run.model})
                written.append(f"{ENSEMBLES}: {run.model} of {len(names)}")
        else:
            path, _ = bundle_path(run, folder)
            export_run(store, run_id, path)  # written again if there: the same run
            written.append(path.name)
    if entries:
        write_text_atomically(folder / ENSEMBLES, json.dumps({"ensembles": entries}, indent=2) + "\n")
    size = sum(p.stat().st_size for p in folder.glob("*.zip"))
    if size > MAX_BUNDLES_BYTES:
        raise MnistbenchError(f"{folder} now holds {size / 2**20:.1f} MB of bundles, over the "
                              f"{MAX_BUNDLES_BYTES // 2**20} MB the repository keeps; remove the largest")
    return written


def build(store, mnist, folder: Path = DEFAULT_FOLDER) -> Built:
    """Every bundle of `folder` on `store`'s board, re-evaluated here, and every ensemble re-formed."""
    from .ensembles import ensemble  # noqa: PLC0415
    from .transfer import find_import, import_run, read_run_zip  # noqa: PLC0415

    bundles = sorted(folder.glob("*.zip"))
    if not bundles:
        raise MnistbenchError(f"{folder}: no bundles (*.zip) to build a reference board from")
    built, ids = Built(), {}
    for path in bundles:
        package = read_run_zip(path)
        earlier = find_import(store, package)
        if earlier is not None:
            ids[path.name] = earlier.id
            built.present.append((path.name, earlier.id))
            continue
        accepted = import_run(store, path, mnist, package)
        ids[path.name] = accepted.run_id
        built.imported.append((path.name, accepted.run_id, accepted.test_accuracy))
    for entry in _ensembles(folder):
        missing = [name for name in entry["members"] if name not in ids]
        if missing:
            raise MnistbenchError(f"{folder / ENSEMBLES}: member {missing[0]} has no bundle in {folder}")
        members = sorted(ids[name] for name in entry["members"])
        if any(sorted(run.members or []) == members for run in store.runs()):
            continue
        run_id, accuracy, _ = ensemble(store, members, mnist, expect=entry["test_accuracy"])
        built.ensembles.append((members, run_id, accuracy))
    return built


# --- what the reference board says, as the README's records table and RESULTS.md --------------------

README_START, README_END = "<!-- records: generated by `mnistbench reference publish` -->", "<!-- /records -->"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _anchor(board: str, what: str) -> str:
    """The best honest public figure of a board: a claim reached under our protocol (or partly so), or the
    honest recomputation of one that was not. Accuracy: the highest; parameters: the fewest at 99 %;
    labels: the fewest."""
    from .references import load_references  # noqa: PLC0415

    candidates = []  # (tier, reference, accuracy, text): tier 0 honest or recomputed, 1 partly honest
    for r in load_references():
        if r.board != board or (what and r.what != what):
            continue
        if r.recomputed_accuracy:
            candidates.append((0, r, r.recomputed_accuracy, f"{r.name}: {r.recomputed} (recomputed; claimed {r.claim})"))
        elif r.honest == "yes" and r.accuracy:
            candidates.append((0, r, r.accuracy, f"{r.name}: {r.claim}"))
        elif r.honest == "partly" and r.accuracy:
            candidates.append((1, r, r.accuracy, f"{r.name}: {r.claim} (partly honest: {r.why})"))
    if board == "params":
        candidates = sorted(((t, r.params, -a), text) for t, r, a, text in candidates if r.params and a >= 0.99)
    elif board == "labels":
        candidates = sorted(((t, r.labels, -a), text) for t, r, a, text in candidates if r.labels is not None)
    else:
        candidates = sorted(((t, -a), text) for t, r, a, text in candidates)
    return candidates[0][1] if candidates else "none found"


def records(runs) -> list[dict]:
    """Per board, the record of the reference board: the best configuration by its mean over seeds (at
    least three) among the runs made for that board, the best ensemble, with its figures and the best
    honest public figure beside it."""
    from .aggregate import groups, settings  # noqa: PLC0415
    from .rules import RULES, Entry  # noqa: PLC0415

    def best(board: str) -> list[tuple]:
        """The board's own rule over its configurations of three seeds or more, among the runs made for it,
        each with what tells it apart from the model's other configurations there."""
        found = [g for g in groups(runs, {board}) if g.n >= 3]
        setting = {id(g): text for g, text in zip(found, settings(found), strict=True)}
        ranked, _ = RULES[board].rank([Entry.of_group(g) for g in found])
        return [(e.item, setting[id(e.item)]) for e in ranked]

    out = []
    for board, title, found, what in (
            ("accuracy", "Maximum accuracy, one model", best("accuracy"), "single model"),
            ("params", f"Minimum parameters at {RULES['params'].goal():.0%}".replace("%", " %"), best("params"),
             "single model"),
            ("labels", f"Minimum labels at {RULES['labels'].goal():.0%}".replace("%", " %"), best("labels"), "")):
        row = {"board": title, "anchor": _anchor(board, what)}
        if found:
            g, setting = found[0]
            first = g.runs[0]
            row.update(record=f"{first.model}{f', {setting}' if setting else ''} "
                              f"({', '.join(f'seed {r.seed}' for r in g.runs)})",
                       result=f"{_pct(g.mean)} ± {100 * (g.std or 0):.2f} "
                              f"(n = {g.n}; {' / '.join(_pct(r.test_accuracy) for r in g.runs)})",
                       params=first.params_total, trainable=first.params_trainable, labels=first.labels_used,
                       seconds=g.mean_seconds, machine=first.device or "", flags=first.flags or "")
        out.append(row)
    ensembles = sorted((r for r in runs if r.members and r.status == Status.finished and r.test_accuracy is not None),
                       key=lambda r: (-r.test_accuracy, r.id))
    row = {"board": "Maximum accuracy, ensemble", "anchor": _anchor("accuracy", "ensemble")}
    if ensembles:
        best = ensembles[0]
        row.update(record=f"{best.model} of runs {', '.join(map(str, best.members))}",
                   result=f"{_pct(best.test_accuracy)} (members fixed before the test was read)",
                   params=best.params_total, trainable=best.params_trainable, labels=best.labels_used,
                   seconds=best.train_seconds, machine=best.device or "", flags="")
    out.insert(1, row)
    out[2:2] = _seed_recipe_rows(runs)
    return out


# The seed report's own figures for its nets, beside our runs of them (../seeds, section 2).
SEED_CLAIMS = {"baseline": "the seed report: 99.47 % (Listing 1, all 60,000 images, \"with some luck\", no "
                           "validation split)",
               "tuned": "the seed report gives no figure for Listing 2 alone"}


def _seed_recipe_rows(runs) -> list[dict]:
    """The seed's nets as it wrote them: under our protocol (the mean over seeds, however many the board
    holds, n shown), and under its own (the epoch chosen on the test set: flagged, never a record)."""
    from .aggregate import groups  # noqa: PLC0415
    from .boards import test_selected  # noqa: PLC0415

    rows = []
    for model, claim in SEED_CLAIMS.items():
        found = [g for g in groups(runs, {"accuracy"}) if g.runs[0].model == model]
        if found:
            g = max(found, key=lambda g: (g.n, g.mean))  # the configuration the board has most seeds of
            first = g.runs[0]
            spread = f" ± {100 * g.std:.2f}" if g.std is not None else ""
            rows.append({"board": f"Maximum accuracy, the seed's `{model}` as written", "anchor": claim,
                         "record": f"{model} ({', '.join(f'seed {r.seed}' for r in g.runs)})",
                         "result": f"{_pct(g.mean)}{spread} (n = {g.n}; "
                                   f"{' / '.join(_pct(r.test_accuracy) for r in g.runs)})",
                         "params": first.params_total, "trainable": first.params_trainable,
                         "labels": first.labels_used, "seconds": g.mean_seconds, "machine": first.device or "",
                         "flags": first.flags or ""})
        chosen_on_test = sorted((r for r in runs if r.model == model and r.benchmark == "accuracy"
                                 and r.status == Status.finished and r.test_accuracy is not None
                                 and test_selected(r)), key=lambda r: r.id)
        if chosen_on_test:
            rows.append({"board": f"Maximum accuracy, the seed's `{model}` under the seed's protocol",
                         "anchor": claim,
                         "record": f"{model} ({', '.join(f'seed {r.seed}' for r in chosen_on_test)})",
                         "result": " / ".join(_pct(r.test_accuracy) for r in chosen_on_test)
                                   + " (the test set chose the epoch: never ranked)",
                         "params": chosen_on_test[0].params_total, "trainable": chosen_on_test[0].params_trainable,
                         "labels": chosen_on_test[0].labels_used,
                         "seconds": statistics.fmean(r.train_seconds or 0 for r in chosen_on_test),
                         "machine": chosen_on_test[0].device or "", "flags": chosen_on_test[0].flags or ""})
    return rows


def records_markdown(runs) -> str:
    lines = ["| board | record | test accuracy, mean ± std over seeds | parameters (trainable / total) | labels "
             "| train s (mean) | machine | best honest public figure |",
             "| --- | --- | --- | ---: | ---: | ---: | --- | --- |"]
    for row in records(runs):
        if "record" not in row:
            lines.append(f"| {row['board']} | no reference run yet | – | – | – | – | – | {row['anchor']} |")
            continue
        params = f"{row['trainable']:,} / {row['params']:,}" if row["trainable"] is not None else f"{row['params']:,}"
        seconds = "–" if row["seconds"] is None else f"{row['seconds']:,.0f}"
        labels = "–" if row["labels"] is None else f"{row['labels']:,}"
        # Every reference run is imported (re-evaluated here); the other flags say something of the run.
        shown = ", ".join(f for f in row["flags"].split(", ") if f and f != "imported")
        flags = f" ({shown})" if shown else ""
        lines.append(f"| {row['board']} | {row['record']}{flags} | {row['result']} | {params} | {labels} | {seconds} "
                     f"| {row['machine']} | {row['anchor']} |")
    return "\n".join(lines) + "\n"


def replace_records(readme: str, table: str) -> str:
    """The README with the text between its records markers replaced by `table`."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise MnistbenchError(f"the README has no records section ({README_START} ... {README_END})")
    return readme[:start + len(README_START)] + "\n" + table + readme[end:]


RESULTS_HEADER = """# Results: the reference board

Generated by `mnistbench reference publish` from the bundles in `leaderboards/reference/`, each re-evaluated
on the test set of the machine that built the board (`mnistbench reference build`); do not edit by hand.
Every figure is a run of mnistbench's own commands; the command that repeats a run is
`mnistbench show RUN --as-command`. The history of design experiments, with their commands, is in
`docs/experiments.md`.

## Records

"""


def results_markdown(runs) -> str:
    """RESULTS.md: the records, each board by configuration (mean ± std over seeds), then every run."""
    from .aggregate import by_config_boards  # noqa: PLC0415
    from .boards import boards  # noqa: PLC0415
    from .render import to_markdown  # noqa: PLC0415

    def undated(tables):  # an imported run is dated by its import: the same file on every machine needs none
        for table in tables:
            table.columns = [c for c in table.columns if c.key != "date"]
        return tables

    parts = [RESULTS_HEADER, records_markdown(runs), "\n## The boards by configuration\n\n",
             to_markdown(undated(by_config_boards(runs))), "\n## Every run\n\n", to_markdown(undated(boards(runs)))]
    return "".join(parts)


def publish(runs, readme: Path, results: Path, page: Path, reader=None) -> list[Path]:
    """Regenerate the README's records table, RESULTS.md and the web page from a built reference board."""
    from .atomic import write_text_atomically as write  # noqa: PLC0415

    written = []
    text = readme.read_text(encoding="utf-8")
    updated = replace_records(text, records_markdown(runs))
    if updated != text:
        write(readme, updated)
        written.append(readme)
    write(results, results_markdown(runs))
    written.append(results)
    if reader is not None:
        from .webboard import html_board  # noqa: PLC0415

        write(page, html_board(reader, source="the reference board (leaderboards/reference)",
                               title="mnistbench reference board"))
        written.append(page)
    return written
