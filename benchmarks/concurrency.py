"""Concurrent writers: N processes each record R runs with per-epoch history into one board at once.

    python -m benchmarks.concurrency [--db URL ...] [--processes 4] [--runs 50]

Reports runs written, wall seconds and errors per database (SQLite in a temporary folder by default;
pass a PostgreSQL URL too, e.g. the one .ci/postgres.sh prints). Writes benchmarks/results/concurrency.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

from benchmarks.common import save

WRITER = """
import sys
from mnistbench.store import Store
url, who, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = Store(url)
for i in range(n):
    run_id = store.start_run(benchmark="accuracy", model=f"writer{who}", config={"i": i})
    for epoch in range(1, 4):
        store.add_epoch(run_id, epoch=epoch, loss=1.0 / epoch, accuracy=0.9, val_accuracy=0.9, seconds=epoch)
    store.finish_run(run_id, "finished", test_accuracy=0.9 + i / 10_000)
"""


def record_concurrently(url: str, processes: int = 4, runs: int = 50) -> tuple[float, list[str]]:
    """Start the writers together; returns (wall seconds, stderr of each writer that failed)."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(p), str(runs)], stderr=subprocess.PIPE,
                              text=True) for p in range(processes)]
    errors = [proc.communicate()[1] for proc in procs if proc.wait() != 0]
    return time.perf_counter() - start, errors


def main() -> None:
    from mnistbench.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", action="append", default=None)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    urls = args.db or [f"sqlite:///{tempfile.mkdtemp()}/board.db"]
    results = []
    for url in urls:
        Store(url)  # schema first, as a user's first command would
        seconds, errors = record_concurrently(url, args.processes, args.runs)
        store = Store(url)
        runs = store.runs()
        whole = sum(1 for r in runs if r.status == "finished" and len(store.get_run(r.id, with_epochs=True).epochs) == 3)
        backend = url.split(":", 1)[0]
        results.append({"backend": backend, "processes": args.processes, "runs_expected": args.processes * args.runs,
                        "runs_written": len(runs), "runs_whole": whole, "seconds": seconds, "errors": len(errors),
                        "integrity": store.integrity_check()})
        print(f"{backend:22} {len(runs)}/{args.processes * args.runs} runs ({whole} whole) in {seconds:.2f} s, "
              f"{len(errors)} errors, integrity {results[-1]['integrity']}")
        for e in errors:
            print(e.strip().splitlines()[-1])
    save("concurrency", results)


if __name__ == "__main__":
    main()
