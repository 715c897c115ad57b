"""Every command through Typer's CliRunner: exit code, output, then the state of the store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mnistbench.cli import app
from mnistbench.data import write_npz
from mnistbench.store import Store

from .conftest import make_tiny_mnist

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def one_clear_line(result):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


@pytest.fixture
def filled(db_url):
    store = Store(db_url)
    for model, acc, params in (("baseline", 0.991, 62_834), ("tuned", 0.995, 95_488), ("tiny", 0.989, 1_610)):
        run_id = store.start_run(benchmark="accuracy" if model != "tiny" else "params", model=model,
                                 params_total=params, labels_used=60_000, config={"seed": 0})
        store.add_epoch(run_id, epoch=1, loss=0.3, accuracy=0.9, val_accuracy=acc - 0.001, seconds=3.0)
        store.finish_run(run_id, "finished", test_accuracy=acc, val_accuracy=acc - 0.001, epochs_run=1)
    return db_url


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("train", "board", "runs", "show", "models", "data"):
        assert command in result.stdout


def test_empty_board_and_default_location():
    result = invoke("board")
    assert result.exit_code == 0, result.stderr
    assert "Maximum accuracy" in result.stdout and "no runs yet" in result.stdout
    from pathlib import Path

    assert Path("leaderboards/mnistbench.db").exists()


def test_board_ranks_and_formats(filled):
    result = invoke("board", "accuracy", "--db", filled, "--format", "csv")
    assert result.exit_code == 0
    rows = result.stdout.strip().splitlines()
    assert rows[1].split(",")[2] == "tuned" and rows[2].split(",")[2] == "baseline"
    params = json.loads(invoke("board", "params", "--db", filled, "-f", "json").stdout)
    rows = params["params"]["rows"]
    assert [(r["model"], r["reaches"]) for r in rows] == [("baseline", "yes"), ("tuned", "yes"), ("tiny", "no")]
    loose = json.loads(invoke("board", "params", "--db", filled, "-f", "json", "--target", "98.5").stdout)
    assert loose["params"]["rows"][0]["model"] == "tiny"
    md = invoke("board", "accuracy", "--db", filled, "-f", "markdown", "--top", "1").stdout
    assert "| 1 | 2 | tuned |" in md and "baseline" not in md
    table = invoke("board", "--db", filled, env={"COLUMNS": "160"}).stdout
    assert "99.50" in table and "Minimum labels" in table and "Minimum parameters" in table


def test_board_rejects_bad_target(filled):
    one_clear_line(invoke("board", "params", "--db", filled, "--target", "150"))


def test_runs_and_filters(filled):
    result = invoke("runs", "--db", filled, "--model", "tiny", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert [r["model"] for r in json.loads(result.stdout)["runs"]["rows"]] == ["tiny"]
    finished = invoke("runs", "--db", filled, "--status", "finished", "-f", "csv")
    running = invoke("runs", "--db", filled, "--status", "running", "-f", "csv")
    assert finished.exit_code == running.exit_code == 0, finished.stderr + running.stderr
    assert len(finished.stdout.strip().splitlines()) > 1  # the filter keeps runs where there are some
    assert running.stdout.strip().splitlines() == finished.stdout.strip().splitlines()[:1]  # header only


def test_show(filled):
    result = invoke("show", "2", "--db", filled, env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "tuned" in result.stdout and "Learning curve" in result.stdout and '"seed": 0' in result.stdout


def test_show_missing_run(filled):
    assert one_clear_line(invoke("show", "999", "--db", filled)) == "error: no run with id 999"


def test_unreachable_database_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    one_clear_line(invoke("board", "--db", f"sqlite:///{tmp_path}/file/board.db"))
    one_clear_line(invoke("runs", "--db", "nonsense://"))


def test_models_lists_counts():
    result = invoke("models", "--wide", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("baseline", "62,834", "tuned", "95,488", "deotte", "327,242", "tiny", "1,732", "seed report"):
        assert text in result.stdout


def test_train_unknown_model(db_url):
    line = one_clear_line(invoke("train", "accuracy", "--model", "nope", "--db", db_url))
    assert "known models: baseline" in line
    assert Store(db_url).runs() == []


def test_train_negative_epochs(db_url, real_mnist_path):
    line = one_clear_line(invoke("train", "accuracy", "--epochs", "-3", "--db", db_url, "--data", real_mnist_path))
    assert "--epochs" in line


def test_train_with_corrupt_data(db_url, tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 nope")
    line = one_clear_line(invoke("train", "accuracy", "--db", db_url, "--data", tmp_path / "bad.npz"))
    assert "bad.npz" in line


def test_data_import_refuses_non_canonical_data(tmp_path):
    write_npz(make_tiny_mnist(), tmp_path / "tiny.npz")
    line = one_clear_line(invoke("data", "import", tmp_path / "tiny.npz"))
    assert "tiny.npz" in line


def test_data_import_and_report(real_mnist_path):
    result = invoke("data", "import", real_mnist_path)
    assert result.exit_code == 0, result.stderr
    result = invoke("data", "--no-download")
    assert result.exit_code == 0, result.stderr
    assert "mnistbench/mnist.npz" in result.stdout and "verified" in result.stdout


def test_data_missing_everywhere_lists_what_was_tried():
    line = one_clear_line(invoke("data", "--no-download"))
    assert "not there" in line and "data import" in line


@pytest.mark.parametrize("command", [["--help"], ["board"], ["board", "--by-config"], ["board", "--references"], ["runs"],
                                     ["show", "1"], ["export", "--format", "markdown"], ["db", "check"]])
def test_light_commands_do_not_import_tensorflow(command, board):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from mnistbench.cli import app\n"
        f"result = CliRunner().invoke(app, {command + ['--db', board] if command != ['--help'] else command!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'tensorflow imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_real_smoke_run_reaches_90_percent_and_is_ranked(db_url, real_mnist_path):
    """The one real training in the default suite: baseline, 6,000 images, 1 epoch."""
    result = invoke("train", "accuracy", "--model", "baseline", "--train-size", 6000, "--epochs", 1,
                    "--batch-size", 32, "--db", db_url, "--data", real_mnist_path)
    assert result.exit_code == 0, result.stderr + result.stdout
    [run] = Store(db_url).runs()
    assert run.status == "finished" and run.test_accuracy >= 0.90
    assert run.labels_used == 11_000 and run.params_total == 62_834
    board = json.loads(invoke("board", "accuracy", "--db", db_url, "-f", "json").stdout)
    assert board["accuracy"]["rows"][0]["run"] == run.id


def test_tensorflow_paths_write_nothing_but_our_own_lines_to_stderr(db_url, real_mnist_path):
    """A real process, since CliRunner cannot see what TensorFlow's C++ core writes to file descriptor 2."""
    def run(*args):
        return subprocess.run([sys.executable, "-m", "mnistbench", *map(str, args), "--db", db_url],
                              capture_output=True, text=True, timeout=300)

    bad = run("train", "accuracy", "--model", "resnet", "--data", real_mnist_path)  # fails after importing TF
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [bad.stderr.strip()] and bad.stderr.startswith("error: unknown model"), bad.stderr
    good = run("train", "accuracy", "--model", "fast", "--train-size", 1000, "--epochs", 1, "--no-save-model",
               "--data", real_mnist_path)
    assert good.returncode == 0 and good.stderr == "", good.stderr
    assert "finished" in good.stdout
    # Six runs in one process: TensorFlow's logger would warn about retracing from the fifth on.
    many = run("train", "accuracy", "--model", "fast", "--train-size", 300, "--seeds", "0-5", "--no-save-model",
               "--data", real_mnist_path)
    assert many.returncode == 0 and many.stderr == "", many.stderr


