"""Every case of the hostile probe (docs/robustness.md: the bad-input and faults tables), one test each, named
after its row: F data loss and security, T tracebacks, O others. Each failed on 64607d5.

Class-board attacks are made in raw SQL with a student's own login, against the throwaway PostgreSQL
that CI starts; the rest run on SQLite files under the test's own folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import urllib.request
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mnistbench.cli import app
from mnistbench.store import Store

from .conftest import one_line
from .test_classroom import classroom  # noqa: F401  (the class-board fixture)
from .test_faults import _damage, disk  # noqa: F401  (real tmpfs disks)
from .test_transfer import _rewrite, exported  # noqa: F401  (a real run, exported)

runner = CliRunner()
TINY_RUN = ["train", "accuracy", "--model", "tiny", "--train-size", "300", "--epochs", "1"]


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def process(*args, stdin=subprocess.DEVNULL, timeout=120, **kwargs):
    """mnistbench as a user runs it: a real process, through the console entry point."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "mnistbench", *map(str, args)], stdin=stdin, capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def board_with_runs(path: Path, n: int = 1, **fields) -> str:
    url = f"sqlite:///{path}"
    store = Store(url)
    for i in range(n):
        run_id = store.start_run(benchmark="accuracy", model="fast", params_total=1000, config={"i": i}, **fields)
        store.add_epoch(run_id, epoch=1, loss=0.1, val_accuracy=0.98)
        store.finish_run(run_id, "finished", test_accuracy=0.99)
    store.close()
    return url


# --- the guard at the entry point ------------------------------------------------------------------


