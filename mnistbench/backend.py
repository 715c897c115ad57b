"""TensorFlow and Keras, imported once and quietly: `from .backend import keras, tf`.

On a machine without a GPU, TensorFlow's C++ core writes lines such as "Could not find cuda drivers"
and "failed call to cuInit" to the stderr file descriptor, some of them before absl's logging is set
up, where TF_CPP_MIN_LOG_LEVEL cannot reach them. So the import runs with file descriptor 2 pointed
at /dev/null, and the C++ log level is set to errors-only-fatal (3) unless the user chose one. What
matters to a user is said once, in our words: a GPU that the machine has but TensorFlow cannot use.
"""

from __future__ import annotations

import os
import sys
import warnings


def _import_quietly():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # import-time deprecation notes of TensorFlow's dependencies
            import keras  # noqa: PLC0415
            import tensorflow  # noqa: PLC0415
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tensorflow, keras


tf, keras = _import_quietly()
# TensorFlow's Python logger warns when a function is traced again (each run of `--seeds` builds new
# models, so the fifth run's prediction is "retracing"): a note for TensorFlow's developers, not our users.
tf.get_logger().setLevel("ERROR")


def unused_gpu_warning() -> str | None:
    """A line for the user when the machine has an NVIDIA GPU that TensorFlow does not see."""
    if not os.path.exists("/dev/nvidia0") or tf.config.list_physical_devices("GPU"):
        return None
    return ("warning: this machine has an NVIDIA GPU but TensorFlow cannot use it, so training runs on the "
            "CPU (TensorFlow's CUDA wheels: pip install 'tensorflow[and-cuda]')")
