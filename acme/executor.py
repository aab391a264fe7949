"""``acme.Executor``: the standard ``concurrent.futures`` interface on acme's clusters.

Data flow::

    submit(fn, *args) -> ExecutorFuture (pending) and a dask task "<fn>-<uuid>"
                          |                      (futures in args -> their dask futures)
        worker: run_call -+-> log_event(topic, key) --> client: future is RUNNING
                          +-> fn(*args, **kwargs, + init_function's values)
        dask done callback --> future.set_result / set_exception / cancel
    future.cancel() (or shutdown(cancel_futures=True)) --> the dask task is cancelled

A future counts as running from the moment its call starts on a worker (the task reports
it), so ``cancel()`` and ``shutdown(cancel_futures=True)`` behave as for the standard
library's executors: what has not started is cancelled, what runs finishes.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import distributed

from . import clients
from .arguments import func_name
from .options import (
    RunOptions,
    check_bool,
    check_init_function,
    check_int,
    check_threads_per_worker,
    parse_mem_mb,
)
from .worker_init import WorkerInit, fill_arguments, init_values, plugin_name

__all__ = ["Executor", "ExecutorFuture"]

log = logging.getLogger("ACME")


class ExecutorFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """A :class:`concurrent.futures.Future` completed from the dask task of one call."""

    def __init__(self, executor: Executor, task: distributed.Future) -> None:
        super().__init__()
        self._executor = executor
        self._task = task      # kept while this future lives: dependents may need it
        self._claimed = False  # set_running_or_notify_cancel has been called
        self._claim_lock = threading.Lock()

    def _claim(self) -> bool:
        """Move to RUNNING once; False if the future was cancelled first (its waiters
        are then notified, as an executor must)."""
        with self._claim_lock:
            if not self._claimed:
                self._claimed = True
                return self.set_running_or_notify_cancel()
            return self.running()


# -- worker side ----------------------------------------------------------------------
def _started(topic: str, key: str) -> None:
    distributed.get_worker().log_event(topic, key)


def run_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
             init: str | None, topic: str, key: str) -> Any:
    """The task of one submitted call (futures in ``args``/``kwargs`` already resolved)."""
    _started(topic, key)
    if init is not None:
        kwargs = fill_arguments(fn, args, kwargs, init_values(init))
    return fn(*args, **kwargs)


def run_calls(fn: Callable[..., Any], calls: list[tuple[Any, ...]], init: str | None,
              topic: str, key: str) -> list[Any]:
    """The task of one ``map`` chunk: the results of ``fn(*args)`` for each of ``calls``."""
    _started(topic, key)
    values = init_values(init) if init is not None else {}
    return [fn(*args, **fill_arguments(fn, args, {}, values)) for args in calls]


# -- client side ----------------------------------------------------------------------
def _cluster_options(max_workers: Any, n_workers: Any, partition: Any, mem_per_worker: Any,
                     threads_per_worker: Any, init_function: Any, setup_timeout: Any,
                     setup_interactive: Any) -> RunOptions:
    if max_workers is not None:
        if not (isinstance(n_workers, str) and n_workers == "auto"):
            raise TypeError("Give the number of workers either as `max_workers` or as "
                            f"`n_workers`, not both ({max_workers!r} and {n_workers!r})")
        n_workers = max_workers
        name = "max_workers"
    else:
        name = "n_workers"
    if isinstance(n_workers, str):
        if n_workers != "auto":
            raise ValueError(f"`{name}` has to be 'auto' or an integer >= 1, not {n_workers!r}")
    else:
        n_workers = check_int(n_workers, name, minimum=1)
    for key, value in (("partition", partition), ("mem_per_worker", mem_per_worker)):
        if not isinstance(value, str):
            raise TypeError(f"`{key}` has to be a string, not {type(value)}")
    if mem_per_worker != "auto":
        parse_mem_mb(mem_per_worker)
    return RunOptions(
        write_worker_results=False, partition=partition, n_workers=n_workers,
        mem_per_worker=mem_per_worker,
        setup_timeout=check_int(setup_timeout, "setup_timeout", minimum=0),
        setup_interactive=check_bool(setup_interactive, "setup_interactive"),
        threads_per_worker=check_threads_per_worker(threads_per_worker),
        init_function=check_init_function(init_function))


class Executor(concurrent.futures.Executor):
    """Run calls on a dask cluster through the standard ``concurrent.futures`` interface.

    Code written for :class:`concurrent.futures.ProcessPoolExecutor` runs unchanged:
    ``submit``, ``map``, ``shutdown`` and the context manager behave as there, and the
    futures are :class:`concurrent.futures.Future` objects (``wait``, ``as_completed``).
    On top of that, futures of this executor may be passed as arguments (also inside
    lists, tuples and dicts): the call then receives their results, and fails with the
    same exception if one of them failed.

    The cluster is obtained as for :class:`~acme.ParallelMap`: the current default
    ``distributed`` client (or ``client``) if there is one, else SLURM workers when a
    SLURM controller answers, else a local cluster. ``shutdown`` stops only a cluster
    this executor started. The cluster is started by ``with`` or by the first
    ``submit``/``map``, not by the constructor.

    Parameters
    ----------
    max_workers : int, optional
        Number of worker processes (the standard library's name; same as
        ``n_workers``).
    n_workers : int or "auto"
        Number of worker processes (SLURM jobs) of a cluster this executor starts;
        ``"auto"``: one per ``threads_per_worker`` cores locally, a site-dependent
        number of jobs (10 by default) on SLURM.
    partition : str
        SLURM partition (``"auto"``: chosen by ``mem_per_worker``, else the site
        profile's or SLURM's default partition).
    mem_per_worker : str
        Memory per worker, e.g. ``"4GB"`` (``"auto"``: the partition's default).
    threads_per_worker : int
        Threads the numerical libraries (OpenMP, OpenBLAS, MKL, Accelerate, numexpr) use
        in each worker process; a SLURM job requests this many cores. Each worker runs
        one call at a time.
    init_function : callable, optional
        Called once in every worker process (also in workers that join later or
        restart); returns a dict. A call's parameters that it does not give are taken
        from this dict by name; keys the function has no parameter for are ignored.
    setup_timeout : int
        Seconds to wait for the first SLURM worker.
    setup_interactive : bool
        Allow prompts (only on a terminal) when SLURM workers are slow to start.
    client : distributed.Client, optional
        Use this client (and leave it running) instead of looking for one.

    Examples
    --------
    >>> from acme import Executor
    >>> with Executor(max_workers=2) as exe:  # doctest: +SKIP
    ...     exe.submit(sum, [1, 1]).result()
    2
    """

    def __init__(self, max_workers: int | None = None, *, n_workers: int | str = "auto",
                 partition: str = "auto", mem_per_worker: str = "auto",
                 threads_per_worker: int = 1,
                 init_function: Callable[[], dict[str, Any]] | None = None,
                 setup_timeout: int = 60, setup_interactive: bool = True,
                 client: distributed.Client | None = None) -> None:
        self._options = _cluster_options(max_workers, n_workers, partition, mem_per_worker,
                                         threads_per_worker, init_function, setup_timeout,
                                         setup_interactive)
        if client is not None and not isinstance(client, distributed.Client):
            raise TypeError(f"`client` has to be a distributed.Client or None, not "
                            f"{type(client)}")
        self._given_client = client
        self._handle: clients.ClientHandle | None = None
        self._topic = f"acme-executor-{uuid.uuid4().hex[:12]}"
        self._plugin = plugin_name()  # sys.path and init_function on every worker
        self._init = self._plugin if init_function is not None else None
        self._pending: dict[str, ExecutorFuture] = {}
        self._lock = threading.RLock()
        self._shutdown = False

    # -- standard interface -------------------------------------------------------------
    def __enter__(self) -> Executor:
        self.client  # noqa: B018 (start the cluster now, not at the first submit)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # As the standard executors, but Ctrl-C in the block drops the calls not started.
        self.shutdown(wait=True, cancel_futures=exc_type is KeyboardInterrupt)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
               ) -> concurrent.futures.Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; return its future.

        Futures of this executor among the arguments (also inside lists, tuples and
        dicts) are replaced by their results before the call runs.
        """
        if not callable(fn):
            raise TypeError(f"`fn` has to be callable, not {type(fn)}")
        resolved = self._resolve((args, kwargs))
        return self._submit(run_call, fn, resolved[0], resolved[1])

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any],
            timeout: float | None = None, chunksize: int = 1) -> Iterator[Any]:
        """``fn`` over the items of ``iterables``, like the built-in ``map``.

        Every call is scheduled at once; the results come in input order as they are
        available. ``timeout`` (seconds from this call) bounds the wait for each result
        (``TimeoutError``); ``chunksize`` calls run as one task. The first exception of a
        call is raised when its result is reached; leaving the iteration early cancels
        the calls not yet started.
        """
        if isinstance(chunksize, bool) or not isinstance(chunksize, int):
            raise TypeError(f"`chunksize` has to be an integer >= 1, not {type(chunksize)}")
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end = None if timeout is None else timeout + time.monotonic()
        calls = list(zip(*iterables, strict=False))  # like map(): stop at the shortest
        if chunksize == 1:
            futures = [self.submit(fn, *args) for args in calls]
        else:
            futures = [self._submit(run_calls, fn, calls[i:i + chunksize])
                       for i in range(0, len(calls), chunksize)]

        def results() -> Iterator[Any]:
            futures.reverse()
            try:
                while futures:
                    future = futures.pop()
                    value = future.result(None if end is None else end - time.monotonic())
                    if chunksize == 1:
                        yield value
                    else:
                        yield from value
            finally:
                for future in futures:
                    future.cancel()

        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more calls and give the cluster back (stopping it if this executor
        started it) once every scheduled call has finished.

        Parameters
        ----------
        wait : bool
            Return only when the calls have finished and the cluster is stopped; with
            False, a background thread does that.
        cancel_futures : bool
            Cancel every call that has not started yet.
        """
        with self._lock:
            self._shutdown = True
            pending = list(self._pending.values())
        if cancel_futures:
            for future in pending:
                future.cancel()
        if wait:
            try:
                concurrent.futures.wait(pending)
            except BaseException:  # e.g. Ctrl-C while waiting: stop everything, now
                for future in pending:
                    future.cancel()
                    future._task.cancel()
                self._release()
                raise
            self._release()
        else:
            threading.Thread(target=self._release_after, args=(pending,), daemon=True,
                             name="acme-executor-shutdown").start()

    # -- acme additions -----------------------------------------------------------------
    @property
    def client(self) -> distributed.Client:
        """The dask client this executor runs on (starting a cluster if needed)."""
        with self._lock:
            if self._handle is None:
                if self._shutdown:
                    raise RuntimeError("cannot schedule new futures after shutdown")
                self._handle = self._start()
            return self._handle.client

    # -- internals ------------------------------------------------------------------------
    def _start(self) -> clients.ClientHandle:
        if self._given_client is not None:
            handle = clients.ClientHandle(self._given_client, owned=False,
                                          expected_workers=len(self._given_client.nthreads()))
        else:
            handle = clients.acquire_client(self._options, None, None, log)
        try:
            handle.client.subscribe_topic(self._topic, self._on_started)
            handle.client.register_plugin(WorkerInit(self._options.init_function),
                                          name=self._plugin)
        except BaseException:
            if handle.owned:
                clients.shutdown(handle.client)
            raise
        return handle

    def _resolve(self, value: Any) -> Any:
        """``value`` with futures of this executor (in lists, tuples, dicts) replaced by
        their dask futures, which dask replaces by their results."""
        if isinstance(value, ExecutorFuture):
            if value._executor is not self:
                raise TypeError("a future of another acme.Executor cannot be an argument "
                                "here: pass its .result() instead")
            return value._task
        if isinstance(value, concurrent.futures.Future):
            raise TypeError("only futures of this acme.Executor can be arguments of its "
                            "calls, not other concurrent.futures.Future objects: pass "
                            "their .result() instead")
        # Exactly these types: subclasses (named tuples, ordered dicts) pass unchanged.
        if type(value) in (list, tuple):
            return type(value)(self._resolve(item) for item in value)
        if type(value) is dict:
            return {key: self._resolve(item) for key, item in value.items()}
        return value

    def _submit(self, runner: Callable[..., Any], fn: Callable[..., Any], *payload: Any
                ) -> ExecutorFuture:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            client = self.client
            key = f"{func_name(fn)}-{uuid.uuid4().hex}"
            task = client.submit(runner, fn, *payload, self._init, self._topic, key,
                                 key=key, pure=False)
            future = ExecutorFuture(self, task)
            self._pending[key] = future
        future.add_done_callback(self._on_future_done)
        task.add_done_callback(lambda task: self._complete(key, future, task))
        return future

    def _on_started(self, event: tuple[float, str]) -> None:
        # In the client's event loop: only local state changes here, no client calls.
        future = self._pending.get(event[1])
        if future is not None:
            future._claim()

    def _on_future_done(self, future: concurrent.futures.Future[Any]) -> None:
        assert isinstance(future, ExecutorFuture)
        if future.cancelled():  # by the user, shutdown or map: drop the task too
            future._claim()
            future._task.cancel()

    def _complete(self, key: str, future: ExecutorFuture, task: distributed.Future) -> None:
        """Complete ``future`` from its finished, failed or cancelled dask task (runs in
        distributed's callback thread)."""
        if task.status in ("pending", "lost"):
            # Done, then lost with its worker before this ran: dask computes it again;
            # a dask future reports its completion only once, so listen again.
            task.add_done_callback(lambda task: self._complete(key, future, task))
            return
        with self._lock:
            self._pending.pop(key, None)
        if task.status == "finished":
            try:
                value = task.result()
            except BaseException as err:  # e.g. the result cannot be unpickled here
                if future._claim():
                    future.set_exception(err)
            else:
                if future._claim():
                    future.set_result(value)
        elif task.status == "error":
            exc = task.exception()
            if future._claim():
                future.set_exception(exc.with_traceback(task.traceback()))
        elif not future.cancel():  # cancelled on the cluster (e.g. a client restart)
            if future._claim():
                future.set_exception(concurrent.futures.CancelledError(
                    f"the dask task {key!r} of this call was cancelled on the cluster"))

    def _release_after(self, pending: list[ExecutorFuture]) -> None:
        concurrent.futures.wait(pending)
        self._release()

    def _release(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is None:
            return
        if handle.owned:
            clients.shutdown(handle.client)
        elif handle.client.status == "running":  # not closed by its owner meanwhile
            handle.client.unsubscribe_topic(self._topic)
            handle.client.unregister_worker_plugin(self._plugin)
