"""Worker side: run a chunk of calls of the user's function.

Needs no client. Each call is run on its own: an exception is caught and returned as
that call's outcome, so one failing call never fails the other calls of its chunk.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import math
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cloudpickle
import numpy as np

from .arguments import CallPlan, assemble
from .heap import payload_heap
from .storage.paths import StorageMode
from .storage.payloads import StorageSpec, as_row, check_shape, fit_result, write_result

#: ``CallOutcome.kind`` of a call that raised (the record's ``failure_kind``).
EXCEPTION = "exception"
#: ``CallOutcome.kind`` of a call whose worker process died.
WORKER_DIED = "worker died"
_HOST = socket.gethostname()

__all__ = ["SharedCall", "CallOutcome", "Calls", "RunningCall", "load_function", "run_call",
           "run_chunk", "running_calls", "hand_back", "shared_call", "shared_value"]


@dataclass(frozen=True)
class SharedCall:
    """Everything all calls of a run share; sent to the cluster once per run."""

    func_blob: bytes                 # cloudpickled function (unpickled after sys.path fix)
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    split_pos: tuple[int, ...]
    split_kw: tuple[str, ...]
    pass_task_id: bool
    storage: StorageSpec
    sys_path: tuple[str, ...] = ()


@dataclass(slots=True, kw_only=True)
class CallOutcome:
    """Result of one call: a file path, a value (in memory), or an error (built by
    keyword: ``CallOutcome(index=3, path=...)``)."""

    index: int
    path: str | None = None
    value: Any = None
    error: str | None = None       # formatted traceback
    summary: str | None = None     # "ExcType: message"
    warning: str | None = None
    shape: tuple[int, ...] | None = None   # shape of the first return value (result_shape)
    n_values: int = 1                      # number of return values
    duration: float = math.nan             # seconds the call took (storing included)
    host: str = ""                         # where it ran
    job_id: str = ""                       # SLURM job id of its worker, if any
    kind: str = ""                         # why it failed: "exception" or "worker died"
    attempts: int = 1                      # how often it ran (resumed runs included)

    @property
    def ok(self) -> bool:
        return self.error is None


_FIELDS = tuple(f.name for f in dataclasses.fields(CallOutcome))


class Outcomes(list):  # type: ignore[type-arg]
    """A chunk's outcomes, pickled by columns: one list per field instead of one object
    per call, several times faster to pickle and unpickle (the driver reads a million
    outcomes of a large run); unpickled as a plain list of :class:`CallOutcome`."""

    def __reduce__(self) -> tuple[Any, ...]:
        columns = tuple([getattr(o, name) for o in self] for name in _FIELDS)
        return _unpack, (columns,)


def _unpack(columns: tuple[list[Any], ...]) -> list[CallOutcome]:
    return [CallOutcome(**dict(zip(_FIELDS, row, strict=True)))
            for row in zip(*columns, strict=True)]


@functools.lru_cache(maxsize=8)
def load_function(blob: bytes, sys_path: tuple[str, ...]) -> Callable[..., Any]:
    """The function pickled in ``blob``, loaded once per process (cached).

    Workers load it on their main thread first (:mod:`acme.preload`), so that a module
    installing signal handlers at import can be imported; a task only finds it here.
    """
    # Modules importable in the caller must be importable here (attached clients).
    for entry in sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    return cloudpickle.loads(blob)


def run_call(func: Callable[..., Any], shared: SharedCall, index: int,
             values: Sequence[Any], catch: bool = True) -> CallOutcome:
    """Run call ``index`` and store its result as the run's storage mode says."""
    args, kwargs = assemble(shared.args, shared.kwargs, shared.split_pos, shared.split_kw,
                            tuple(values))
    if shared.pass_task_id:
        kwargs["taskID"] = index
    started = time.perf_counter()
    try:
        return _where(_run(func, shared, index, args, kwargs), started)
    except Exception as err:
        if not catch:
            raise
        outcome = CallOutcome(index=index, error=traceback.format_exc(),
                              summary=f"{type(err).__name__}: {err}", kind=EXCEPTION)
        return _where(outcome, started)


def _where(outcome: CallOutcome, started: float) -> CallOutcome:
    outcome.duration = time.perf_counter() - started
    outcome.host = _HOST
    outcome.job_id = os.environ.get("SLURM_JOB_ID", "")
    return outcome


def _run(func: Callable[..., Any], shared: SharedCall, index: int, args: list[Any],
         kwargs: dict[str, Any]) -> CallOutcome:
    """Call ``func`` and store its result (exceptions propagate)."""
    result = func(*args, **kwargs)
    if shared.storage.result_shape is not None:
        result = as_row(result, shared.storage.result_shape)
    n_values = len(result) if isinstance(result, tuple) else 1
    shape = None
    spec = shared.storage
    if spec.result_shape is not None:
        first = result[0] if isinstance(result, tuple) else result
        if spec.result_dtype is None:
            check_shape(first, spec.result_shape)
        else:  # fails here, on the worker, if it does not fit result_dtype
            fit_result(first, spec.result_shape, spec.result_dtype)
        shape = np.shape(first)
    if shared.storage.storage in (StorageMode.MEMORY, StorageMode.SINGLE):
        return CallOutcome(index=index, value=result, shape=shape, n_values=n_values)
    path, warning = write_result(result, index, shared.storage)
    return CallOutcome(index=index, path=path, warning=warning, shape=shape,
                       n_values=n_values)