def test_show_as_command_repeats_the_run_exactly(db_url, real_mnist_path):
    import shlex

    first = invoke("train", "accuracy", "--model", "fast", "--train-size", 600, "--epochs", 1, "--seed", 3,
                   "--set", "rotation=10", "--set", "filters1=8", "--augment", "--no-save-model",
                   "--db", db_url, "--data", real_mnist_path)
    assert first.exit_code == 0, first.stderr
    labels = invoke("labels", "--k", 20, "--set", "embedding_dims=12", "--db", db_url, "--data", real_mnist_path)
    assert labels.exit_code == 0, labels.stderr
    for run_id in (1, 2):
        shown = invoke("show", run_id, "--as-command", "--db", db_url)
        assert shown.exit_code == 0, shown.stderr
        args = shlex.split(shown.stdout)
        assert args[0] == "mnistbench"
        again = invoke(*args[1:], "--db", db_url, "--data", real_mnist_path)
        assert again.exit_code == 0, again.stderr
    runs = Store(db_url).runs()
    original, repeated = runs[0].config, runs[2].config
    assert original["recipe"]["rotation"] == 10.0 and original["model_options"]["filters1"] == 8
    assert repeated == original  # a config holds what the run was told, nothing it measured
    assert runs[2].test_accuracy == runs[0].test_accuracy  # same seed, same machine
    assert runs[1].config == runs[3].config and runs[1].config["embedding_dims"] == 12
    assert runs[3].test_accuracy == runs[1].test_accuracy


@pytest.mark.parametrize("args", [["train", "accuracy", "--set", "rotation=x"], ["train", "accuracy", "--set", "nope"],
                                  ["labels", "--set", "nonsense=1"], ["train", "accuracy", "--set", "lr=nan"]])
def test_bad_settings_are_one_line(args, db_url):
    one_clear_line(invoke(*args, "--db", db_url))


def test_models_fits_80_columns_one_row_per_model():
    result = runner.invoke(app, ["models"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.startswith("│")]
    from mnistbench.models import list_models

    assert len(rows) == len(list_models()) == 9
    assert any("914-1,936" in row for row in rows) and any("12-26" in row for row in rows)


def test_a_gpu_that_tensorflow_cannot_use_is_said_once(monkeypatch):
    from mnistbench import backend

    if not backend.os.path.exists("/dev/nvidia0"):
        assert backend.unused_gpu_warning() is None  # no NVIDIA device: nothing to say
    real = backend.os.path.exists
    monkeypatch.setattr(backend.os.path, "exists", lambda p: p == "/dev/nvidia0" or real(p))
    warning = backend.unused_gpu_warning()
    assert warning.startswith("warning: ") and "\n" not in warning and "CPU" in warning


def test_python_dash_m_names_the_command_as_mnistbench(tmp_path):
    # Usage lines and the one-line errors' --help hint read `mnistbench show`, not `mnistbench -m mnistbench show`.
    result = subprocess.run([sys.executable, "-m", "mnistbench", "show", "-1"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "MNISTBENCH_DB": f"sqlite:///{tmp_path}/b.db"})
    assert result.returncode == 1
    assert result.stderr.strip() == "error: No such option: -1 (see `mnistbench show --help`)"
