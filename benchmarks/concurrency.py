"""A soak: N writer processes each record R runs with per-epoch history into one board at once, while
reader processes poll `mnistbench board`, `runs` and `export` on it until the writers are done.

    python -m benchmarks.concurrency [--db URL ...] [--processes 8] [--runs 100] [--readers 2]

Reports per database the runs written and whole (finished, all epochs), wall seconds, writer and reader
errors, and the integrity verdict (SQLite in a temporary folder by default; pass a PostgreSQL URL too,
e.g. the one .ci/postgres.sh prints). Writes benchmarks/results/concurrency.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
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


READ_COMMANDS = (["board"], ["runs", "--limit", "20"], ["export", "--format", "json"])


def poll(url: str, stop: threading.Event, counts: dict, limit: int = 2000) -> None:
    """Run the read commands in turn until `stop` is set (at most `limit` commands)."""
    for i in range(limit):
        if stop.is_set():
            return
        args = READ_COMMANDS[i % len(READ_COMMANDS)]
        done = subprocess.run([sys.executable, "-m", "mnistbench", *args, "--db", url], capture_output=True,
                              text=True, timeout=120)
        counts["reads"] += 1
        if done.returncode != 0:
            counts["read_errors"].append(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?")


def record_concurrently(url: str, processes: int = 8, runs: int = 100, readers: int = 0
                        ) -> tuple[float, list[str], dict]:
    """Start the writers (and readers) together; returns (wall seconds, stderr of each writer that failed,
    the readers' counts)."""
    start = time.perf_counter()
    counts = {"reads": 0, "read_errors": []}
    stop = threading.Event()
    polling = [threading.Thread(target=poll, args=(url, stop, counts)) for _ in range(readers)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(p), str(runs)], stderr=subprocess.PIPE,
                              text=True) for p in range(processes)]
    for thread in polling:
        thread.start()
    errors = [proc.communicate()[1] for proc in procs if proc.wait() != 0]
    seconds = time.perf_counter() - start
    stop.set()
    for thread in polling:
        thread.join()
    return seconds, errors, counts


def main() -> None:
    from mnistbench.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", action="append", default=None)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--readers", type=int, default=2)
    args = parser.parse_args()
    urls = args.db or [f"sqlite:///{tempfile.mkdtemp()}/board.db"]
    results = []
    for url in urls:
        Store(url)  # schema first, as a user's first command would
        seconds, errors, reads = record_concurrently(url, args.processes, args.runs, args.readers)
        store = Store(url)
        runs = store.runs()
        whole = sum(1 for r in runs if r.status == "finished" and len(store.get_run(r.id, with_epochs=True).epochs) == 3)
        backend = url.split(":", 1)[0]
        results.append({"backend": backend, "processes": args.processes, "runs_expected": args.processes * args.runs,
                        "runs_written": len(runs), "runs_whole": whole, "seconds": seconds, "errors": len(errors),
                        "readers": args.readers, "reads": reads["reads"], "read_errors": len(reads["read_errors"]),
                        "integrity": store.integrity_check()})
        print(f"{backend:22} {len(runs)}/{args.processes * args.runs} runs ({whole} whole) in {seconds:.2f} s, "
              f"{len(errors)} writer errors; {reads['reads']} reads by {args.readers} readers, "
              f"{len(reads['read_errors'])} errors; integrity {results[-1]['integrity']}")
        for e in errors:
            print(e.strip().splitlines()[-1])
        for e in reads["read_errors"][:5]:
            print("reader:", e)
    save("concurrency", results)


if __name__ == "__main__":
    main()
