"""Driver side: send the calls of a run to dask in chunks and collect their outcomes.

Data flow::

    CallPlan --(SharedCall: function, broadcast values, storage; sent once)-------+
       |                                                                          v
       +--(chunks of (index, split values))--> client.submit(run_chunk) --> workers
                                                                                 |
    outcomes[index] <-- as_completed <-- list[CallOutcome] per chunk <-----------+

Calls are grouped into a few chunks per worker thread so dask's per-task overhead is
paid per chunk, not per call; results, failures and progress stay per call. A task that
fails as a whole (a call killed its worker, a result could not be sent back) has its calls
run again one at a time, so that only the calls at fault fail. A finished result that is
lost with its worker before the driver has read it is computed again by the scheduler.
"""

from __future__ import annotations

import collections
import logging
import math
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError

import distributed
from distributed.scheduler import KilledWorker

from .arguments import CallPlan, func_name
from .availability import WorkerWatch, replicate_to_running
from .tasks import EXCEPTION, WORKER_DIED, CallOutcome, SharedCall, run_chunk, shared_value

__all__ = ["chunk_ranges", "execute", "CHUNKS_PER_SLOT"]

log = logging.getLogger("ACME")

#: Chunks per worker thread: enough for load balancing and a moving progress bar,
#: few enough that dask's per-task cost (about 1-2 ms) is negligible.
CHUNKS_PER_SLOT = 8


def chunk_ranges(n_calls: int, slots: int, chunk_size: int | None = None) -> list[range]:
    """Split ``range(n_calls)`` into contiguous chunks of nearly equal size."""
    if chunk_size is None:
        n_chunks = min(n_calls, max(1, slots) * CHUNKS_PER_SLOT)
    else:
        n_chunks = math.ceil(n_calls / chunk_size)
    base, extra = divmod(n_calls, n_chunks)
    chunks, start = [], 0
    for j in range(n_chunks):
        stop = start + base + (1 if j < extra else 0)
        chunks.append(range(start, stop))
        start = stop
    return chunks


def _failed_chunk(chunk: Sequence[int], future: distributed.Future,
                  error: BaseException | None = None) -> list[CallOutcome]:
    """Every call of a chunk whose task itself failed (e.g. its worker died), whose result
    could not be read (``error``), or which was cancelled (e.g. by a client restart)."""
    exc: BaseException
    if future.status == "error":
        exc = future.exception()
        tb = "".join(traceback.format_exception(type(exc), exc, future.traceback()))
    elif error is not None:
        exc = error
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    else:
        exc = CancelledError(f"the dask task {future.key!r} running these calls was "
                             f"{future.status}")
        tb = f"{type(exc).__name__}: {exc}\n"
    summary = f"{type(exc).__name__}: {exc}"
    kind = WORKER_DIED if isinstance(exc, KilledWorker) else EXCEPTION
    return [CallOutcome(i, None, None, tb, summary, None, kind=kind) for i in chunk]


def _read(future: distributed.Future, watch: WorkerWatch
          ) -> tuple[list[CallOutcome] | None, BaseException | None]:
    """A finished chunk's outcomes, or None (and the error, if reading raised one) if the
    task failed as a whole, was cancelled, or its result was lost with a worker."""
    if future.status != "finished":
        return None, None
    try:
        return watch.read(future), None  # future.result(), bounded while no worker runs
    except Exception as err:
        return None, err


