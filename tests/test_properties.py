"""Generated nonsense at every command: out-of-domain values and malformed files each get one `error:`
line and exit status 1, and the board keeps the run it had (hypothesis draws the values)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mnistbench.cli import app
from mnistbench.store import Store

runner = CliRunner()
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def one_line_and_intact(args, board, names=None):
    """Exit 1 with one `error:` line that names what was wrong (`names`: the option, the field or the value;
    by default the option given), and the board untouched."""
    result = runner.invoke(app, [str(a) for a in args] + ["--db", board])
    assert result.exit_code == 1, (args, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    wanted = names if names is not None else _named(args)
    assert any(name in lines[0] for name in wanted), (args, lines[0], wanted)
    assert [r.test_accuracy for r in Store(board).runs()] == [0.99], args


def _named(args) -> list[str]:
    """What a refusal of `args` must name: the option (with or without its dashes, as a field) or, for
    --set, the field; or the value as given."""
    args = [str(a) for a in args]
    option = next((a for a in reversed(args) if a.startswith("--") and a != "--data"), None)
    if option is None:
        return args
    value = args[args.index(option) + 1] if args.index(option) + 1 < len(args) else ""
    if option == "--set":
        return [value.split("=", 1)[0]]
    return [option, option[2:].replace("-", "_"), option[2:].replace("-", " "), value]


def floats_outside(low, high, *, low_open=False, high_open=False):
    """Finite floats outside a range, and the non-finite ones."""
    below = st.floats(max_value=low, exclude_max=not low_open, allow_nan=False, allow_infinity=False,
                      width=32)
    above = st.floats(min_value=high, exclude_min=not high_open, allow_nan=False, allow_infinity=False, width=32)
    return st.one_of(below, above, st.sampled_from([math.nan, math.inf, -math.inf]))


def ints_below(low):
    return st.integers(max_value=low - 1, min_value=-(2**40))


TRAIN_OPTIONS = st.one_of(
    ints_below(1).map(lambda v: ["--epochs", v]),
    ints_below(1).map(lambda v: ["--batch-size", v]),
    ints_below(1).map(lambda v: ["--steps-per-execution", v]),
    st.one_of(st.floats(max_value=0, allow_nan=False, width=32), st.sampled_from([math.nan, math.inf])).map(
        lambda v: ["--lr", v]),
    floats_outside(0, 1, high_open=True).map(lambda v: ["--label-smoothing", v]),
    st.one_of(ints_below(0), st.integers(min_value=2**32, max_value=2**40)).map(lambda v: ["--seed", v]),
    st.one_of(ints_below(0), st.integers(min_value=59_991, max_value=10**9)).map(lambda v: ["--val-size", v]),
    st.one_of(ints_below(10), st.integers(min_value=55_001, max_value=10**9)).map(lambda v: ["--train-size", v]),
    floats_outside(0, 1, high_open=True).map(lambda v: ["--set", f"warmup={v}"]),
    floats_outside(0, 180, low_open=True, high_open=True).filter(lambda v: not 0 <= v <= 180).map(
        lambda v: ["--set", f"rotation={v}"]),
    st.text(alphabet="abcxyz!@", min_size=1, max_size=6).map(lambda v: ["--set", f"zoom={v}"]),
    st.text(alphabet="abcdefgh", min_size=3, max_size=8).map(lambda v: ["--optimizer", v]),
)


@SETTINGS
@given(option=TRAIN_OPTIONS)
def test_train_refuses_out_of_domain_values(board, real_mnist_path, option):
    one_line_and_intact(["train", "accuracy", "--model", "fast", *option, "--data", real_mnist_path], board)


LABELS_OPTIONS = st.one_of(
    st.one_of(ints_below(1), st.integers(min_value=60_001, max_value=10**9)).map(lambda v: ["--k", v]),
    st.integers(min_value=54_220, max_value=60_000).map(lambda v: ["--k", v - v % 10]),  # past cosine's maximum
    ints_below(1).map(lambda v: ["--epochs", v]),
    ints_below(0).map(lambda v: ["--seed", v]),
    floats_outside(0, 1).map(lambda v: ["--set", f"confidence={v}"]),
    floats_outside(0, 1, low_open=True).filter(lambda v: not 0 < v <= 1).map(lambda v: ["--set", f"core_fraction={v}"]),
    st.text(alphabet="qwrtz", min_size=2, max_size=8).map(lambda v: ["--set", f"{v}=1"]),
)


@SETTINGS
@given(option=LABELS_OPTIONS)
def test_labels_refuses_out_of_domain_values(board, real_mnist_path, option):
    one_line_and_intact(["labels", *option, "--data", real_mnist_path], board)


READ_OPTIONS = st.one_of(
    floats_outside(0, 100, low_open=True).filter(lambda v: not 0 < v <= 100).map(lambda v: ["board", "--target", v]),
    ints_below(1).map(lambda v: ["board", "--top", v]),
    ints_below(1).map(lambda v: ["runs", "--limit", v]),
    st.integers(min_value=2, max_value=2**31).map(lambda v: ["show", v]),
    st.integers(min_value=2, max_value=2**31).map(lambda v: ["verify", v]),
    st.sampled_from([97.0, 100.0, -1.0]).map(lambda v: ["board", "--time-to", v]),
    floats_outside(0, 100, low_open=True).filter(lambda v: not 0 < v <= 100).map(lambda v: ["export", "--target", v]),
)


@SETTINGS
@given(args=READ_OPTIONS)
def test_reading_commands_refuse_out_of_domain_values(board, args):
    one_line_and_intact(args, board)


@SETTINGS
@given(content=st.binary(min_size=0, max_size=4096), prefix=st.sampled_from([b"", b"PK\x03\x04", b"\x1f\x8b",
                                                                              b"\x93NUMPY"]),
       suffix=st.sampled_from([".npz", ".gz", ".pkl.gz", ".whl", ""]))
def test_malformed_data_files_are_one_line(board, tmp_path, content, prefix, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(prefix + content)
    one_line_and_intact(["data", "--data", path], board)


@SETTINGS
@given(content=st.binary(min_size=1, max_size=8192))
def test_a_board_file_of_garbage_is_one_line(tmp_path, content):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"SQLite format 3\0" + content)
    for args in (["runs"], ["board"], ["show", "1"]):
        result = runner.invoke(app, [*args, "--db", f"sqlite:///{path}"])
        assert result.exit_code == 1, (args, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
