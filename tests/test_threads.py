"""Thread spreading: the busiest threads measured from /proc, pinned one per CPU, released afterwards."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from mnistbench import threads

linux_smp = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task")
    or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux with at least two CPUs")


def test_busiest_threads_ranks_by_cpu_used_in_the_window():
    before = {1: 10.0, 2: 5.0, 3: 0.0, 4: 7.0}
    after = {1: 10.1, 2: 5.9, 3: 0.8, 4: 7.0, 5: 0.5}  # 5 started during the window
    assert threads.busiest_threads(before, after, seconds=1.0, limit=2) == [2, 3]
    assert threads.busiest_threads(before, after, seconds=1.0, limit=9) == [2, 3, 5]  # 1 and 4 under 25 %


@linux_smp
def test_thread_cpu_seconds_sees_a_busy_thread():
    stop, tid = threading.Event(), []

    def spin():
        tid.append(threading.get_native_id())
        while not stop.is_set():
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    time.sleep(0.3)
    used = threads.thread_cpu_seconds()
    stop.set()
    worker.join()
    assert used[tid[0]] > 0.05 and os.getpid() in used  # the main thread's id is the process id


@linux_smp
def test_spreader_pins_busy_threads_apart_and_releases_them():
    allowed = os.sched_getaffinity(0)
    stop, tids = threading.Event(), []
    block = os.urandom(1 << 20)

    def hash_away():  # hashlib releases the GIL on large buffers: real parallel CPU work
        tids.append(threading.get_native_id())
        while not stop.is_set():
            hashlib.sha256(block).digest()

    workers = [threading.Thread(target=hash_away) for _ in range(2)]
    for w in workers:
        w.start()
    seen = {}
    try:
        with threads.ThreadSpreader(ready=lambda: len(tids) == 2, window_s=0.3) as spreader:
            deadline = time.time() + 10
            while len(spreader.pinned) < 2 and time.time() < deadline:
                time.sleep(0.05)
            seen = {tid: os.sched_getaffinity(tid) for tid in tids}
        after = {tid: os.sched_getaffinity(tid) for tid in tids}
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert set(spreader.pinned) == set(tids)
    assert seen[tids[0]] != seen[tids[1]] and all(len(cpus) == 1 for cpus in seen.values())
    assert all(cpus == allowed for cpus in after.values())  # free again after training


def test_disabled_spreader_touches_nothing():
    with threads.ThreadSpreader(ready=lambda: True, enabled=False) as spreader:
        time.sleep(0.1)
    assert spreader.pinned == {}
