"""A class board on PostgreSQL: the database itself keeps students out of each other's rows."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from mnistbench.classroom import read_students, setup_class, write_credentials
from mnistbench.cli import app
from mnistbench.errors import ConfigError, StoreError
from mnistbench.store import Store

runner = CliRunner()


def _record(url: str, accuracy: float = 0.99) -> int:
    store = Store(url)
    run_id = store.start_run(benchmark="accuracy", model="fast")
    store.add_epoch(run_id, epoch=1, loss=0.1, val_accuracy=0.98)
    store.finish_run(run_id, "finished", test_accuracy=accuracy)
    store.close()
    return run_id


@pytest.fixture
def classroom(pg_url, tmp_path):
    """alice and bob (names made unique: roles are cluster-wide), a lecturer and a reader, each run's URL."""
    tag = uuid.uuid4().hex[:6]
    names = {"alice": f"alice_{tag}", "bob": f"bob_{tag}", "lecturer": f"lecturer_{tag}", "reader": f"reader_{tag}"}
    roster = tmp_path / "students.txt"
    roster.write_text(f"# the class\n{names['alice']}\n\n{names['bob']}\n")
    result = runner.invoke(app, ["db", "setup-class", "--db", pg_url, "--students", str(roster),
                                 "--lecturer", names["lecturer"], "--reader", names["reader"],
                                 "--credentials", str(tmp_path / "cred.csv")])
    assert result.exit_code == 0, result.output
    assert "2 students" in result.output
    lines = (tmp_path / "cred.csv").read_text().splitlines()
    assert lines[0] == "role,kind,url" and len(lines) == 5
    assert (tmp_path / "cred.csv").stat().st_mode & 0o077 == 0
    urls = {who: make_url(pg_url).set(username=role).render_as_string(hide_password=False)
            for who, role in names.items()}
    return names, urls


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_students_record_runs_as_themselves(classroom):
    names, urls = classroom
    run_id = _record(urls["alice"])
    assert Store(urls["reader"]).get_run(run_id).owner == names["alice"]
    with pytest.raises(StoreError, match="row-level security"):  # inserting a run in someone else's name
        Store(urls["alice"]).start_run(benchmark="accuracy", model="fast", owner=names["bob"])


def test_a_student_cannot_change_or_delete_another_students_run(classroom):
    names, urls = classroom
    bobs = _record(urls["bob"])
    changed = _cli("flag", bobs, "test set seen", "--db", urls["alice"])
    assert changed.exit_code == 1
    assert changed.output.strip() == (f"error: the database refused to change run {bobs}: it belongs to "
                                      f"{names['bob']}, and only its owner or a lecturer may change it "
                                      "(row-level security)")
    deleted = _cli("delete", bobs, "--yes", "--db", urls["alice"])
    assert deleted.exit_code == 1 and len(deleted.output.strip().splitlines()) == 1
    assert "refused to delete" in deleted.output
    with pytest.raises(StoreError, match="row-level security"):  # nor add epochs to it
        Store(urls["alice"]).add_epoch(bobs, epoch=2, loss=0.0)
    run = Store(urls["lecturer"]).get_run(bobs, with_epochs=True)
    assert (run.flags, run.status, len(run.epochs)) == ("", "finished", 1)


def test_a_student_changes_their_own_run_but_cannot_delete_it(classroom):
    names, urls = classroom
    mine = _record(urls["alice"])
    assert _cli("flag", mine, "augmented with test images", "--db", urls["alice"]).exit_code == 0
    assert Store(urls["reader"]).get_run(mine).flags == "augmented with test images"
    deleted = _cli("delete", mine, "--yes", "--db", urls["alice"])
    assert deleted.exit_code == 1 and "only a lecturer may delete runs" in deleted.output
    Store(urls["reader"]).get_run(mine)


def test_the_lecturer_flags_and_deletes_any_run(classroom):
    names, urls = classroom
    bobs = _record(urls["bob"])
    assert _cli("flag", bobs, "checked", "--db", urls["lecturer"]).exit_code == 0
    assert Store(urls["reader"]).get_run(bobs).flags == "checked"
    assert _cli("delete", bobs, "--yes", "--db", urls["lecturer"]).exit_code == 0
    assert Store(urls["reader"]).runs() == []


def test_the_reader_reads_and_cannot_write(classroom):
    names, urls = classroom
    run_id = _record(urls["alice"])
    board = _cli("runs", "--db", urls["reader"])
    assert board.exit_code == 0 and "fast" in board.output
    wrote = _cli("flag", run_id, "x", "--db", urls["reader"])
    assert wrote.exit_code == 1
    assert wrote.output.startswith("error: the database refused (permission denied for table runs)")
    with pytest.raises(StoreError, match="permission denied"):
        Store(urls["reader"]).start_run(benchmark="accuracy", model="fast")


def test_setup_class_twice_adds_students_and_keeps_the_policies(classroom, tmp_path, pg_url):
    names, urls = classroom
    carol = f"carol_{uuid.uuid4().hex[:6]}"
    logins = setup_class(pg_url, [names["alice"], carol], lecturer=names["lecturer"], reader=names["reader"])
    created = {login.role: login.created for login in logins}
    assert created[carol] is True and created[names["alice"]] is False
    path = write_credentials(logins, tmp_path / "cred.csv")
    assert carol in path.read_text() and names["bob"] in path.read_text()  # earlier lines kept
    carols = make_url(pg_url).set(username=carol).render_as_string(hide_password=False)
    alices = _record(urls["alice"])
    assert _cli("flag", alices, "x", "--db", carols).exit_code == 1


def test_setup_class_needs_postgresql(tmp_path):
    roster = tmp_path / "s.txt"
    roster.write_text("alice\n")
    result = _cli("db", "setup-class", "--db", f"sqlite:///{tmp_path / 'b.db'}", "--students", roster)
    assert result.exit_code == 1
    assert result.output.strip() == "error: setup-class needs a PostgreSQL board (row-level security); got sqlite"


@pytest.mark.parametrize("text, message", [
    ("Alice\n", "not a usable role name"), ("bob\nbob\n", "twice"), ("# nobody\n", "names no students"),
    ("x; DROP TABLE runs\n", "not a usable role name"), ("pg_monitor\n", "not a usable role name"),
])
def test_a_bad_roster_is_refused_in_one_line(tmp_path, text, message):
    roster = tmp_path / "s.txt"
    roster.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_students(roster)
    with pytest.raises(ConfigError, match="cannot read"):
        read_students(tmp_path / "missing.txt")


def test_owner_is_recorded_on_sqlite_too(db_url):
    import getpass

    run_id = _record(db_url)
    assert Store(db_url).get_run(run_id).owner == getpass.getuser()
