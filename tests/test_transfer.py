"""Runs that travel: export-run packs a run, import-run re-checks it on another board, submit enters a
model trained elsewhere; every bad file is one line and nothing is recorded."""

from __future__ import annotations

import json
import zipfile

import pytest
from typer.testing import CliRunner

from mnistbench.cli import app
from mnistbench.store import Store

from .conftest import one_line

runner = CliRunner()
TINY_RUN = ["train", "accuracy", "--model", "fast", "--train-size", "300", "--epochs", "1"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])



@pytest.fixture
def exported(tmp_path, real_mnist_path):
    """A real run on a 'notebook' board, exported to a zip; and the 'home' board's URL."""
    away = f"sqlite:///{tmp_path / 'away' / 'notebook.db'}"
    assert invoke(*TINY_RUN, "--db", away, "--data", real_mnist_path).exit_code == 0
    out = tmp_path / "run.zip"
    result = invoke("export-run", 1, "-o", out, "--db", away)
    assert result.exit_code == 0, result.stderr
    return out, away, f"sqlite:///{tmp_path / 'home' / 'class.db'}"


def _rewrite(path, tmp_path, manifest_change=None, model_bytes=None):
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        model = archive.read("model.keras")
    if manifest_change:
        manifest_change(manifest)
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(changed, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("model.keras", model if model_bytes is None else model_bytes)
    return changed


def test_a_run_travels_and_is_rechecked(exported, real_mnist_path):
    out, away, home = exported
    original = Store(away).get_run(1, with_epochs=True)
    result = invoke("import-run", out, "--db", home, "--data", real_mnist_path)
    assert result.exit_code == 0, result.stderr
    assert "run 1: imported run 1" in result.stdout
    store = Store(home)
    run = store.get_run(1, with_epochs=True)
    # Re-evaluated on import, but not "verified": that is the verdict of `verify` (a lecturer's, on a class board).
    assert run.flags == "imported" and run.verification is None
    assert run.details["imported_from"]["reevaluated_on_import"] is True
    assert (run.test_accuracy, run.params_total, run.model, run.seed) == (
        original.test_accuracy, original.params_total, original.model, original.seed)
    assert run.device == original.device and run.details["imported_from"]["run_id"] == 1
    assert run.details["imported_from"]["host"] == original.host
    assert [e.val_accuracy for e in run.epochs] == [e.val_accuracy for e in original.epochs]
    assert store.model_file(run).read_bytes() == Store(away).model_file(original).read_bytes()
    assert invoke("verify", 1, "--db", home, "--data", real_mnist_path).exit_code == 0  # its copy checks out
    one_line(invoke("import-run", out, "--db", home, "--data", real_mnist_path), "already on this board as run 1")
    assert "imported" in invoke("board", "accuracy", "--db", home).stdout


@pytest.mark.parametrize("change, message", [
    (lambda m: m["run"].update(test_accuracy=m["run"]["test_accuracy"] + 0.05), "re-evaluated here"),
    (lambda m: m["run"].update(params_total=m["run"]["params_total"] - 1), "parameters, the model has"),
    (lambda m: m["run"].update(model_sha256="0" * 64), "SHA-256 differs"),
    (lambda m: m.update(version=99), "format version 99"),
    (lambda m: m["run"].update(benchmark="speed"), "only finished runs with a test accuracy"),
])
def test_a_run_that_disagrees_is_refused(exported, tmp_path, real_mnist_path, change, message):
    out, away, home = exported
    one_line(invoke("import-run", _rewrite(out, tmp_path, change), "--db", home, "--data", real_mnist_path), message)
    assert Store(home).runs() == []


def test_a_swapped_model_is_refused(exported, tmp_path, real_mnist_path):
    out, away, home = exported
    one_line(invoke("import-run", _rewrite(out, tmp_path, model_bytes=b"not a model"), "--db", home,
                    "--data", real_mnist_path), "SHA-256 differs")


def test_files_that_are_not_runs_are_one_line(tmp_path, db_url, real_mnist_path):
    (tmp_path / "notes.zip").write_text("hello")
    one_line(invoke("import-run", tmp_path / "notes.zip", "--db", db_url), "not a run exported by")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "x")
    one_line(invoke("import-run", tmp_path / "other.zip", "--db", db_url), "lacks manifest.json, model.keras")
    one_line(invoke("import-run", tmp_path / "missing.zip", "--db", db_url), "no such file")


def test_runs_without_a_model_are_not_exported(tmp_path, db_url, real_mnist_path):
    assert invoke(*TINY_RUN, "--no-save-model", "--db", db_url, "--data", real_mnist_path).exit_code == 0
    one_line(invoke("export-run", 1, "--db", db_url), "no saved model to export", "--no-save-model")
    one_line(invoke("export-run", 7, "--db", db_url), "no run with id 7")
    assert invoke(*TINY_RUN, "--db", db_url, "--data", real_mnist_path).exit_code == 0
    one_line(invoke("export-run", 2, "-o", tmp_path / "no" / "dir" / "x.zip", "--db", db_url), "cannot write")


