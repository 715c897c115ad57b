"""One run's life on the board: inserted as `running`, kept alive by a heartbeat, ended exactly once.

Every kind of run (accuracy and params training, labels, ensembles, sweep trials and their winners)
goes through `recording`, so they all end the same way:

- the body returns: `finished` (or what the body chose with `Recording.interrupted`), with the fields
  it staged through `Recording.set`, and no error text, even if another process had meanwhile taken
  the run for dead;
- Ctrl-C or SIGTERM: `interrupted`; any other exception: `failed` with the error; both re-raised.

A run done elsewhere (an imported export, a submitted model) enters through `arrived`, finished and
whole in one transaction. These two are the library's only writers of run rows.

A thread refreshes the heartbeat for as long as the body runs, so a run that spends many minutes
without an epoch to report (a labels embedding, an ensemble's predictions) is not reaped by another
command that opens the board. No TensorFlow here.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .config import Status
from .errors import MnistbenchError, StoreError


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread, so that a terminated run ends as Ctrl-C would."""


class Recording:
    """The handle a run's body gets: its id, and what to write when it ends."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.fields: dict = {}
        self.status = Status.finished
        self.error: str | None = None

    def set(self, **fields) -> None:
        """Stage columns for the final write (later calls win)."""
        self.fields.update(fields)

    def interrupted(self, why: str) -> None:
        """End as `interrupted` although the body returns normally (it handled the interruption)."""
        self.status, self.error = Status.interrupted, why


class _Heartbeat:
    def __init__(self, store, run_id: int, seconds: float):
        self.store, self.run_id, self.seconds = store, run_id, seconds
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="mnistbench-heartbeat", daemon=True)

    def _beat(self):
        while not self.stop.wait(self.seconds):
            try:
                self.store.heartbeat(self.run_id)
            except MnistbenchError:
                pass  # a missed beat only matters after minutes; the next one may get through

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


class _SigtermAsInterrupt:
    """While the body runs, SIGTERM raises Terminated; while the run's end is written, it waits."""

    def __init__(self):
        self.previous = None
        self.ending = False
        self.pending = False
        self.active = threading.current_thread() is threading.main_thread()

    def _handler(self, signum, frame):
        if self.ending:
            self.pending = True  # raised once the final row is written
            return
        raise Terminated()

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.signal(signal.SIGTERM, self.previous)


def heartbeat_seconds(stale_after_seconds: float) -> float:
    """Beat five times per stale limit, and at least once a minute."""
    return max(0.05, min(60.0, stale_after_seconds / 5))


@contextmanager
def recording(store, **fields) -> Iterator[Recording]:
    """Insert a run as `running` with `fields`, yield its Recording, and record how it ended."""
    run = Recording(store.start_run(**fields))
    sigterm = _SigtermAsInterrupt()
    with sigterm:
        try:
            with _Heartbeat(store, run.run_id, heartbeat_seconds(store.stale_after.total_seconds())):
                yield run
        except Terminated:
            sigterm.ending = True
            _end(store, run, Status.interrupted, "terminated (SIGTERM)")
            raise
        except KeyboardInterrupt:
            sigterm.ending = True
            _end(store, run, Status.interrupted, "interrupted (Ctrl-C)")
            raise
        except BaseException as exc:
            sigterm.ending = True
            _end(store, run, Status.failed, f"{exc.__class__.__name__}: {exc}")
            raise
        sigterm.ending = True
        _end(store, run, run.status, run.error)
    if sigterm.pending:
        raise Terminated()


def arrived(store, fields: dict, epochs: list[dict], keep=None) -> int:
    """A run done elsewhere (an imported export, a submitted model file) enters the board finished, with its
    epochs, in one write transaction: it is never seen running, and a failure half-way leaves no row.
    `keep(run_id)` runs inside that transaction and returns columns to set (where its model file went)."""
    return store.record_finished(fields, epochs, before_commit=keep)


def _end(store, run: Recording, status: str, error: str | None) -> None:
    """The final write, retried a few times: a database that hiccups must not lose a finished run."""
    for attempt in range(4):
        try:
            store.finish_run(run.run_id, status, error=error, **run.fields)
            return
        except StoreError:
            if attempt == 3:
                raise
            time.sleep(0.5 * 2 ** attempt)
