"""The reference board: the record runs of every board, kept in the repository as export-run bundles.

`leaderboards/reference/` holds one zip per run (its row, epochs, config and saved model, as `export-run`
writes them) and `ensembles.json`, each ensemble as its members' bundle names with the accuracy it
recorded. `build` imports every bundle into a board, re-evaluating each model on the local test set and
refusing one whose hash, parameter count or accuracy disagrees (import_run's checks), then forms and
re-tests every ensemble the same way. Building twice adds nothing: a bundle already on the board is
recognised by its model's SHA-256.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_text_atomically
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


def _ensembles(folder: Path) -> list[dict]:
    path = folder / ENSEMBLES
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["ensembles"]
        assert isinstance(entries, list) and all(
            isinstance(e.get("members"), list) and isinstance(e.get("test_accuracy"), float) for e in entries)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, AssertionError):
        raise MnistbenchError(f"{path} is not an ensembles file of mnistbench "
                              f"({{\"ensembles\": [{{\"members\": [...], \"test_accuracy\": ...}}]}})") from None
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
                name = bundle_name(store.get_run(member))
                if not (folder / name).exists():
                    export_run(store, member, folder / name)
                    written.append(name)
                names.append(name)
            if run.test_accuracy is None:
                raise MnistbenchError(f"run {run_id} is an ensemble without a test accuracy")
            if not any(sorted(e["members"]) == sorted(names) for e in entries):
                entries.append({"members": names, "test_accuracy": run.test_accuracy, "model": run.model})
                written.append(f"{ENSEMBLES}: {run.model} of {len(names)}")
        else:
            name = bundle_name(run)
            export_run(store, run_id, folder / name)
            written.append(name)
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