def test_T1_an_end_of_input_at_the_delete_prompt_is_interrupted_exit_130(tmp_path):
    url = board_with_runs(tmp_path / "b.db")
    command = [sys.executable, "-m", "mnistbench", "delete", "1", "--db", url]
    for given in ({"stdin": subprocess.DEVNULL}, {"input": "maybe\n"}):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, **given)
        assert done.returncode == 130, done.stderr
        assert done.stderr.strip().endswith("interrupted") and "Traceback" not in done.stderr
    assert len(Store(url).runs()) == 1


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["board"], ["board", "--by-config"]])
def test_T2_a_closed_pipe_ends_quietly(tmp_path, args):
    url = board_with_runs(tmp_path / "b.db", n=300)
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "mnistbench", *args, "--db", url] if args[0] == "board"
                            else [sys.executable, "-m", "mnistbench", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # as `| head -1` does once it has its line
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert code in (0, -13, 141), stderr  # -13: ended by SIGPIPE, as git log is
    assert stderr == "", stderr


def test_an_unexpected_exception_is_one_line_with_a_report_file(tmp_path, capsys, monkeypatch):
    from mnistbench.guard import guarded

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def broken():
        raise ValueError("the library did not expect this\nsecond line")

    with pytest.raises(SystemExit) as ended:
        guarded(broken)
    assert ended.value.code == 1
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("error: internal error: ValueError: the library did not expect this second line")
    report = Path(line.rsplit("traceback in ", 1)[1].rstrip(")"))
    assert report.is_file() and "Traceback" in report.read_text()


def test_ctrl_c_anywhere_is_interrupted_exit_130(capsys):
    from mnistbench.guard import guarded

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as ended:
        guarded(interrupted)
    assert ended.value.code == 130 and capsys.readouterr().err.strip() == "interrupted"


def test_version_is_printed():
    from mnistbench import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"mnistbench {__version__}"


def test_no_code_imports_a_dependencys_private_modules():
    """The lint rule: no `_private` module of another package, no keras.src, no tensorflow.python."""
    import ast

    root = Path(__file__).resolve().parents[1]
    banned = ("keras.src", "tensorflow.python", "typer.core._click", "typer._click", "click._")
    found = []
    for file in [*root.glob("mnistbench/**/*.py"), *root.glob("benchmarks/*.py"), *root.glob("tests/*.py")]:
        text = file.read_text()
        for node in ast.walk(ast.parse(text)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for name in names:
                parts = name.split(".")
                private = any(p.startswith("_") and not p.startswith("__") for p in parts[1:])
                if parts[0] != "mnistbench" and (private or name.startswith(banned)):
                    found.append(f"{file.relative_to(root)}:{node.lineno}: {name}")
        for word in ("keras.src.", "tensorflow.python.", "tf.python.", "._click"):
            if word in text and file.name != "test_hostile.py":
                found.append(f"{file.relative_to(root)}: {word}")
    assert not found, found


# --- data loss -------------------------------------------------------------------------------------


def test_F1_a_board_damaged_in_one_page_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "board.db"
    url = board_with_runs(path, n=200)
    _damage(path)
    before = sha(path)
    for args in (["runs"], ["flag", 5, "written into a damaged board"], ["board"]):
        one_line(invoke(*args, "--db", url), "damaged")
    assert sha(path) == before
    from mnistbench.integrity import _one_line

    assert _one_line([("*** in database main ***\nPage 11: btreeInitPage() returns error code 11",)]) == \
        "Page 11: btreeInitPage() returns error code 11"


def test_F2_the_board_path_never_goes_missing_during_a_repair(tmp_path, monkeypatch):
    import mnistbench.integrity as integrity

    path = tmp_path / "board.db"
    url = board_with_runs(path, n=200)
    _damage(path)

    def killed(*_):
        raise SystemExit("killed between the two steps")

    monkeypatch.setattr(integrity.os, "replace", killed)
    with pytest.raises(SystemExit):
        integrity.repair(path)
    monkeypatch.undo()
    assert path.is_file()  # still the damaged board, refused as such; the rebuilt file lies beside it
    one_line(invoke("runs", "--db", url), "damaged")
    # A board path left empty beside a repair's files is reported, not recreated empty.
    rebuilt = next(tmp_path.glob("board.repairing-*.db"))
    path.unlink()
    line = one_line(invoke("runs", "--db", url), "interrupted repair", rebuilt.name)
    assert "nothing was created" in line and not path.exists()


def test_F3_two_boards_never_share_a_model_folder_under_one_artifacts_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTBENCH_ARTIFACTS", str(tmp_path / "models"))
    one = Store(f"sqlite:///{tmp_path / 'p1' / 'mnistbench.db'}")
    two = Store(f"sqlite:///{tmp_path / 'p2' / 'mnistbench.db'}")
    assert one.artifacts_dir() != two.artifacts_dir()
    assert one.artifacts_dir().parent == two.artifacts_dir().parent == tmp_path / "models"


def test_F4_concurrent_flags_on_one_run_lose_nothing(tmp_path):
    url = board_with_runs(tmp_path / "b.db")
    script = ("import sys; from mnistbench.store import Store; "
              "Store(sys.argv[1]).add_flag(1, sys.argv[2])")
    procs = [subprocess.Popen([sys.executable, "-c", script, url, f"note-{i}"]) for i in range(12)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    flags = Store(url).get_run(1).flags.split(", ")
    assert sorted(flags) == sorted(f"note-{i}" for i in range(12))


def test_F5_output_through_a_symlink_or_a_fifo_is_written_through_never_replaced(tmp_path):
    url = board_with_runs(tmp_path / "b.db")
    target = tmp_path / "real.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert invoke("export", "-o", link, "--db", url).exit_code == 0
    assert link.is_symlink() and "fast" in target.read_text()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("text", fifo.read_text()))
    reader.start()
    assert invoke("export", "-o", fifo, "--db", url).exit_code == 0
    reader.join(timeout=30)
    assert "fast" in got["text"] and fifo.is_fifo()
    one_line(invoke("export", "-o", "/dev/full", "--db", url), "cannot write /dev/full")
    assert Path("/dev/full").is_char_device()


# --- a class board that a student cannot game -----------------------------------------------------


def test_F6_a_comment_opener_in_a_flag_cannot_blank_the_page(tmp_path):
    from mnistbench.webboard import render_page

    page = render_page({"boards": [], "runs": [{"flags": "<!--<script>", "model": "</script><b>"}]})
    script = page[page.index('<script id="data"'):] if '<script id="data"' in page else page
    assert "<!--<script>" not in page and "</script><b>" not in page
    assert "\\u003c!--\\u003cscript\\u003e" in script


def test_F7_a_hand_written_non_object_config_does_not_crash_the_readers(tmp_path):
    path = tmp_path / "b.db"
    url = board_with_runs(path)
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO runs (id, benchmark, model, status, owner, flags, created_at, config, test_accuracy, "
                  "labels_used) VALUES (100, 'labels', 'evil', 'finished', 'alice', '', '2026-12-01 00:00:00', "
                  "'\"x\"', 0.99, 10)")
        c.execute("INSERT INTO runs (id, benchmark, model, status, owner, flags, created_at, config, test_accuracy, "
                  "params_total) VALUES (101, 'params', 'odd', 'finished', 'alice', 7, 'not a date', '[1,2]', "
                  "'NaN', 'many')")
    for args in (["board"], ["board", "labels"], ["board", "--by-config"], ["export", "--format", "html", "-o",
                                                                          tmp_path / "p.html"], ["show", 100],
                 ["show", 101], ["runs", "-f", "json"]):
        result = invoke(*args, "--db", url)
        assert result.exit_code == 0, (args, result.stderr, result.exception)
    from mnistbench.server import make_handler, open_read_only  # noqa: F401
    from mnistbench.webboard import json_safe, page_data

    json.dumps(json_safe(page_data(open_read_only(url))), allow_nan=False, default=str)


def test_F8_rich_markup_in_a_flag_is_printed_as_written(tmp_path):
    url = board_with_runs(tmp_path / "b.db")
    assert invoke("flag", 1, "[/]", "--db", url).exit_code == 0
    for args in (["board"], ["show", 1]):
        result = invoke(*args, "--db", url)
        assert result.exit_code == 0 and "[/]" in result.stdout, result.stderr


def _raw(url: str, statement: str):
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_F9_F10_F11_a_student_cannot_verify_choose_an_id_or_point_outside_the_models_folder(classroom):  # noqa: F811
    from sqlalchemy.exc import DBAPIError

    names, urls = classroom
    store = Store(urls["alice"])
    mine = store.start_run(benchmark="params", model="fast")
    store.finish_run(mine, "finished", test_accuracy=0.99, model_path=f"run-{mine}.keras")
    for statement, why in [
        (f"UPDATE runs SET verification = 'verified', verification_note = 'checked by lecturer' WHERE id = {mine}",
         "permission denied"),
        ("INSERT INTO runs (id, benchmark, model, status, owner, flags) "
         f"VALUES ({mine + 1000}, 'params', 'magic', 'finished', '{names['alice']}', '')", "permission denied"),
        (f"UPDATE runs SET model_path = '/dev/zero' WHERE id = {mine}", "runs_model_path_inside"),
        (f"UPDATE runs SET model_path = '../../etc/passwd' WHERE id = {mine}", "runs_model_path_inside"),
    ]:
        with pytest.raises(DBAPIError, match=why):
            _raw(urls["alice"], statement)
    run = Store(urls["lecturer"]).get_run(mine)
    assert run.verification is None and run.model_path == f"run-{mine}.keras"
    # Her own run's flags and a new run of her own still work as the tool writes them.
    assert invoke("flag", mine, "augmented", "--db", urls["alice"]).exit_code == 0
    # The lecturer sees who is verified.
    assert invoke("board", "--verified-only", "--db", urls["lecturer"]).exit_code == 0


def test_F11_T9_a_model_path_outside_the_folder_or_not_a_file_is_refused_without_hanging(tmp_path,
                                                                                       real_mnist_path):
    url = board_with_runs(tmp_path / "b.db")
    store = Store(url)
    store.update_run(1, model_path="/dev/zero", model_sha256="0" * 64)
    for args in (["verify", 1], ["export-run", 1, "-o", tmp_path / "y.zip"]):
        one_line(invoke(*args, "--db", url, *(["--data", real_mnist_path] if args[0] == "verify" else [])),
                 "outside the board's models folder")
    folder = store.artifacts_dir()
    folder.mkdir(parents=True)
    (folder / "run-1.keras").mkdir()
    store.update_run(1, model_path="run-1.keras")
    for args in (["verify", 1, "--data", real_mnist_path], ["export-run", 1, "-o", tmp_path / "y.zip"]):
        one_line(invoke(*args, "--db", url), "not a regular file")
    (folder / "run-1.keras").rmdir()
    (folder / "run-1.keras").symlink_to("/dev/zero")
    one_line(invoke("export-run", 1, "-o", tmp_path / "y.zip", "--db", url), "outside the board's models folder")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _manifest(**run_changes) -> dict:
    run = {"id": 1, "benchmark": "accuracy", "model": "fast", "status": "finished", "test_accuracy": 0.9,
           "params_total": 1732, "host": "nb", "model_sha256": hashlib.sha256(b"model").hexdigest(),
           "created_at": "2026-12-01T00:00:00", "config": {}, "flags": ""}
    run.update(run_changes)
    return {"format": "mnistbench-run", "version": 1, "run": run, "epochs": []}


def _import_zip(tmp_path, manifest, name="crafted.zip") -> Path:
    body = manifest if isinstance(manifest, (bytes, str)) else json.dumps(manifest)
    return _zip(tmp_path / name, {"manifest.json": body.encode() if isinstance(body, str) else body,
                                  "model.keras": b"model"})


@pytest.mark.parametrize("change, message", [
    ({"time_to_99": -0.01}, "time_to_99"), ({"val_accuracy": 5.0}, "val_accuracy"),
    ({"train_seconds": -10}, "train_seconds"), ({"epochs_run": -3}, "epochs_run"),
    ({"labels_used": -100}, "labels_used"), ({"seed": -7}, "seed"), ({"labels_used": "many"}, "labels_used"),
    ({"seed": "zero"}, "seed"),
])
def test_F12_every_imported_field_is_checked_before_anything_is_written(tmp_path, change, message):
    url = f"sqlite:///{tmp_path / 'home.db'}"
    line = one_line(invoke("import-run", _import_zip(tmp_path, _manifest(**change)), "--db", url), message)
    assert len(line) < 300
    assert not (tmp_path / "home.db").exists() or Store(url).runs() == []


def test_F12_imported_timings_are_kept_but_never_ranked_and_not_called_verified(tmp_path):
    from mnistbench.boards import boards

    url = f"sqlite:///{tmp_path / 'home.db'}"
    store = Store(url)

    def keep(run_id):
        return {}

    run_id = store.record_finished({"benchmark": "accuracy", "model": "fast", "test_accuracy": 0.99,
                                    "details": {"imported_from": {"time_to_99": 0.01}}, "flags": "imported"}, [],
                                   before_commit=keep)
    run = store.get_run(run_id)
    assert run.time_to_99 is None and run.verification is None
    assert not boards(store.runs(), "accuracy", time_to=99.0)[0].rows


def test_F13_files_that_inflate_or_declare_too_much_are_refused_before_allocating(tmp_path, real_mnist_path):
    from mnistbench.modelfile import ModelFileError, check_keras_file

    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 784]}},
        {"class_name": "Dense", "config": {"units": 300_000}, "build_config": {"input_shape": [None, 784]}}]}}
    big = _zip(tmp_path / "big1g.keras", {"config.json": json.dumps(config).encode(), "metadata.json": b"{}"})
    with pytest.raises(ModelFileError, match="declares about 235,200,000 parameters"):
        check_keras_file(big, "big1g.keras")
    one_line(invoke("submit", big, "--benchmark", "params", "--db", f"sqlite:///{tmp_path / 'b.db'}", "--data",
                    real_mnist_path), "declares about")
    bomb = _zip(tmp_path / "wbomb.keras", {"config.json": b"{}", "model.weights.h5": b"\0" * (257 * 2**20)})
    with pytest.raises(ModelFileError, match="inflates to 257 MiB"):
        check_keras_file(bomb, "wbomb.keras")
    manifest_bomb = _zip(tmp_path / "bomb_manifest.zip", {"manifest.json": b" " * (17 * 2**20), "model.keras": b"x"})
    one_line(invoke("import-run", manifest_bomb, "--db", f"sqlite:///{tmp_path / 'b.db'}"), "larger than 16 MiB")
    import numpy as np

    npz = tmp_path / "bomb.npz"
    np.savez_compressed(npz, x_train=np.zeros(70 * 2**20, dtype=np.uint8))
    one_line(invoke("data", "import", npz), "inflates to 70 MiB")


