"""Start-up: wall time of the commands that must answer without TensorFlow, on a board of 1,000 runs.

    python -m benchmarks.startup [--runs 1000] [--repeat 7]

Each command runs as a fresh process (as a user types it); we report the median and the spread, and
a plain `python -c pass` in the same session as the floor. Writes benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import save


def fill(url: str, n: int) -> None:
    from mnistbench.store import Store

    store = Store(url)
    for i in range(n):
        run_id = store.start_run(benchmark=("accuracy", "params", "labels")[i % 3], model=f"model{i % 7}",
                                 params_total=1000 + i, labels_used=10 + i, config={"i": i})
        for epoch in range(1, 11):
            store.add_epoch(run_id, epoch=epoch, loss=1 / epoch, accuracy=0.9, val_accuracy=0.9 + epoch / 1000,
                            seconds=float(epoch))
        store.finish_run(run_id, "finished", test_accuracy=0.9 + (i % 100) / 1000)


def timed(cmd: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'board.db'}"
    fill(url, args.runs)
    exe = [sys.executable, "-m", "mnistbench"]
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "mnistbench --help": [*exe, "--help"],
        f"mnistbench board ({args.runs} runs)": [*exe, "board", "--db", url],
        f"mnistbench runs ({args.runs} runs)": [*exe, "runs", "--db", url],
        "mnistbench show 500": [*exe, "show", "500", "--db", url],
    }
    timed(commands["mnistbench --help"], 1)  # warm the file cache
    results = {}
    print(f"{'command':36} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, cmd in commands.items():
        t = timed(cmd, args.repeat)
        results[name] = {"median": statistics.median(t), "min": min(t), "max": max(t), "repeat": args.repeat}
        print(f"{name:36} {statistics.median(t):9.3f} {min(t):7.3f} {max(t):7.3f}")
    save("startup", results)


if __name__ == "__main__":
    main()
