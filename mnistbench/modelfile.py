"""What a `.keras` file from elsewhere may make us allocate, judged before Keras builds anything.

A `.keras` file is a zip of config.json (the layers) and model.weights.h5. A 30 KB config can declare a
Dense layer of 300,000 units (gigabytes once built), and a 2 MB file can inflate to 2 GiB of weights:
both are refused here, in one line, from the zip's directory and the config alone. No TensorFlow.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

from .errors import MnistbenchError

MAX_CONFIG_BYTES = 4 * 2**20
MAX_INFLATED_BYTES = 256 * 2**20  # all members together, as their headers declare them
MAX_PARAMETERS = 25_000_000  # 100 MB of float32 weights: a hundred times the zoo's largest net
# Config fields that size a layer's output (its units, filters, embedding width).
_OUTPUT_SIZES = ("units", "filters", "output_dim")


class ModelFileError(MnistbenchError):
    """A model file that asks for more than a model of MNIST can need."""


def check_keras_file(path: Path, shown: str) -> None:
    """Raise ModelFileError when the file at `path` would inflate or build beyond the caps."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            inflated = sum(i.file_size for i in infos)
            if inflated > MAX_INFLATED_BYTES:
                raise ModelFileError(f"{shown} inflates to {inflated / 2**20:,.0f} MiB, more than a model of MNIST "
                                     f"needs ({MAX_INFLATED_BYTES // 2**20} MiB); refused")
            names = {i.filename: i for i in infos}
            if "config.json" not in names:
                return  # Keras says what is missing
            if names["config.json"].file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(f"{shown}: its config.json is larger than {MAX_CONFIG_BYTES // 2**20} MiB; refused")
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError, UnicodeDecodeError):
        return  # not a model Keras can read either: the loader says so in its own line
    declared = estimate_parameters(config)
    if declared > MAX_PARAMETERS:
        raise ModelFileError(f"{shown} declares about {declared:,} parameters, more than {MAX_PARAMETERS:,}; "
                             "refused before building it")


def estimate_parameters(config) -> int:
    """An estimate of the weights the config's layers would build: for each layer, its input's last
    dimension (from the layer's build_config, else 1) times its kernel's area times its output size,
    plus embedding tables. Exact for Dense and Conv layers, a lower bound elsewhere; what matters is
    that a layer declaring millions of units is seen before it is built."""
    total = 0
    for layer in _layers(config):
        settings = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        outputs = max([_number(settings.get(k)) for k in _OUTPUT_SIZES] + [0])
        if settings.get("input_dim") is not None:  # Embedding: a table of input_dim x output_dim
            total += _number(settings.get("input_dim")) * max(outputs, 1)
            continue
        if not outputs:
            continue
        kernel = settings.get("kernel_size", 1)
        area = math.prod(_number(k) for k in kernel) if isinstance(kernel, list) else _number(kernel) or 1
        build = layer.get("build_config") if isinstance(layer.get("build_config"), dict) else {}
        shape = build.get("input_shape")
        inputs = _number(shape[-1]) if isinstance(shape, list) and shape else 1
        total += max(inputs, 1) * max(area, 1) * outputs
    return total


def _layers(node, depth: int = 0):
    """Every layer config in a (possibly nested) Keras config: dicts with a class_name and a config."""
    if depth > 50:
        return
    if isinstance(node, dict):
        if "class_name" in node and isinstance(node.get("config"), dict):
            yield node
        for value in node.values():
            yield from _layers(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _layers(value, depth + 1)


def _number(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0
    return max(int(value), 0)