def shared_call(plan: CallPlan, storage: StorageSpec, func_blob: bytes) -> SharedCall:
    """What all calls of ``plan`` share, with the function pickled as ``func_blob``
    (empty for callers that run the function in their own process)."""
    return SharedCall(func_blob, plan.args, plan.kwargs, plan.split_pos, plan.split_kw,
                      plan.pass_task_id, storage, tuple(sys.path))


def shared_value(shared: SharedCall) -> SharedCall:
    """The task that holds a run's :class:`SharedCall` on the cluster (recomputable)."""
    return shared


@dataclass
class _Chunk:
    """Progress of one running chunk in this worker process (guarded by ``_LOCK``)."""

    limit: int                          # calls from this position on are not started
    started: int = 0                    # calls started so far
    index: int = -1                     # the call running now (-1: none)
    since: float = 0.0                  # time.monotonic() when it started
    done: list[CallOutcome] = dataclasses.field(default_factory=list)  # not handed out


@dataclass(frozen=True)
class RunningCall:
    """A call running now in a worker process, as :func:`running_calls` reports it."""

    key: str          # key of its chunk's task
    index: int        # the call
    seconds: float    # how long it has run
    waiting: int      # calls of its chunk queued behind it, or finished and not sent back


_CHUNKS: dict[str, _Chunk] = {}
_CLAIMED: set[str] = set()    # chunks taken back before they started: they run nothing
_FINISHED: collections.deque[str] = collections.deque(maxlen=4096)  # recent chunks
_LOCK = threading.Lock()


class Calls:
    """The ``(index, split values)`` pairs of one chunk, opaque to dask: a plain list as
    a task's argument is walked item by item by ``client.submit`` (looking for futures
    inside), which cost the driver about 50 us per call."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[int, Sequence[Any]]]) -> None:
        self.items = items

    def __getstate__(self) -> list[tuple[int, Sequence[Any]]]:
        return self.items

    def __setstate__(self, items: list[tuple[int, Sequence[Any]]]) -> None:
        self.items = items


def run_chunk(shared: SharedCall, calls: Calls | Sequence[tuple[int, Sequence[Any]]],
              key: str = "") -> list[CallOutcome]:
    """Run ``calls`` (pairs of call index and split values) one after the other.

    While it runs, the driver can see which call runs (:func:`running_calls`) and take
    back the calls queued behind it (:func:`hand_back`); the chunk then returns only the
    outcomes not taken.
    """
    if isinstance(calls, Calls):
        calls = calls.items
    func = load_function(shared.func_blob, shared.sys_path)
    heap = payload_heap() if shared.storage.storage == StorageMode.HDF5 else contextlib.nullcontext()
    state = _Chunk(len(calls))
    with _LOCK:
        if key in _CLAIMED:
            _CLAIMED.discard(key)
            state.limit = 0
        _CHUNKS[key] = state
    try:
        with heap:
            for position, (index, values) in enumerate(calls):
                with _LOCK:
                    if position >= state.limit:
                        break
                    state.started, state.index = position + 1, index
                    state.since = time.monotonic()
                outcome = run_call(func, shared, index, values)
                with _LOCK:
                    state.done.append(outcome)
                    state.index = -1
        with _LOCK:
            done, state.done = Outcomes(state.done), []
        return done
    finally:
        with _LOCK:
            _CHUNKS.pop(key, None)
            _FINISHED.append(key)


def running_calls(prefix: str) -> list[RunningCall]:
    """The calls running now in this process in chunks whose keys start with ``prefix``
    (run by the driver on each worker, outside the task threads)."""
    now = time.monotonic()
    with _LOCK:
        return [RunningCall(key, state.index, now - state.since,
                            state.limit - state.started + len(state.done))
                for key, state in _CHUNKS.items()
                if key.startswith(prefix) and state.index >= 0]


def hand_back(key: str) -> tuple[list[CallOutcome], int] | None:
    """Stop chunk ``key`` after the call it runs now; return the outcomes it finished
    so far (now the driver's) and the position of the first call it will not start
    (0 for a chunk that has not started here: it will run nothing). None if the chunk
    has finished in this process."""
    with _LOCK:
        state = _CHUNKS.get(key)
        if state is None:
            if key in _FINISHED:
                return None
            _CLAIMED.add(key)
            return [], 0
        state.limit = state.started
        done, state.done = state.done, []
        return done, state.limit