def test_F14_the_credentials_file_is_made_private_whatever_it_was(tmp_path):
    from mnistbench.classroom import Login, write_credentials
    from mnistbench.errors import ConfigError

    path = tmp_path / "cred-644.csv"
    path.write_text("role,kind,url\n")
    path.chmod(0o644)
    write_credentials([Login("carol", "student", "postgresql://carol:secret@h/db", True)], path)
    assert path.stat().st_mode & 0o777 == 0o600 and "secret" in path.read_text()
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(ConfigError, match="symbolic link"):
        write_credentials([Login("carol", "student", "postgresql://carol:secret@h/db", True)], link)
    assert not (tmp_path / "elsewhere.csv").exists()


def test_F15_serve_never_creates_migrates_or_writes_whatever_the_url(tmp_path):
    from mnistbench.errors import StoreError
    from mnistbench.server import open_read_only

    missing = tmp_path / "new.db"
    with pytest.raises(StoreError, match="no leaderboard"):
        open_read_only(f"sqlite:///{missing}?timeout=5")
    assert not missing.exists()
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE users (name TEXT)")
    before = sha(foreign)
    with pytest.raises(StoreError, match="not an mnistbench board"):
        open_read_only(f"sqlite:///{foreign}?timeout=5")
    assert sha(foreign) == before
    old = tmp_path / "old.db"
    board_with_runs(old)
    with sqlite3.connect(old) as c:
        c.execute("UPDATE mnistbench_schema_version SET version_num = '0001'")
    before = sha(old)
    with pytest.raises(StoreError, match="schema"):
        open_read_only(f"sqlite:///{old}?timeout=5")
    assert sha(old) == before and not list(tmp_path.glob("old.backup-*"))


