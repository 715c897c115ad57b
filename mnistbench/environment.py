"""Where a run ran: device, library versions and the code's identity, recorded with every run."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU's model, its cores and its vector extensions: machines of one name differ by up to 3x, and
    the extensions say much of why."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} cores, {cpu_flags()})"


def cpu_flags() -> str:
    """The vector extensions that decide a CPU's speed at convolutions (AVX2, AVX-512 ...), for naming a
    machine beside an absolute figure."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    wanted = [f for f in ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return " ".join(f.upper() for f in wanted) or "none of AVX/AVX2/AVX-512"


def device_name() -> str:
    """The GPU TensorFlow trains on when it sees one, else the CPU model."""
    from .backend import tf  # noqa: PLC0415  (only commands that train ask)

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    return f"CPU: {cpu_name()}"


def git_commit(path: str = ".") -> str | None:
    """HEAD of the working directory's repository, with '-dirty' when it has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, timeout=5)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def run_environment(tensorflow: bool = True) -> dict:
    """The columns every run records about its machine and software. With tensorflow=False (a run that
    only used numpy) TensorFlow is not imported and the device is the CPU."""
    common = {"python_version": platform.python_version(), "git_commit": git_commit()}
    if not tensorflow:
        return {"device": f"CPU: {cpu_name()}", **common}
    from .backend import keras, tf  # noqa: PLC0415

    return {"device": device_name(), "tf_version": tf.__version__, "keras_version": keras.__version__, **common}
