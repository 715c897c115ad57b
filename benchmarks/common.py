"""What every benchmark script shares: writing its result with the machine and the code's identity."""

from __future__ import annotations

import json
import platform
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def save(name: str, result) -> Path:
    """Write `result` to benchmarks/results/NAME.json beside the CPU, Python and git commit it ran on."""
    from mnistbench.environment import cpu_flags, cpu_name, git_commit

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    meta = {"cpu": cpu_name(), "cpu_flags": cpu_flags(), "python": platform.python_version(), "git_commit": git_commit()}
    path.write_text(json.dumps({"machine": meta, "result": result}, indent=2))
    print(f"wrote {path}")
    return path