def _send_shared(client: distributed.Client, shared: SharedCall, key: str
                 ) -> distributed.Future:
    """Send what all calls share to the cluster once, under a key unique to the run.

    As a task, not as scattered data: when a worker holding it dies, the scheduler can
    compute it again, while scattered data would be lost for good and cancel every chunk
    still to run. (The scheduler keeps the task's argument until the run ends; dask's
    "large graph" warning therefore says nothing useful here.)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        future = client.submit(shared_value, shared, key=key, pure=False)
    # On every worker before the chunks are scheduled: otherwise the scheduler favours
    # the one worker that holds it, and the others idle while chunks queue there.
    replicate_to_running(client, future)
    return future


def execute(client: distributed.Client, plan: CallPlan, shared: SharedCall, slots: int,
            chunk_size: int | None, on_outcome: Callable[[CallOutcome], None],
            watch: WorkerWatch | None = None, calls: Sequence[int] | None = None,
            retries: int = 0, attempts: Sequence[int] | None = None) -> None:
    """Run the calls ``calls`` (default: all) of ``plan`` on ``client``, handing each
    final outcome to ``on_outcome`` as its chunk completes.

    A call that failed runs again, on its own, up to ``retries`` more times; its
    outcome's ``attempts`` counts its runs, starting from ``attempts[i]`` (runs of earlier
    sessions of a resumed run). ``watch`` bounds the wait while no worker runs (default:
    60 s, nothing replaced); when it gives up, every call not finished fails with its
    error. On any exception (also ``KeyboardInterrupt``, or one raised by ``on_outcome``)
    this run's tasks are cancelled before the exception propagates.
    """
    if watch is None:
        watch = WorkerWatch(client, 60, logging.getLogger("ACME"))
    todo = list(range(plan.n_calls)) if calls is None else list(calls)
    ran = collections.Counter({i: int(attempts[i]) for i in todo} if attempts is not None
                              else {})
    token = uuid.uuid4().hex[:10]
    name = func_name(plan.func)
    shared_future = _send_shared(client, shared, f"acme-{name}-{token}-shared")
    futures: dict[distributed.Future, Sequence[int]] = {}
    # Calls of chunks that failed as a whole (calls' own exceptions are caught inside a
    # chunk): one call killed its worker, or a result could not be sent back. They run
    # again one at a time, so the failure lands only on the call causing it; all at
    # once, dask would count every call queued on a dying worker as a suspect. This
    # holds for one-call chunks too: dask may have failed such a call only because it
    # waited on a worker that another call killed. What fails on its own is final.
    rerun: collections.deque[int] = collections.deque()

    submitted: dict[str, float] = {}  # key -> submission time, for the debug log

    def submit(chunk: Sequence[int], key: str) -> distributed.Future:
        calls = [(i, plan.call_values(i)) for i in chunk]
        future = client.submit(run_chunk, shared_future, calls, pure=False, key=key)
        futures[future] = chunk
        submitted[key] = time.perf_counter()
        return future

    rerunning: distributed.Future | None = None  # at most one call reruns at a time
    try:
        parts = chunk_ranges(len(todo), slots, chunk_size) if todo else []
        chunks: list[Sequence[int]] = [todo[part.start:part.stop] for part in parts]
        sizes = sorted({len(c) for c in chunks})  # nearly equal: one or two sizes
        log.debug("Sending %d calls as %d dask tasks of %s calls each (%d worker threads)",
                  len(todo), len(chunks), "-".join(map(str, sizes)), slots)
        for j, chunk in enumerate(chunks):
            submit(chunk, f"acme-{name}-{token}-{j}")
        pending = distributed.as_completed(list(futures))
        for future in watch.completed(pending):
            outcomes, error = _read(future, watch)
            if outcomes is None and future.status == "lost":
                # Its result died with a worker before it was read: the scheduler
                # computes it again, and it comes back here when that is done.
                pending.add(future)
                continue
            chunk = futures.pop(future)
            log.debug("Task %s (calls %d-%d) %s after %.2f s", future.key, chunk[0],
                      chunk[-1], future.status,
                      time.perf_counter() - submitted.pop(str(future.key), time.perf_counter()))
            first_round = future is not rerunning
            if not first_round:
                rerunning = None
            if (outcomes is None and first_round and future.status != "cancelled"
                    and watch.error is None):
                rerun.extend(chunk)
            else:
                for outcome in outcomes or _failed_chunk(chunk, future, error or watch.error):
                    i = outcome.index
                    ran[i] += 1
                    outcome.attempts = ran[i]
                    if outcome.ok or ran[i] > retries + (attempts[i] if attempts else 0) \
                            or future.status == "cancelled" or watch.error is not None:
                        on_outcome(outcome)
                    elif outcome.kind == WORKER_DIED:
                        rerun.append(i)  # one at a time: it may kill its worker again
                    else:
                        pending.add(submit([i], f"acme-{name}-{token}-call{i}-{ran[i]}"))
            future.release()
            if rerun and rerunning is None:
                i = rerun.popleft()
                rerunning = submit([i], f"acme-{name}-{token}-call{i}-r{ran[i]}")
                pending.add(rerunning)
    except BaseException:
        client.cancel(list(futures) + [shared_future])
        raise
    finally:
        shared_future.release()
