"""The run pipeline: what ``ParallelMap(...).compute()`` does, top-down.

::

    ParallelMap(func, *args, **kwargs)        pmap.py: validate (options.py, arguments.py);
        |                                       no file, no client yet
        | __enter__ / compute()
        v
    open the run                              pmap.py: RunPaths + create_output_dirs
        |                                       (storage/), the run's log (log.py)
        v
    ResultStore + record                      storage/store.py: single-file writer,
        |                                       container publisher; checkpoint.py:
        |                                       inputs file, run record, checkpoints
        v
    backend.run(calls, collect)               backends.py
        |   SequentialBackend (debug)           run_call in this process ----------+
        |   DaskBackend                         client (clients.py), execute         |
        |                                       (execution.py) -> chunks on workers |
        |                                       -> run_call (tasks.py) -------------+
        |                                                                            |
        |   worker writes the payload  <-- storage/payloads.py  <--------------------+
        |   CallOutcome --> Collector: ResultStore.keep, Checkpointer.add, log
        v
    finish the container                      run_calls: final checkpoint publishes the
        |                                       container (storage/containers.py) and
        |                                       the record
        v
    return the results                       conclude: results.py assembles them;
                                                ParallelMapError if a call failed

A backend only runs calls and hands over outcomes; the collector stores each outcome
where the run keeps it; the checkpointer publishes container and record together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .backends import Backend, log_failure
from .checkpoint import Checkpointer, final_checkpoint
from .errors import ParallelMapError
from .options import RunOptions
from .results import assemble_results
from .storage.store import ResultStore
from .tasks import WORKER_DIED, CallOutcome

__all__ = ["Collector", "RunEnd", "run_calls", "conclude"]


@dataclass
class Collector:
    """Receives each final outcome from a backend: stores it (through the record's
    checkpointer, so that container and record agree), logs warnings and failures."""

    outcomes: list[CallOutcome | None]
    store: ResultStore
    book: Checkpointer | None
    log: logging.Logger
    n_failed: int = 0

    def __call__(self, outcome: CallOutcome) -> None:
        def keep() -> None:
            self.store.keep(outcome)
            self.outcomes[outcome.index] = outcome

        if self.book is not None:
            self.book.add(outcome, keep)
        else:
            keep()
        if outcome.warning:
            self.log.warning(outcome.warning)
        if not outcome.ok:
            self.n_failed += 1
            log_failure(self.log, outcome.index, outcome.summary, outcome.error)


@dataclass(frozen=True)
class RunEnd:
    """How the calls of a run ended."""

    state: str                    # "finished", "failed" (some call failed)
    n_failed: int
    container_error: str | None   # why the final container/record could not be written


def run_calls(backend: Backend, calls: Sequence[int], store: ResultStore,
              book: Checkpointer | None, outcomes: list[CallOutcome | None],
              log: logging.Logger) -> RunEnd:
    """Run ``calls`` on ``backend``, then publish the final container and record (also
    when the run is interrupted: the record then says "interrupted" and the exception
    propagates)."""
    collect = Collector(outcomes, store, book, log)
    state = "interrupted"
    container_error = None
    try:
        if calls:
            backend.run(calls, collect)
        state = "failed" if collect.n_failed else "finished"
    finally:
        if book is not None:
            container_error = final_checkpoint(book, state, outcomes, log)
    return RunEnd(state, collect.n_failed, container_error)


def conclude(end: RunEnd, outcomes: list[CallOutcome | None], options: RunOptions,
             container: str | None, grid: tuple[int, ...] | None, where: str,
             started: float, log: logging.Logger) -> Any:
    """What ``compute()`` returns (see :mod:`acme.results`); raises
    :class:`~acme.ParallelMapError`, holding those results, if a call failed or the
    container could not be written."""
    results = assemble_results(outcomes, options, container, grid)
    elapsed = time.perf_counter() - started
    n_calls = len(outcomes)
    if end.n_failed or end.container_error:
        failed = {o.index: o.error or "" for o in outcomes if o is not None and not o.ok}
        first = next((o for o in outcomes if o is not None and not o.ok), None)
        died = [o.index for o in outcomes if o is not None and o.kind == WORKER_DIED]
        if end.n_failed:
            log.error("%d of %d calls failed after %.2f s; the results of the other "
                      "calls are stored %s", end.n_failed, n_calls, elapsed, where)
        raise ParallelMapError(failed, n_calls, results,
                               first.summary or "" if first else "",
                               container_error=end.container_error, worker_died=died)
    log.info("SUCCESS! Finished %d calls in %.2f s", n_calls, elapsed)
    return results