def _plain_model(path, layers=None):
    from mnistbench.backend import keras

    model = keras.Sequential(layers or [keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                        keras.layers.Dense(10, activation="softmax")])
    model.save(path)
    return model


def test_submit_counts_tests_and_flags_an_external_model(tmp_path, db_url, real_mnist_path):
    _plain_model(tmp_path / "mine.keras")
    result = invoke("submit", tmp_path / "mine.keras", "--benchmark", "params", "--labels", 1000,
                    "--db", db_url, "--data", real_mnist_path)
    assert result.exit_code == 0, result.stderr
    assert "7,850 params" in result.stdout
    run = Store(db_url).get_run(1)
    assert (run.benchmark, run.model, run.params_total, run.labels_used) == ("params", "mine", 7850, 1000)
    assert run.flags == "external, labels declared" and run.device == "external"
    assert run.config["labels_verified"] is False and 0 <= run.test_accuracy <= 1
    assert "external" in invoke("board", "params", "--target", 1, "--db", db_url).stdout


def test_submit_refuses_python_code_and_odd_models_in_one_line(tmp_path, db_url, real_mnist_path):
    from mnistbench.backend import keras

    _plain_model(tmp_path / "lambda.keras", [keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                             keras.layers.Lambda(lambda x: x * 2), keras.layers.Dense(10)])
    args = ["--benchmark", "accuracy", "--db", db_url, "--data", real_mnist_path]
    one_line(invoke("submit", tmp_path / "lambda.keras", *args), "carries Python code", "safe mode")
    _plain_model(tmp_path / "wide.keras", [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    one_line(invoke("submit", tmp_path / "wide.keras", *args), "inputs of shape (32, 32, 3)")
    _plain_model(tmp_path / "five.keras", [keras.Input((784,)), keras.layers.Dense(5)])
    one_line(invoke("submit", tmp_path / "five.keras", *args), "outputs shape (5,)")
    (tmp_path / "junk.keras").write_bytes(b"PK\x03\x04 not really")
    one_line(invoke("submit", tmp_path / "junk.keras", *args), "cannot load")
    one_line(invoke("submit", tmp_path / "model.h5", *args), "no such file")
    one_line(invoke("submit", tmp_path / "junk.keras", "--labels", -1, *args), "--labels must be between")
    assert Store(db_url).runs() == []


def test_an_old_run_travels_without_its_optimizer_state(tmp_path, real_mnist_path):
    """A model file saved with its optimizer (as runs were before they kept weights only) is exported as the
    same weights without it, a third of the size; the bundle names the file as trained."""
    import numpy as np

    from mnistbench.artifacts import has_optimizer_state, load_saved, sha256_file

    away = f"sqlite:///{tmp_path / 'away.db'}"
    assert invoke(*TINY_RUN, "--db", away, "--data", real_mnist_path).exit_code == 0
    store = Store(away)
    path = store.model_file(store.get_run(1))
    assert not has_optimizer_state(path)  # runs save weights only
    model = load_saved(path)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    model.save(path)
    assert has_optimizer_state(path)
    store.update_run(1, model_sha256=sha256_file(path))
    out = tmp_path / "run.zip"
    assert invoke("export-run", 1, "-o", out, "--db", away).exit_code == 0
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        (tmp_path / "exported.keras").write_bytes(archive.read("model.keras"))
    assert manifest["model_as_trained_sha256"] == sha256_file(path) != manifest["run"]["model_sha256"]
    assert not has_optimizer_state(tmp_path / "exported.keras")
    assert (tmp_path / "exported.keras").stat().st_size < 0.5 * path.stat().st_size
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(load_saved(tmp_path / "exported.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    home = f"sqlite:///{tmp_path / 'home.db'}"
    result = invoke("import-run", out, "--db", home, "--data", real_mnist_path)
    assert result.exit_code == 0, result.stderr


def test_a_format_1_bundle_is_split_on_import(exported, tmp_path, real_mnist_path):
    """Bundles of format 1 held a run's measurements in its config: the import moves them to the details."""
    out, _away, home = exported

    def as_format_1(manifest):
        manifest["version"] = 1
        manifest["run"]["config"] = {**manifest["run"]["config"], **manifest["run"].pop("details")}

    result = invoke("import-run", _rewrite(out, tmp_path, as_format_1), "--db", home, "--data", real_mnist_path)
    assert result.exit_code == 0, result.stderr
    run = Store(home).get_run(1)
    assert "threads_pinned" not in run.config and "threads_pinned" in run.details
    assert run.details["imported_from"]["run_id"] == 1
