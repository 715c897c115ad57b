"""The reference board: runs kept as bundles, rebuilt on another board with every model re-evaluated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnistbench import reference, training
from mnistbench.config import Recipe, TrainConfig
from mnistbench.ensembles import ensemble
from mnistbench.errors import MnistbenchError
from mnistbench.store import Store


def _train(store, mnist, seed):
    config = TrainConfig(benchmark="accuracy", model="fast", seed=seed, val_size=50,
                         recipe=Recipe(batch_size=32, epochs=1, callbacks=()))
    return training.train(config, mnist, store).run_id


@pytest.fixture
def kept(tiny_mnist, tmp_path):
    """A home board with two runs and their ensemble, put on a reference folder."""
    home = Store(f"sqlite:///{tmp_path / 'home' / 'board.db'}")
    first, second = _train(home, tiny_mnist, 0), _train(home, tiny_mnist, 1)
    combined, accuracy, _ = ensemble(home, [first, second], tiny_mnist)
    folder = tmp_path / "reference"
    written = reference.add(home, [first, combined], folder)
    return home, folder, written, (first, second, combined, accuracy)


def test_runs_and_ensembles_travel_as_bundles(kept):
    home, folder, written, (first, second, _, accuracy) = kept
    names = sorted(p.name for p in folder.glob("*.zip"))
    assert names == [f"accuracy-fast-seed0-run{first}.zip", f"accuracy-fast-seed1-run{second}.zip"]
    assert written[:2] == [names[0], names[1]] and written[-1].startswith("ensembles.json")
    entries = json.loads((folder / "ensembles.json").read_text())["ensembles"]
    assert entries == [{"members": names, "test_accuracy": accuracy, "model": "ensemble(fast)"}]


def test_another_boards_run_of_the_same_name_gets_a_bundle_of_its_own(kept, tiny_mnist, tmp_path):
    """Run ids are per board: run 1 of a new board is not run 1 of the board the folder's bundles came from.
    Adding it must keep the bundle already there, and adding the same run again must not copy it."""
    home, folder, _, (first, *_rest) = kept
    kept_bytes = (folder / f"accuracy-fast-seed0-run{first}.zip").read_bytes()
    other = Store(f"sqlite:///{tmp_path / 'other' / 'board.db'}")
    theirs = _train(other, tiny_mnist, 0)
    assert theirs == first  # the same name: benchmark, model, seed and run id
    assert reference.add(other, [theirs], folder) == [f"accuracy-fast-seed0-run{first}-2.zip"]
    assert (folder / f"accuracy-fast-seed0-run{first}.zip").read_bytes() == kept_bytes
    assert reference.add(other, [theirs], folder) == [f"accuracy-fast-seed0-run{first}-2.zip"]
    assert reference.add(home, [first], folder) == [f"accuracy-fast-seed0-run{first}.zip"]
    assert len(list(folder.glob("*.zip"))) == 3
    built = reference.build(Store(f"sqlite:///{tmp_path / 'elsewhere' / 'board.db'}"), tiny_mnist, folder)
    assert len(built.imported) == 3


def test_build_re_evaluates_every_run_and_adds_nothing_twice(kept, tiny_mnist, tmp_path, monkeypatch):
    from mnistbench import environment

    home, folder, _, (first, _, _, accuracy) = kept
    board = Store(f"sqlite:///{tmp_path / 'elsewhere' / 'board.db'}")
    monkeypatch.setattr(environment, "device_name", lambda: "CPU: the machine that rebuilds")
    built = reference.build(board, tiny_mnist, folder)
    assert len(built.imported) == 2 and len(built.ensembles) == 1 and built.present == []
    runs = {r.id: r for r in board.runs()}
    assert {r.flags for r in runs.values() if not r.members} == {"imported"}
    assert runs[built.imported[0][1]].test_accuracy == home.get_run(first).test_accuracy
    assert runs[built.ensembles[0][1]].test_accuracy == accuracy
    # The machine that trained the members, not the one that rebuilt the board: what is published is the same
    assert runs[built.ensembles[0][1]].device == home.get_run(first).device != "CPU: the machine that rebuilds"
    again = reference.build(board, tiny_mnist, folder)
    assert again.imported == [] and again.ensembles == [] and len(again.present) == 2
    assert len(board.runs()) == 3


def test_an_ensemble_that_disagrees_is_refused_and_nothing_is_written(kept, tiny_mnist, tmp_path):
    _, folder, _, (_, _, _, accuracy) = kept
    path = folder / "ensembles.json"
    entries = json.loads(path.read_text())
    entries["ensembles"][0]["test_accuracy"] = accuracy - 0.05
    path.write_text(json.dumps(entries))
    board = Store(f"sqlite:///{tmp_path / 'elsewhere' / 'board.db'}")
    with pytest.raises(MnistbenchError, match="re-evaluated here .*; refused"):
        reference.build(board, tiny_mnist, folder)
    assert not any(r.members for r in board.runs())


@pytest.mark.parametrize("text", ["", "[]", '{"ensembles": [{"members": "a.zip", "test_accuracy": 0.9}]}'])
def test_a_broken_ensembles_file_is_one_clear_error(kept, tiny_mnist, tmp_path, text):
    _, folder, _, _ = kept
    (folder / "ensembles.json").write_text(text)
    with pytest.raises(MnistbenchError, match="is not an ensembles file of mnistbench"):
        reference.build(Store(f"sqlite:///{tmp_path / 'b.db'}"), tiny_mnist, folder)


def test_an_empty_folder_is_refused(tiny_mnist, tmp_path):
    with pytest.raises(MnistbenchError, match="no bundles"):
        reference.build(Store(f"sqlite:///{tmp_path / 'b.db'}"), tiny_mnist, tmp_path)


def _finished(store, seed, accuracy, model="record", benchmark="accuracy", params=1000, **extra):
    run_id = store.start_run(benchmark=benchmark, model=model, seed=seed, params_total=params,
                             params_trainable=params - 10, labels_used=55_000, config={"recipe": {"epochs": 12}},
                             device="CPU: test", **extra)
    store.finish_run(run_id, "finished", test_accuracy=accuracy, train_seconds=100.0 + seed)
    return run_id


def test_the_records_table_says_each_boards_record_beside_the_best_honest_figure(db_url, tmp_path):
    store = Store(db_url)
    ids = [_finished(store, seed, acc) for seed, acc in enumerate((0.9970, 0.9972, 0.9974))]
    _finished(store, 0, 0.9990, model="lucky")  # one seed is not a record, however high
    combined = store.start_run(benchmark="accuracy", model="ensemble(record)", members=ids, params_total=3000,
                               params_trainable=2970, labels_used=55_000)
    store.finish_run(combined, "finished", test_accuracy=0.9980)
    table = reference.records_markdown(store.runs())
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}
    assert "record (seed 0, seed 1, seed 2)" in rows["Maximum accuracy, one model"]
    assert "99.72 % ± 0.02 (n = 3; 99.70 % / 99.72 % / 99.74 %)" in rows["Maximum accuracy, one model"]
    assert "990 / 1,000" in rows["Maximum accuracy, one model"] and "An et al." in rows["Maximum accuracy, one model"]
    assert "99.80 %" in rows["Maximum accuracy, ensemble"] and "cdeotte" in rows["Maximum accuracy, ensemble"]
    assert "no reference run yet" in rows["Minimum labels at 95 %"]  # the labels board's own target
    assert "no reference run yet" in rows["Minimum parameters at 99 %"]

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{reference.README_START}\nold\n{reference.README_END}\nafter\n")
    written = reference.publish(store.runs(), readme, tmp_path / "RESULTS.md", tmp_path / "board.html")
    text = readme.read_text()
    assert table in text and "old" not in text and text.endswith(f"{reference.README_END}\nafter\n")
    assert "## Records" in (tmp_path / "RESULTS.md").read_text() and len(written) == 2
    readme.write_text("no markers")
    with pytest.raises(MnistbenchError, match="no records section"):
        reference.publish(store.runs(), readme, tmp_path / "RESULTS.md", tmp_path / "board.html")


def test_the_checked_in_reference_board_rebuilds_and_matches_what_is_published(real_mnist_path, tmp_path):
    """Every bundle of leaderboards/reference re-evaluates on this machine's test set; the README's records
    table, RESULTS.md and the checked-in page say what the rebuilt board says."""
    from mnistbench.data import load_mnist
    from mnistbench.reference import DEFAULT_FOLDER, README_END, README_START, records_markdown, results_markdown

    root = Path(__file__).resolve().parents[1]
    folder = root / DEFAULT_FOLDER
    bundles = sorted(p.name for p in folder.glob("*.zip"))
    assert bundles, "leaderboards/reference holds no bundles"
    assert sum((folder / name).stat().st_size for name in bundles) <= reference.MAX_BUNDLES_BYTES
    board = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    built = reference.build(board, load_mnist(real_mnist_path), folder)
    assert sorted(name for name, _, _ in built.imported) == bundles
    runs = board.runs()
    assert {r.benchmark for r in runs} == {"accuracy", "params", "labels"}, "every board holds a reference run"
    readme = (root / "README.md").read_text()
    published = readme[readme.index(README_START) + len(README_START):readme.index(README_END)]
    assert published.strip() == records_markdown(runs).strip(), "run `mnistbench reference publish`"
    assert (root / "leaderboards" / "RESULTS.md").read_text() == results_markdown(runs)
    page = (root / "leaderboards" / "board.html").read_text()
    for run in runs:  # every bundle's run (by its model's hash) and every ensemble is on the page
        assert f"\"{run.model_sha256 or run.model}\"" in page


def test_the_seeds_nets_are_shown_under_our_protocol_and_flagged_under_its_own(db_url):
    store = Store(db_url)
    for seed, acc in enumerate((0.9908, 0.9912, 0.9904)):
        _finished(store, seed, acc, model="baseline")
    chosen_on_test = _finished(store, 0, 0.9931, model="baseline")
    store.update_run(chosen_on_test, flags="test-selected")
    rows = {line.split(" | ")[0].lstrip("| "): line
            for line in reference.records_markdown(store.runs()).splitlines()[2:]}
    honest = rows["Maximum accuracy, the seed's `baseline` as written"]
    assert "99.08 % ± 0.04 (n = 3; 99.08 % / 99.12 % / 99.04 %)" in honest and "99.47 %" in honest
    flagged = rows["Maximum accuracy, the seed's `baseline` under the seed's protocol"]
    assert "99.31 % (the test set chose the epoch: never ranked)" in flagged and "test-selected" in flagged
    # the honest mean is not the flagged run's; and neither is the maximum-accuracy record of the board
    assert "no reference run yet" not in rows["Maximum accuracy, one model"]
    assert "99.31" not in rows["Maximum accuracy, one model"]
    assert not any("`tuned`" in name for name in rows)  # no tuned run on this board: no row
