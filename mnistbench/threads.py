"""Keeping TensorFlow's busiest threads on different CPUs while a model trains (Linux only).

Why: on the 2-core CI machine every epoch ran in one of two states, chosen afresh by the kernel's
scheduler: TensorFlow's two compute threads on both CPUs (the `fast` net at ~7,500 images/s) or
stacked on one CPU (~4,700 images/s, what `taskset -c 0` gives), flipping from epoch to epoch. In a
probe of the `fast` net (6,000 images, 9 timed epochs), plain `fit` drew the one-CPU state in 3 of 9
epochs; with its two busiest threads pinned to different CPUs after the first epoch, in 0 of 9.

The threads are measured, not guessed: once training is under way, each thread's CPU time is read
twice from /proc over a short window, and the busiest ones (those using at least a quarter of a CPU)
get one CPU each. Thread placement never changes what is computed, only where. Pins are lifted
when training ends, so later work in the process is free again.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

MIN_SHARE = 0.25  # of one CPU over the window: lighter threads are left to the scheduler
WINDOW_S = 0.5


def thread_cpu_seconds() -> dict[int, float]:
    """CPU seconds used so far by each thread of this process, by thread id (empty off Linux)."""
    out: dict[int, float] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:  # nanoseconds on the CPU
                out[int(tid)] = int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            try:  # kernels without schedstat: utime + stime in clock ticks
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[int(tid)] = (int(fields[11]) + int(fields[12])) / ticks
            except (OSError, ValueError, IndexError):
                continue  # the thread ended while we looked
    return out


def busiest_threads(before: dict[int, float], after: dict[int, float], seconds: float, limit: int) -> list[int]:
    """Up to `limit` thread ids, busiest first, that used at least MIN_SHARE of a CPU between the two reads."""
    share = {tid: (after[tid] - before.get(tid, 0.0)) / seconds for tid in after}
    busy = sorted((tid for tid, s in share.items() if s >= MIN_SHARE), key=lambda tid: -share[tid])
    return busy[:limit]


@dataclass
class ThreadSpreader:
    """Context manager: once `ready()` says training runs, pin its busiest threads one per CPU.

    `ready` is polled from a background thread (e.g. "the optimizer has taken a few steps", so that
    the first step's tracing, which runs on the main thread, is over). Does nothing with fewer than
    two CPUs, off Linux, or when fewer than two threads are busy."""

    ready: Callable[[], bool]
    enabled: bool = True
    window_s: float = WINDOW_S
    pinned: dict[int, int] = field(default_factory=dict)  # thread id -> CPU
    cpus: list[int] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mnistbench-spread", daemon=True)
        self._lock = threading.Lock()
        self._allowed: set[int] = set()

    def __enter__(self) -> ThreadSpreader:
        if self.enabled and hasattr(os, "sched_setaffinity"):
            self._allowed = os.sched_getaffinity(0)
            self.cpus = sorted(self._allowed)
            if len(self.cpus) >= 2:
                self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * self.window_s + 1)
        with self._lock:
            for tid in self.pinned:
                try:
                    os.sched_setaffinity(tid, self._allowed)
                except OSError:
                    pass  # the thread has ended

    def _watch(self) -> None:
        try:
            self._measure_and_pin()
        except Exception:  # placement is an optimisation: it must never disturb the training it serves
            pass

    def _measure_and_pin(self) -> None:
        while not self._stop.wait(0.05):
            try:
                if self.ready():
                    break
            except Exception:  # e.g. the step counter is still being created
                continue
        else:
            return
        before, start = thread_cpu_seconds(), time.perf_counter()
        if self._stop.wait(self.window_s):
            return
        after = thread_cpu_seconds()
        busy = busiest_threads(before, after, time.perf_counter() - start, limit=len(self.cpus))
        if len(busy) < 2:
            return  # nothing to keep apart
        with self._lock:
            if self._stop.is_set():
                return
            for i, tid in enumerate(busy):
                cpu = self.cpus[i % len(self.cpus)]
                try:
                    os.sched_setaffinity(tid, {cpu})
                    self.pinned[tid] = cpu
                except OSError:
                    pass  # ended meanwhile, or not ours to move
