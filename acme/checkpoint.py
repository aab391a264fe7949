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
from datetime import datetime
from typing import Any

import cloudpickle
import numpy as np

from .arguments import CallPlan
from .options import RunOptions
from .record import (
    DONE,
    FAILED,
    NOT_RUN,
    PICKLED,
    CallTable,
    RecordWriter,
    call_hash,
    call_hashes,
    func_hash,
    inputs_path,
    provenance,
    value_hash,
    write_inputs,
)
from .resume import Prior, options_json
from .storage.paths import RunPaths, StorageMode
from .tasks import CallOutcome

__all__ = ["Checkpointer", "open_record", "final_checkpoint", "MIN_INTERVAL", "COST_FACTOR"]

#: Publishes the container for a snapshot of the outcomes.
Publisher = Callable[[list[CallOutcome | None]], None]

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
                 publish_container: Publisher | None, finish_container: Publisher | None,
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


def open_record(paths: RunPaths, func: Callable[..., Any], func_blob: bytes,
                given: tuple[tuple[Any, ...], dict[str, Any], int | str], plan: CallPlan,
                options: RunOptions, prior: Prior | None,
                outcomes: list[CallOutcome | None], publish: Publisher | None,
                finish: Publisher | None, log: logging.Logger) -> Checkpointer:
    """Write the inputs file (a new run) and the first record; return the started
    :class:`Checkpointer` that keeps both (and the container) current from now on.

    ``given`` is what the user passed (``args``, ``kwargs``, ``n_inputs``), stored so
    that :func:`acme.resume_run` can run it again; ``prior`` the record of the run being
    resumed (its calls not done become "not run", their attempts kept).
    """
    name = paths.func_name
    args, kwargs, n_inputs = given
    fhash = func_hash(func, func_blob)
    if prior is None and plan.lazy is not None:
        # Iterators cannot be stored: resume=True with the same items given again.
        calls = CallTable.empty(plan.n_calls)
        calls.argument_hash = plan.lazy.hashing(call_hash)  # filled as items are read
        write_inputs(inputs_path(paths.output_dir, name), func_blob, b"", [""] * plan.n_calls,
                     value_hash((plan.args, plan.kwargs)), lazy=plan.lazy.lazy_names)
        start_time = datetime.now().isoformat(timespec="seconds")
    elif prior is None:
        hashes = call_hashes(plan.split_values, plan.n_calls, plan.call_values)
        try:
            args_blob = cloudpickle.dumps((args, kwargs, n_inputs))
        except Exception as err:  # only debug mode gets here with such arguments
            args_blob = b""
            log.warning("The arguments cannot be pickled (%s): resume this run with "
                        "resume=True, acme.resume_run() cannot", err)
        write_inputs(inputs_path(paths.output_dir, name), func_blob, args_blob, hashes,
                     value_hash((plan.args, plan.kwargs)))
        calls = CallTable.empty(plan.n_calls)
        start_time = datetime.now().isoformat(timespec="seconds")
    else:
        calls = prior.calls
        for i in np.flatnonzero(np.isin(calls.status, (DONE, PICKLED), invert=True)):
            # to run again: "not run" until it has, its attempts kept
            calls.set(int(i), NOT_RUN, int(calls.attempts[i]), np.nan, "", "")
        start_time = str(prior.attrs.get("start_time", ""))
    header = dict(provenance(), func_module=str(getattr(func, "__module__", "")),
                  func_name=name, func_hash=fhash, n_calls=plan.n_calls,
                  storage=options.storage.value, options=options_json(options, n_inputs),
                  container=paths.container.name if paths.container else "",
                  start_time=start_time, end_time="")
    book = Checkpointer(RecordWriter(paths.output_dir, name, header), calls,
                        options.storage, outcomes, publish, finish, log)
    book.start()
    return book


def final_checkpoint(book: Checkpointer, state: str, outcomes: list[CallOutcome | None],
                     log: logging.Logger) -> str | None:
    """The last checkpoint; on an interruption, say how far the run got. Returns why
    the container or record could not be written (e.g. a full disk), or None."""
    error = None
    try:
        book.stop(state)
    except Exception as err:
        if state != "interrupted" and not isinstance(err, OSError):
            raise
        # The payloads are on disk: the error is reported with them (an error that
        # interrupted the run is the one to report).
        error = f"{type(err).__name__}: {err}"
        log.error("The final checkpoint failed: %s", error)
    if state == "interrupted":
        done = sum(1 for o in outcomes if o is not None and o.ok)
        log.warning("The run was interrupted with %d of %d calls done; their results "
                    "are stored (run record: %s)", done, len(outcomes), book.record.path)
    return error
