"""Backends: what runs a run's calls, behind one small contract.

A backend has one method, ``run(calls, collect)``: run these call indices and hand each
call's final :class:`~acme.tasks.CallOutcome` to ``collect`` as soon as it is known
(in any order). It stores nothing itself; results are written by the call
(:mod:`acme.tasks`) and by ``collect`` (the run pipeline's collector).

* :class:`SequentialBackend` (``compute(debug=True)``): the calls one after the other in
  the caller's process and thread, no cluster. An exception propagates unchanged (no
  wrapping, so ``pdb``/``breakpoint()`` work and the traceback is the user's own), after
  the failing call is logged.
* :class:`DaskBackend`: obtains a client when it starts (``acquire``), sends the calls
  in chunks (:func:`acme.execution.execute`) with the function preloaded on every
  worker, watches the workers (:class:`acme.availability.WorkerWatch`) and shows the
  progress.
"""

from __future__ import annotations

import bdb
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tqdm.auto import tqdm

from .arguments import CallPlan
from .availability import WorkerWatch
from .clients import ClientHandle, describe_client
from .execution import execute
from .lazy import LazyCosts
from .preload import preloaded
from .tasks import CallOutcome, SharedCall, run_call

__all__ = ["Backend", "SequentialBackend", "DaskBackend", "log_failure"]

#: Receives each call's final outcome.
Collect = Callable[[CallOutcome], None]

_TQDM_FORMAT = "{desc}: {percentage:3.0f}% |{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]"


class Backend(Protocol):
    """Runs calls of a run and hands over their outcomes."""

    def run(self, calls: Sequence[int], collect: Collect) -> None:
        """Run the calls ``calls`` (indices into the run's plan); pass each final
        outcome to ``collect``. Returns when every call has its outcome."""


def log_failure(log: logging.Logger, index: int, summary: str | None,
                tb: str | None) -> None:
    """One line per failed call on the console; its traceback in the log file only."""
    log.error("Task %d failed: %s", index, summary)
    log.error("Traceback of task %d:\n%s", index, tb, extra={"file_only": True})


@dataclass(frozen=True)
class SequentialBackend:
    """Every call in this process, one after the other (debug mode).

    ``func`` is called directly (never pickled); ``shared`` says how results are
    stored, exactly as on a worker.
    """

    func: Callable[..., Any]
    plan: CallPlan
    shared: SharedCall
    log: logging.Logger

    def run(self, calls: Sequence[int], collect: Collect) -> None:
        self.log.warning("Running in debug mode: %d calls of `%s` one after the other in "
                         "this process", len(calls), self.shared.storage.func_name)
        for i in calls:
            try:
                outcome = run_call(self.func, self.shared, i, self.plan.call_values(i),
                                   catch=False)
            except Exception as err:  # propagates unchanged, for the debugger
                if not isinstance(err, bdb.BdbQuit):  # the user quit pdb: not a failure
                    log_failure(self.log, i, f"{type(err).__name__}: {err}",
                                traceback.format_exc())
                raise
            collect(outcome)
            self.plan.release(i)  # a lazy argument's items are dropped


@dataclass
class DaskBackend:
    """The calls in chunks on a dask cluster (see :func:`acme.execution.execute`).

    Parameters
    ----------
    plan, shared
        The run's calls and what they share (the function sent once per run).
    acquire
        Gives the client to run on; called once, when :meth:`run` starts (so that a
        run with nothing to do never starts a cluster).
    setup_timeout
        Longest wait while no worker is available (:class:`WorkerWatch`).
    chunk_size, retries, timeout, costs
        As :func:`~acme.execution.execute` takes them.
    attempts
        Runs of each call in earlier sessions of a resumed run (None: a new run).
    n_done
        Calls done before this backend runs (the progress bar starts there).
    show_progress
        Show a progress bar.
    log
        The run's logger.
    """

    plan: CallPlan
    shared: SharedCall
    acquire: Callable[[], ClientHandle]
    setup_timeout: float
    log: logging.Logger
    chunk_size: int | None = None
    retries: int = 0
    timeout: float | None = None
    costs: Sequence[float] | LazyCosts | None = None
    attempts: Sequence[int] | None = None
    n_done: int = 0
    show_progress: bool = True

    def run(self, calls: Sequence[int], collect: Collect) -> None:
        handle = self.acquire()
        client = handle.client
        name = self.shared.storage.func_name
        self.log.debug("%s", describe_client(handle))
        slots = max(sum(client.nthreads().values()), handle.expected_workers)
        self.log.info("Preparing %d parallel calls of `%s` using %d workers", len(calls),
                      name, len(client.nthreads()))
        bar = tqdm(total=self.plan.n_calls, initial=self.n_done, bar_format=_TQDM_FORMAT,
                   desc=name, disable=not self.show_progress)

        def show(state: str | None) -> None:  # what the run waits for, in the bar
            bar.set_description_str(name if state is None else f"{name} ({state})")

        def counted(outcome: CallOutcome) -> None:
            collect(outcome)
            bar.update(1)

        try:
            watch = WorkerWatch(client, self.setup_timeout, self.log,
                                replace_jobs=handle.owned, on_state=show)
            with preloaded(client, self.shared, name):
                execute(client, self.plan, self.shared, slots, self.chunk_size, counted,
                        watch, calls=calls, retries=self.retries, attempts=self.attempts,
                        timeout=self.timeout, on_state=show, costs=self.costs)
        finally:
            bar.close()
