"""Checkpoints: the container and the run record on disk follow the run.

A background thread of the driver publishes, whenever calls finished since the last
checkpoint, first the container and then the record (both written under a temporary
name and renamed, so each file is complete at every moment). A call is ``done`` in the
record only if the container published just before covers it. Checkpoints happen every
:data:`MIN_INTERVAL` seconds, or less often when a checkpoint is slow: the time between
two is at least :data:`COST_FACTOR` times the duration of the previous one, so
checkpointing takes at most about 1/COST_FACTOR of the driver's time (e.g. a big
``single_file`` container, which is copied at each checkpoint). A final checkpoint
runs when the run ends, also when it is interrupted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .record import DONE, FAILED, PICKLED, CallTable, RecordWriter
from .storage.paths import StorageMode
from .tasks import CallOutcome

__all__ = ["Checkpointer", "MIN_INTERVAL", "COST_FACTOR"]

#: Seconds between two checkpoints at least (while calls finish).
MIN_INTERVAL = 2.0
#: Checkpoints are at least this many times their own duration apart.
COST_FACTOR = 20.0


def call_status(outcome: CallOutcome, storage: StorageMode) -> int:
    """The record's status code of a finished call."""
    if not outcome.ok:
        return FAILED
    if storage != StorageMode.PICKLE and outcome.path is not None and outcome.path.endswith(".pickle"):
        return PICKLED
    return DONE


class Checkpointer:
    """Keeps the record (and, through ``publish_container``, the container) current.

    ``add`` is called by the driver for each final outcome, ``publish_container`` runs
    under the same lock, with a snapshot of the outcomes, so both see one state.
    """

    def __init__(self, record: RecordWriter, calls: CallTable, storage: StorageMode,
                 outcomes: list[CallOutcome | None],
                 publish_container: Callable[[list[CallOutcome | None]], None] | None,
                 finish_container: Callable[[list[CallOutcome | None]], None] | None,
                 log: logging.Logger) -> None:
        self.record = record
        self.calls = calls
        self.storage = storage
        self.outcomes = outcomes
        self.publish_container = publish_container
        self.finish_container = finish_container
        self.log = log
        self.lock = threading.RLock()
        self.seconds = 0.0        # time spent checkpointing (for the benchmark)
        self.count = 0
        self._dirty = False
        self._interval = MIN_INTERVAL
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def add(self, outcome: CallOutcome, apply: Callable[[], Any] | None = None) -> None:
        """Record ``outcome`` (after ``apply()``, e.g. writing it into the container)."""
        with self.lock:
            if apply is not None:
                apply()
            self.outcomes[outcome.index] = outcome
            error = (outcome.summary or "").splitlines()[0] if not outcome.ok else ""
            self.calls.set(outcome.index, call_status(outcome, self.storage),
                           outcome.attempts, outcome.duration, outcome.host, outcome.job_id,
                           outcome.kind if not outcome.ok else "", error,
                           outcome.error or "")
            self._dirty = True

    def start(self) -> None:
        """Publish the record once, then checkpoint in the background."""
        self.checkpoint("running")
        self._thread = threading.Thread(target=self._loop, name="acme-checkpoint",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            if self._dirty:
                try:
                    self.checkpoint("running")
                except Exception as err:  # the final checkpoint tries again and reports
                    self._error = err
                    self.log.warning("Checkpoint failed: %s: %s", type(err).__name__, err)

    def checkpoint(self, state: str, end: bool = False) -> None:
        """Publish the container, then the record, as they are now (the final one:
        ``finish_container`` instead of ``publish_container``)."""
        started = time.perf_counter()
        with self.lock:
            self._dirty = False
            snapshot = list(self.outcomes)
            calls = self.calls.copy()
            container = self.finish_container if end else self.publish_container
            if container is not None:
                container(snapshot)
        self.record.publish(calls, state, end=end)
        took = time.perf_counter() - started
        self.seconds += took
        self.count += 1
        self._interval = max(MIN_INTERVAL, COST_FACTOR * took)

    def stop(self, state: str) -> None:
        """Stop the background thread and publish the final checkpoint."""
        self._stop.set()
        if self._thread is not None:
            # A running checkpoint finishes first (bounded: one checkpoint's time).
            self._thread.join()
        self.checkpoint(state, end=True)
