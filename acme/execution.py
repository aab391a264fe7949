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
import numpy as np
from distributed.scheduler import KilledWorker

from .arguments import CallPlan, func_name
from .availability import WorkerWatch, replicate_to_running
from .lazy import LAZY_WINDOW, LazyCosts, LazyInputError
from .tasks import (
    EXCEPTION,
    WORKER_DIED,
    CallOutcome,
    Calls,
    SharedCall,
    hand_back,
    run_chunk,
    running_calls,
    shared_value,
)

__all__ = ["next_chunk_size", "execute", "GUIDED_FACTOR", "CHUNK_MIN_SECONDS", "CHUNK_SECONDS",
           "CHUNK_MAX_CALLS",
           "IN_FLIGHT", "STUCK_AFTER", "STUCK_FACTOR"]

log = logging.getLogger("ACME")

#: Guided self-scheduling: each new chunk takes this fraction's inverse times the worker
#: threads of the calls not sent yet (large chunks first, single calls at the very end).
GUIDED_FACTOR = 2

#: Shortest a chunk should take (seconds), judged by the mean duration of finished
#: calls: trivial calls are never sent in tiny chunks, whose dask overhead would dominate.
CHUNK_MIN_SECONDS = 0.05

#: Longest a chunk should take (seconds), judged by the mean duration of finished calls.
CHUNK_SECONDS = 2.0

#: A call counts as stuck once it has run this many seconds and :data:`STUCK_FACTOR`
#: times the mean call: the calls queued behind it are then run elsewhere.
STUCK_AFTER = 1.0
STUCK_FACTOR = 10.0

#: Most calls in one chunk (unless ``chunk_size`` says otherwise): bounds what the driver
#: and a worker hold for one chunk (its calls' arguments, its outcomes in one message),
#: and with it the driver's memory for a lazy argument's items (see :mod:`acme.lazy`).
#: Trivial calls still take 10,000 x a few microseconds per chunk, well above dask's
#: per-task cost.
CHUNK_MAX_CALLS = 10_000

#: Chunks sent per worker thread at a time: one running, one waiting, so that a worker
#: never idles while the driver reads a finished chunk.
IN_FLIGHT = 2

#: Seconds between looks at the running calls (only while a chunk runs longer than
#: :data:`STUCK_AFTER`).
POLL_INTERVAL = 0.5

#: Seconds a query of the workers may take.
_QUERY_TIMEOUT = 10.0