def test_F16_control_characters_never_reach_the_terminal(tmp_path):
    url = board_with_runs(tmp_path / "b.db")
    assert invoke("flag", 1, "\x1b]0;PWNED-title\x07\x1b[31mRED", "--db", url).exit_code == 0
    assert "\x1b" not in Store(url).get_run(1).flags
    with sqlite3.connect(tmp_path / "b.db") as c:  # written by hand, past the tool
        c.execute("UPDATE runs SET model = 'x\x1b[31mRED\x9b' WHERE id = 1")
    for args in (["show", 1], ["runs", "-f", "csv"], ["board"]):
        out = invoke(*args, "--db", url).stdout
        assert "\x1b" not in out and "\x9b" not in out, args


# --- tracebacks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["lr=0.01", "optimizer=magic", "callbacks=a,b", "batch_size=0", "schedule=",
                                     "steps_per_execution=0", "label_smoothing=1.5"])
def test_T3_set_of_a_field_with_its_own_option_is_one_line(tmp_path, setting):
    result = invoke(*TINY_RUN, "--lr", "0.02", "--set", setting, "--db", f"sqlite:///{tmp_path / 'b.db'}",
                    "--data", tmp_path / "no-data-needed.npz")
    line = one_line(result)
    assert "multiple values" not in line


