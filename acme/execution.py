"""Driver side: send the calls of a run to dask in chunks and collect their outcomes.

Data flow::

    CallPlan --(SharedCall: function, broadcast values, storage; scattered once)--+
       |                                                                          v
       +--(chunks of (index, split values))--> client.submit(run_chunk) --> workers
                                                                                 |
    outcomes[index] <-- as_completed <-- list[CallOutcome] per chunk <-----------+

Calls are grouped into a few chunks per worker thread so dask's per-task overhead is
paid per chunk, not per call; results, failures and progress stay per call.
"""

from __future__ import annotations

import math
import traceback
import uuid
from collections.abc import Callable

import distributed

from .arguments import CallPlan
from .tasks import CallOutcome, SharedCall, run_chunk

__all__ = ["chunk_ranges", "execute", "CHUNKS_PER_SLOT"]

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


def _failed_chunk(chunk: range, future: distributed.Future) -> list[CallOutcome]:
    """Every call of a chunk whose task itself failed (e.g. its worker died)."""
    exc = future.exception()
    tb = "".join(traceback.format_exception(type(exc), exc, future.traceback()))
    summary = f"{type(exc).__name__}: {exc}"
    return [CallOutcome(i, None, None, tb, summary, None) for i in chunk]


def execute(client: distributed.Client, plan: CallPlan, shared: SharedCall, slots: int,
            chunk_size: int | None, on_outcome: Callable[[CallOutcome], None]) -> None:
    """Run all calls of ``plan`` on ``client``, handing each outcome to ``on_outcome``
    as its chunk completes.

    On any exception (also ``KeyboardInterrupt``, or one raised by ``on_outcome``) this
    run's tasks are cancelled before the exception propagates.
    """
    token = uuid.uuid4().hex[:10]
    name = getattr(plan.func, "__name__", "func")
    # hash=False: a key unique to this run, so nothing collides with earlier runs.
    [shared_future] = client.scatter([shared], broadcast=True, hash=False)
    futures: dict[distributed.Future, range] = {}
    try:
        for j, chunk in enumerate(chunk_ranges(plan.n_calls, slots, chunk_size)):
            calls = [(i, plan.call_values(i)) for i in chunk]
            future = client.submit(run_chunk, shared_future, calls, pure=False,
                                   key=f"acme-{name}-{token}-{j}")
            futures[future] = chunk
        for future in distributed.as_completed(futures):
            chunk = futures[future]
            outcomes = _failed_chunk(chunk, future) if future.status == "error" \
                else future.result()
            future.release()
            for outcome in outcomes:
                on_outcome(outcome)
    except BaseException:
        client.cancel(list(futures) + [shared_future])
        raise
    finally:
        shared_future.release()