def next_chunk_size(remaining: int, slots: int, chunk_size: int | None = None,
                    mean_duration: float = math.nan) -> int:
    """Calls in the next chunk when ``remaining`` calls are not sent yet.

    ``chunk_size`` if given; otherwise ``remaining / (GUIDED_FACTOR * slots)``, at least
    what takes :data:`CHUNK_MIN_SECONDS` and at most what takes :data:`CHUNK_SECONDS`
    at ``mean_duration`` per call, at most :data:`CHUNK_MAX_CALLS`, at least 1.
    """
    if remaining <= 0:
        return 0
    if chunk_size is not None:
        return min(chunk_size, remaining)
    size = math.ceil(remaining / (GUIDED_FACTOR * max(1, slots)))
    if mean_duration > 0:
        size = max(size, math.ceil(CHUNK_MIN_SECONDS / mean_duration))
        size = min(size, max(1, int(CHUNK_SECONDS / mean_duration)))
    return max(1, min(size, remaining, CHUNK_MAX_CALLS))


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
    return [CallOutcome(index=i, error=tb, summary=summary, kind=kind) for i in chunk]


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
            retries: int = 0, attempts: Sequence[int] | None = None,
            timeout: float | None = None,
            on_state: Callable[[str | None], None] | None = None,
            costs: Sequence[float] | LazyCosts | None = None) -> None:
    """Run the calls ``calls`` (default: all, in this order) of ``plan`` on ``client``,
    handing each final outcome to ``on_outcome`` as soon as the driver has it.

    Chunks are sent as workers free up (at most ``slots`` at a time), each sized by
    :func:`next_chunk_size`. A call that runs far longer than its peers (see
    :data:`STUCK_AFTER`) gets the calls queued behind it in its chunk, and those it
    finished, taken back: the finished ones are reported, the others run elsewhere;
    ``on_state`` hears which call runs for how long (None when none does). A call
    running longer than ``timeout`` seconds fails with ``TimeoutError`` and its worker
    is restarted.

    A call that failed runs again, on its own, up to ``retries`` more times; its
    outcome's ``attempts`` counts its runs, starting from ``attempts[i]`` (runs of earlier
    sessions of a resumed run). ``watch`` bounds the wait while no worker runs (default:
    60 s, nothing replaced); when it gives up, every call not finished fails with its
    error. ``costs`` (one per call of ``plan``) sends the most expensive calls first,
    in chunks of equal shares of the cost left. On any exception (also ``KeyboardInterrupt``, or one raised by ``on_outcome``)
    this run's tasks are cancelled before the exception propagates.
    """
    if watch is None:
        watch = WorkerWatch(client, 60, logging.getLogger("ACME"))
    todo = list(range(plan.n_calls)) if calls is None else list(calls)
    # Runs per call (an array: a dict of a million calls costs the driver 100 MB).
    ran = np.zeros(plan.n_calls, dtype=np.int32)
    if attempts is not None:
        ran[todo] = np.asarray(attempts, dtype=np.int32)[todo]
    token = uuid.uuid4().hex[:10]
    name = func_name(plan.func)
    prefix = f"acme-{name}-{token}-"
    lazy = plan.lazy
    lazy_error: list[LazyInputError] = []  # a lazy argument ran short: nothing more is sent
    if lazy is not None:
        lazy.want_only(todo)
        report = on_outcome

        def on_outcome(outcome: CallOutcome) -> None:  # final: its items are dropped
            lazy.release(outcome.index)
            report(outcome)
    # A lazy run orders by cost within blocks of calls, read a block ahead.
    blocks = None
    if costs is not None and lazy is not None:
        blocks = collections.deque(todo[k:k + LAZY_WINDOW]
                                   for k in range(0, len(todo), LAZY_WINDOW))
        todo = []
    elif costs is not None:  # longest processing time first
        todo.sort(key=lambda i: -costs[i])
    unqueued = [len(todo) if blocks is None else sum(len(b) for b in blocks)]
    queue = collections.deque(todo)  # calls not sent yet, in the order to send them
    queued_cost = [math.fsum(costs[i] for i in todo) if costs is not None else 0.0]
    shared_future = _send_shared(client, shared, f"{prefix}shared")
    futures: dict[distributed.Future, list[int]] = {}  # task -> calls it still owes
    sent: dict[distributed.Future, list[int]] = {}     # task -> calls it was sent
    keys: dict[str, distributed.Future] = {}
    budget: set[distributed.Future] = set()  # chunks counted against `slots`
    abandoned: set[distributed.Future] = set()  # cancelled on a timeout: ignored
    # Calls of chunks that failed as a whole (calls' own exceptions are caught inside a
    # chunk): one call killed its worker, or a result could not be sent back. They run
    # again one at a time, so the failure lands only on the call causing it; all at
    # once, dask would count every call queued on a dying worker as a suspect. This
    # holds for one-call chunks too: dask may have failed such a call only because it
    # waited on a worker that another call killed. What fails on its own is final.
    rerun: collections.deque[int] = collections.deque()
    submitted: dict[str, float] = {}  # key -> submission time
    measured = [0.0, 0]  # total duration and number of finished calls
    avoid: set[str] = set()  # workers running a stuck call
    reported: set[int] = set()  # stuck calls already logged
    polled = [0.0]
    n_chunks = [0]
    pending = distributed.as_completed()

    def submit(chunk: Sequence[int], key: str, priority: int = 0) -> distributed.Future:
        calls = Calls([(i, plan.call_values(i)) for i in chunk])
        places = None
        if avoid:
            places = sorted(set(client.nthreads()) - avoid) or None
        future = client.submit(run_chunk, shared_future, calls, key, pure=False, key=key,
                               workers=places, allow_other_workers=places is not None,
                               priority=priority)
        futures[future] = list(chunk)
        sent[future] = list(chunk)
        keys[key] = future
        submitted[key] = time.monotonic()
        pending.add(future)
        return future

    def mean() -> float:
        return measured[0] / measured[1] if measured[1] else math.nan

    def fill() -> None:
        try:
            send()
        except LazyInputError as err:  # the calls already sent finish; then it is raised
            lazy_error.append(err)
            queue.clear()
            if blocks is not None:
                blocks.clear()

    def top_up(need: int) -> None:
        """Queue the next blocks of a lazy run with costs, each ordered by cost."""
        while blocks and len(queue) < need:
            block = blocks.popleft()
            unqueued[0] -= len(block)
            order = [costs[i] for i in block] if costs is not None else []
            queue.extend(i for _, i in sorted(zip(order, block, strict=True),
                                              key=lambda pair: -pair[0]))

    def send() -> None:
        top_up(1)
        while queue and len(budget) < IN_FLIGHT * max(1, slots):
            if costs is None or chunk_size is not None or lazy is not None:
                left = len(queue) + (unqueued[0] if blocks is not None else 0)
                size = next_chunk_size(left, slots, chunk_size, mean())
                top_up(size)
                chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
            else:  # an equal share of the cost left, at least one call
                share = queued_cost[0] / (GUIDED_FACTOR * max(1, slots))
                chunk, cost = [queue.popleft()], 0.0
                cost = costs[chunk[0]]
                while queue and cost + costs[queue[0]] <= share:
                    chunk.append(queue.popleft())
                    cost += costs[chunk[-1]]
                queued_cost[0] = max(0.0, queued_cost[0] - cost)
            # Earlier chunks first (dask runs the higher priority first).
            budget.add(submit(chunk, f"{prefix}{n_chunks[0]}", priority=-n_chunks[0]))
            log.debug("Sent calls %d-%d (%d calls) as task %d", chunk[0], chunk[-1],
                      len(chunk), n_chunks[0])
            n_chunks[0] += 1
            top_up(1)

    def settle(outcome: CallOutcome, final: bool) -> None:
        i = outcome.index
        ran[i] += 1
        outcome.attempts = int(ran[i])
        if outcome.ok and outcome.duration == outcome.duration:  # not NaN
            measured[0] += outcome.duration
            measured[1] += 1
        if outcome.ok or ran[i] > retries + (attempts[i] if attempts else 0) or final:
            on_outcome(outcome)
        elif outcome.kind == WORKER_DIED:
            rerun.append(i)  # one at a time: it may kill its worker again
        else:
            submit([i], f"{prefix}call{i}-{ran[i]}")

    def take_back(future: distributed.Future, key: str, address: str) -> None:
        """Report what chunk ``key`` finished, and queue the calls behind its stuck call
        to run next (elsewhere)."""
        try:
            got = client.run(hand_back, key, workers=[address], on_error="return",
                             callback_timeout=_QUERY_TIMEOUT).get(address)
        except Exception as err:  # no answer: the calls stay with their chunk
            log.debug("Could not take calls back from task %s: %s", key, err)
            return
        if got is None or isinstance(got, BaseException) or future not in futures:
            return
        done, limit = got
        back = sent[future][limit:]
        gone = {o.index for o in done} | set(back)
        futures[future] = [i for i in futures[future] if i not in gone]
        budget.discard(future)
        if limit == 0:  # it had not started: it runs nothing
            abandoned.add(future)
            client.cancel([future])
        queue.extendleft(reversed(back))
        if costs is not None and lazy is None:
            queued_cost[0] += math.fsum(costs[i] for i in back)
        for outcome in done:
            settle(outcome, final=False)
        if back:
            log.debug("Took calls %d-%d back from task %s", back[0], back[-1], key)

    def time_out(future: distributed.Future, index: int, seconds: float,
                 address: str) -> None:
        """Fail call ``index``, which ran longer than ``timeout``; restart its worker."""
        client.cancel([future])
        abandoned.add(future)
        budget.discard(future)
        # Calls queued behind it that could not be taken back run again elsewhere.
        rest = [i for i in futures[future] if i != index]
        queue.extendleft(reversed(rest))
        if costs is not None and lazy is None:
            queued_cost[0] += math.fsum(costs[i] for i in rest)
        futures[future] = []
        err = TimeoutError(f"call {index} ran longer than `call_timeout`={timeout:g} s "
                           f"(stopped after {seconds:.1f} s; its worker was restarted)")
        tb = f"{type(err).__name__}: {err}\n"
        log.error("Call %d ran longer than `call_timeout`=%g s: it fails, and worker %s is "
                  "restarted", index, timeout, address)
        ran[index] += 1
        outcome = CallOutcome(index=index, error=tb, summary=f"{type(err).__name__}: {err}",
                              duration=seconds, kind=EXCEPTION, attempts=int(ran[index]))
        on_outcome(outcome)
        try:
            client.restart_workers([address], timeout=60, raise_for_error=False)
        except Exception as restart_error:  # e.g. a worker without nanny
            log.warning("Worker %s could not be restarted (%s): the stuck call keeps "
                        "its thread", address, restart_error)

    def tick() -> None:
        """Look at the running calls: free the calls behind stuck ones, time out."""
        now = time.monotonic()
        if now - polled[0] < POLL_INTERVAL:
            return
        polled[0] = now
        first = STUCK_AFTER if timeout is None else min(STUCK_AFTER, timeout)
        live = [str(f.key) for f in futures if f not in abandoned]
        if not live or now - min(submitted.get(k, now) for k in live) < first:
            if on_state is not None and avoid:
                on_state(None)
            avoid.clear()
            return
        try:
            running = client.run(running_calls, prefix, on_error="return",
                                 callback_timeout=_QUERY_TIMEOUT)
        except Exception as err:  # no answer this time: the next tick asks again
            log.debug("Could not ask the workers about their running calls: %s", err)
            return
        # Until a call has finished, a long call is not known to be an outlier: the
        # calls behind it are still freed, but nothing is reported.
        limit = max(STUCK_AFTER, STUCK_FACTOR * mean()) if measured[1] else STUCK_AFTER
        avoid.clear()
        longest: tuple[float, int] | None = None
        for address, calls in running.items():
            if isinstance(calls, BaseException):
                continue
            for call in calls:
                future = keys.get(call.key)
                if future is None or future not in futures or future in abandoned:
                    continue
                if call.seconds >= limit and call.waiting:
                    take_back(future, call.key, address)
                if timeout is not None and call.seconds > timeout:
                    time_out(future, call.index, call.seconds, address)
                    continue
                if call.seconds < limit or not measured[1]:
                    continue
                avoid.add(address)
                if call.index not in reported:
                    reported.add(call.index)
                    log.warning("Call %d has been running for %.0f s (mean call: %.2g s)%s",
                                call.index, call.seconds, mean(),
                                "; the calls queued behind it run elsewhere"
                                if call.waiting else "")
                if longest is None or call.seconds > longest[0]:
                    longest = (call.seconds, call.index)
        # Chunks queued on a worker busy with a stuck call are taken back too.
        running_keys = {call.key for calls in running.values()
                        if not isinstance(calls, BaseException) for call in calls}
        if avoid:
            try:
                queued = client.processing(workers=sorted(avoid))
            except Exception:
                queued = {}
            for address, held in queued.items():
                for key in held:
                    future = keys.get(str(key))
                    if (str(key) not in running_keys and future is not None
                            and future in futures and future not in abandoned):
                        take_back(future, str(key), address)
        if on_state is not None and (longest is not None or reported):
            on_state(None if longest is None else
                     f"call {longest[1]} running for {longest[0]:.0f} s")
        fill()

    rerunning: distributed.Future | None = None  # at most one call reruns at a time
    try:
        log.debug("Sending %d calls in chunks of at most 1/%d of the calls left "
                  "(%d worker threads)", len(todo), GUIDED_FACTOR * max(1, slots), slots)
        fill()
        for future in watch.completed(pending, tick):
            if future in abandoned:
                abandoned.discard(future)
                futures.pop(future, None)
                continue
            outcomes, error = _read(future, watch)
            if outcomes is None and future.status == "lost":
                # Its result died with a worker before it was read: the scheduler
                # computes it again, and it comes back here when that is done.
                pending.add(future)
                continue
            chunk = futures.pop(future)
            sent.pop(future, None)
            budget.discard(future)
            keys.pop(str(future.key), None)
            if watch.error is None:
                fill()  # before the outcomes are handled: the workers keep busy
            log.debug("Task %s (%d calls) %s after %.2f s", future.key, len(chunk),
                      future.status,
                      time.monotonic() - submitted.pop(str(future.key), time.monotonic()))
            first_round = future is not rerunning
            if not first_round:
                rerunning = None
            if (outcomes is None and first_round and future.status != "cancelled"
                    and watch.error is None):
                rerun.extend(chunk)
            elif outcomes is not None:
                for outcome in outcomes:
                    settle(outcome, final=watch.error is not None)
            else:
                for outcome in _failed_chunk(chunk, future, error or watch.error):
                    settle(outcome, final=future.status == "cancelled"
                           or watch.error is not None)
            future.release()
            if watch.error is None:
                fill()
            elif queue:  # given up: the calls never sent fail as well
                summary = f"{type(watch.error).__name__}: {watch.error}"
                while queue:
                    settle(CallOutcome(index=queue.popleft(), error=f"{summary}\n",
                                       summary=summary, kind=EXCEPTION), final=True)
            if rerun and rerunning is None:
                i = rerun.popleft()
                rerunning = submit([i], f"{prefix}call{i}-r{ran[i]}")
        if lazy_error:
            raise lazy_error[0]
        if lazy is not None and lazy.excess is not None:
            raise lazy.excess
    except BaseException:
        client.cancel(list(futures) + [shared_future])
        raise
    finally:
        shared_future.release()
        if on_state is not None and reported:
            on_state(None)