@pytest.mark.parametrize("setting", ["width=-5", "width=1e309", "width=100000"])
def test_T4_set_width_has_the_domain_of_the_width_option(tmp_path, setting, real_mnist_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    one_line(invoke(*TINY_RUN, "--set", setting, "--db", url, "--data", real_mnist_path), "width")
    assert Store(url).runs() == []  # refused before a run was started


def test_T3_set_lr_alone_is_the_same_as_the_option(tmp_path):
    from mnistbench.config import merge_settings

    assert merge_settings({"lr": None, "epochs": 3}, {"lr": 0.01}) == {"lr": 0.01, "epochs": 3}
    assert merge_settings({"lr": 0.01}, {"lr": 0.01}) == {"lr": 0.01}


@pytest.mark.parametrize("args", [["show", "99999999999999999999"], ["flag", "99999999999999999999", "x"],
                                  ["delete", "99999999999999999999", "--yes"],
                                  ["export-run", "99999999999999999999"]])
def test_T5_an_id_beyond_64_bits_is_no_run(tmp_path, args):
    url = board_with_runs(tmp_path / "b.db")
    one_line(invoke(*args, "--db", url), "no run with id 99999999999999999999")
    assert invoke("runs", "--limit", "99999999999999999999", "--db", url).exit_code == 0


@pytest.mark.parametrize("seeds, message", [("0-4294967295", "at most 1000"), ("0-4294967296", "must be in"),
                                            ("0-20000000,0", "at most 1000")])
def test_T6_seed_ranges_are_counted_before_they_are_expanded(seeds, message):
    import time

    from mnistbench.config import parse_seeds
    from mnistbench.errors import ConfigError

    start = time.perf_counter()
    with pytest.raises(ConfigError, match=message):
        parse_seeds(seeds)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("change", [
    {"test_accuracy": "0.1135"}, {"flags": 123}, {"config": "hello"}, {"config": [1, 2]},
])
def test_T7_a_crafted_run_field_is_one_line_and_leaves_no_row(tmp_path, change):
    url = f"sqlite:///{tmp_path / 'home.db'}"
    one_line(invoke("import-run", _import_zip(tmp_path, _manifest(**change)), "--db", url), "refused")
    assert not (tmp_path / "home.db").exists() or Store(url).runs() == []


@pytest.mark.parametrize("epochs", ["abc", [1, 2], [{"epoch": "x", "val_accuracy": "y"}]])
def test_T7_crafted_epochs_beside_a_real_model_leave_no_half_imported_run(exported, tmp_path, real_mnist_path,  # noqa: F811
                                                                          epochs):
    out, _, home = exported
    changed = _rewrite(out, tmp_path, lambda m: m.update(epochs=epochs))
    one_line(invoke("import-run", changed, "--db", home, "--data", real_mnist_path))
    assert Store(home).runs() == []


@pytest.mark.parametrize("manifest", [
    "[" * 100_000, '{"format": "mnistbench-run", "version": 1, "run": {"id": ' + "9" * 5000 + "}}",
])
def test_T7_crafted_manifests_are_one_line(tmp_path, manifest):
    url = f"sqlite:///{tmp_path / 'home.db'}"
    one_line(invoke("import-run", _import_zip(tmp_path, manifest), "--db", url))
    assert not (tmp_path / "home.db").exists() or Store(url).runs() == []


def test_T8_a_model_with_two_inputs_is_one_line(tmp_path, real_mnist_path):
    from mnistbench.backend import keras

    a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    merged = keras.layers.Add()([keras.layers.Flatten()(a), keras.layers.Flatten()(b)])
    model = keras.Model([a, b], keras.layers.Dense(10, activation="softmax")(merged))
    model.save(tmp_path / "twoin.keras")
    one_line(invoke("submit", tmp_path / "twoin.keras", "--benchmark", "params", "--db",
                    f"sqlite:///{tmp_path / 'b.db'}", "--data", real_mnist_path), "takes 2 inputs")


def test_T10_a_student_showing_a_sweep_gets_the_class_board_line(classroom):  # noqa: F811
    names, urls = classroom
    one_line(invoke("sweep", "show", "foo", "--db", urls["alice"]), "need a role that may create Optuna's tables")


def test_T11_a_name_too_long_is_one_line(tmp_path):
    url = board_with_runs(tmp_path / "b.db")
    one_line(invoke("runs", "--db", f"sqlite:///{tmp_path / ('x' * 300)}.db"), "name too long")
    one_line(invoke("export", "-o", tmp_path / ("n" * 300 + ".csv"), "--db", url), "cannot write")


# --- others ----------------------------------------------------------------------------------------


def test_O1_a_foreign_sqlite_file_is_refused_and_left_as_it_was(tmp_path):
    for tables in (["CREATE TABLE users (name TEXT)"], ["CREATE TABLE runs (x INTEGER)"]):
        foreign = tmp_path / f"foreign-{len(tables[0])}.db"
        with sqlite3.connect(foreign) as c:
            for statement in tables:
                c.execute(statement)
        before = sha(foreign)
        for args in (["board"], ["runs"], ["flag", 1, "x"], ["db", "upgrade"]):
            one_line(invoke(*args, "--db", f"sqlite:///{foreign}"), "not an mnistbench board")
        assert sha(foreign) == before
        assert not list(tmp_path.glob("foreign*.backup-*")) and not Path(f"{foreign}-wal").exists()


def test_O1_a_foreign_postgresql_database_is_refused(pg_url):
    _raw(pg_url, "CREATE TABLE users (name TEXT)")
    one_line(invoke("runs", "--db", pg_url), "not an mnistbench board")
    from sqlalchemy import create_engine, inspect

    engine = create_engine(pg_url)
    assert inspect(engine).get_table_names() == ["users"]
    engine.dispose()


def test_O2_an_import_is_one_transaction(tmp_path):
    url = f"sqlite:///{tmp_path / 'home.db'}"
    store = Store(url)

    def killed(run_id):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.record_finished({"benchmark": "accuracy", "model": "fast", "test_accuracy": 0.9},
                              [{"epoch": 1, "loss": 0.1}], before_commit=killed)
    assert store.runs() == [] and store.epochs_by_run() == {}


def test_O3_the_same_model_or_origin_is_not_entered_twice(tmp_path):
    from mnistbench.transfer import _already_here

    url = board_with_runs(tmp_path / "b.db")
    store = Store(url)
    store.update_run(1, model_sha256="a" * 64)
    run_id = store.record_finished({"benchmark": "accuracy", "model": "fast", "test_accuracy": 0.9, "details": {
        "imported_from": {"run_id": 7, "host": "nb", "created_at": "2026-12-01T00:00:00"}}}, [])
    assert _already_here(store, "a" * 64).id == 1  # not only runs flagged imported
    origin = {"run_id": 7, "host": "nb", "created_at": "2026-12-01T00:00:00"}
    assert _already_here(store, "b" * 64, origin).id == run_id  # re-zipped: new SHA, same origin


def test_O4_non_finite_claims_are_refused_and_json_has_no_nan(tmp_path):
    url = f"sqlite:///{tmp_path / 'home.db'}"
    one_line(invoke("import-run", _import_zip(tmp_path, json.dumps(_manifest()).replace("0.9,", "NaN,")),
                    "--db", url), "test_accuracy")
    url = board_with_runs(tmp_path / "b.db")
    with sqlite3.connect(tmp_path / "b.db") as c:
        c.execute("UPDATE runs SET val_accuracy = 'Infinity', test_accuracy = 'NaN'")
    for args in (["export", "--format", "json"], ["runs", "-f", "json"]):
        result = invoke(*args, "--db", url)
        assert result.exit_code == 0 and "NaN" not in result.stdout and "Infinity" not in result.stdout
        json.loads(result.stdout)


def test_O5_head_and_options_are_answered(tmp_path):
    from mnistbench.server import make_server

    url = board_with_runs(tmp_path / "b.db")
    server = make_server(url, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with urllib.request.urlopen(urllib.request.Request(base, method="HEAD"), timeout=10) as answer:
            assert answer.status == 200 and answer.read() == b""
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(base, method="OPTIONS"), timeout=10)
        assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET, HEAD"
    finally:
        server.shutdown()
        server.server_close()


def test_O6_an_old_board_on_a_read_only_filesystem_says_it_cannot_migrate(disk):  # noqa: F811
    place = disk("2m")
    path = place.path / "board.db"
    url = board_with_runs(path)
    c = sqlite3.connect(path)
    c.execute("UPDATE mnistbench_schema_version SET version_num = '0002'")
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    import gc

    gc.collect()  # the Store's pooled connections hold the file open: the remount needs it closed
    place.read_only()
    for args in (["runs"], ["board"]):
        one_line(invoke(*args, "--db", url), "read-only filesystem", "cannot migrate")


def test_O7_wording(tmp_path):
    url = f"sqlite:///{tmp_path / 'home.db'}"
    line = one_line(invoke("import-run", _import_zip(tmp_path, {**_manifest(), "version": "1"}), "--db", url))
    assert "'1' (str)" in line
    one_line(invoke("import-run", _import_zip(tmp_path, _manifest(params_total="1732")), "--db", url),
             "params_total", "not a number", "str")
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("Chapter 1\n" * 100)
    before = sha(thesis)
    one_line(invoke("runs", "--db", f"sqlite:///{thesis}"), "not an SQLite database")
    one_line(invoke("db", "check", "--repair", "--db", f"sqlite:///{thesis}"), "not an SQLite database")
    assert sha(thesis) == before and not list(tmp_path.glob("thesis.repairing-*"))
    for name in ("/dev/null",):
        one_line(invoke("data", "import", name), "not a regular file")
    line = one_line(invoke("import-run", _import_zip(tmp_path, _manifest(id=1e30, host="h" * 10_000)), "--db", url))
    assert len(line) < 300


def test_O7_reserved_words_and_existing_roles_are_not_students(pg_url, tmp_path):
    from mnistbench.classroom import setup_class
    from mnistbench.errors import ConfigError

    with pytest.raises(ConfigError, match="key word"):
        setup_class(pg_url, ["user"])
    with pytest.raises(ConfigError, match="exists already"):
        setup_class(pg_url, ["postgres"])
