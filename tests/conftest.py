"""Shared fixtures: an isolated home for every test, tiny synthetic MNIST, and the real file when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def _find_real_mnist() -> Path | None:
    """The real MNIST file where the product itself would find it, read before any test isolates the home:
    $MNISTBENCH_DATA, our cache (the README's first command fills it), Keras's cache; then the
    development copy beside the repository (../shared)."""
    from mnistbench.data import cache_path, keras_cache_path

    explicit = os.environ.get("MNISTBENCH_DATA")
    candidates = [Path(explicit)] if explicit and explicit.endswith(".npz") else []
    candidates += [cache_path(), keras_cache_path(),
                   Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"]
    return next((path for path in candidates if path.is_file()), None)


REAL_MNIST = _find_real_mnist()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Each test gets its own working directory, caches and board: nothing leaks into the user's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("MNISTBENCH_DB", raising=False)
    monkeypatch.delenv("MNISTBENCH_DATA", raising=False)
    monkeypatch.delenv("MNISTBENCH_ARTIFACTS", raising=False)
    monkeypatch.setenv("MNISTBENCH_OFFLINE", "1")  # tests never download MNIST
    return tmp_path


def one_line(result, *expected):
    """A CliRunner result that failed the mnistbench way: exit 1, one `error:` line on stderr holding every
    `expected` text, no traceback. Returns the line."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def make_tiny_mnist(n_train: int = 300, n_test: int = 100, seed: int = 0):
    """Synthetic 28x28 digits: each class a bright bar at its own position, plus noise. Learnable, tiny."""
    from mnistbench.data import Mnist

    rng = np.random.default_rng(seed)

    def images(labels):
        x = rng.integers(0, 40, size=(len(labels), 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            x[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        return x

    y_train = np.arange(n_train) % 10
    y_test = np.arange(n_test) % 10
    rng.shuffle(y_train)
    return Mnist(images(y_train), y_train.astype(np.uint8), images(y_test), y_test.astype(np.uint8),
                 source="synthetic")


@pytest.fixture
def tiny_mnist():
    return make_tiny_mnist()


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'board.db'}"


@pytest.fixture
def board(tmp_path):
    """A SQLite board holding one finished run, which bad input must leave in place."""
    from mnistbench.store import Store

    url = f"sqlite:///{tmp_path / 'board.db'}"
    store = Store(url)
    run_id = store.start_run(benchmark="accuracy", model="baseline", params_total=62_834)
    store.finish_run(run_id, "finished", test_accuracy=0.99)
    store.close()
    return url


@pytest.fixture
def real_mnist_path():
    if REAL_MNIST is None:
        pytest.skip("no MNIST file: run `mnistbench data import PATH` or set MNISTBENCH_DATA")
    return REAL_MNIST


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path):
    """The same test on a SQLite file and, where CI started one, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'board.db'}"
        return
    yield from _fresh_pg_database()


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database on the server CI started (skipped where there is none)."""
    yield from _fresh_pg_database()


def _fresh_pg_database():
    server = os.environ.get("MNISTBENCH_TEST_PG_URL")
    if not server:
        pytest.skip("no PostgreSQL server (set MNISTBENCH_TEST_PG_URL; .ci/postgres.sh starts one)")
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", pool_pre_ping=True)  # a test may restart it
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()
