"""``init_function``: set-up run once in every worker process, whose values fill calls.

``init_function()`` runs once in each dask worker process, also in workers that join
later or restart (a ``distributed.WorkerPlugin`` registered with the client does that),
and returns a dict. A call's parameters that the call does not give are then taken from
that dict by name; keys the function has no parameter for are ignored (pympipool's rule).
A call outside any dask worker (``ParallelMap``'s debug mode and dry run) runs
``init_function`` once per :class:`InitFilled` object instead.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

import cloudpickle
import distributed

__all__ = ["WorkerInit", "InitFilled", "fill_arguments", "init_values", "plugin_name"]

_FILLABLE = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def plugin_name() -> str:
    """A fresh name for one run's or one executor's :class:`WorkerInit`."""
    return f"acme-init-{uuid.uuid4().hex[:12]}"


def _call_init(init: Callable[[], Any] | bytes) -> dict[str, Any]:
    init_function = cloudpickle.loads(init) if isinstance(init, bytes) else init
    values = init_function()
    if not isinstance(values, dict):
        raise TypeError(f"`init_function` has to return a dict of parameter values, not "
                        f"{type(values)}")
    return values


class WorkerInit(distributed.WorkerPlugin):
    """Prepares a worker process for a run's or an executor's calls: adds the caller's
    ``sys.path`` (so that what the caller imports by reference unpickles there, as on
    SLURM workers started elsewhere), then runs ``init_function`` (if any) and keeps its
    dict, or its error.

    An exception of ``init_function`` does not stop the worker: every call that needs
    the values raises it instead, so the failure shows on the futures.
    """

    def __init__(self, init_function: Callable[[], Any] | None,
                 sys_path: tuple[str, ...] | None = None) -> None:
        # Pickled here, unpickled once sys.path is extended on the worker.
        self.init_blob = None if init_function is None else cloudpickle.dumps(init_function)
        self.sys_path = tuple(sys.path) if sys_path is None else sys_path
        self.values: dict[str, Any] | None = None
        self.error: BaseException | None = None

    async def setup(self, worker: distributed.Worker) -> None:
        for entry in self.sys_path:
            if entry not in sys.path:
                sys.path.append(entry)
        if self.init_blob is None:
            self.values = {}
            return
        # In a thread: a slow set-up (loading a data set) must not stall the worker's
        # event loop (heartbeats). The worker takes tasks only once this has returned.
        try:
            self.values = await asyncio.get_running_loop().run_in_executor(
                None, _call_init, self.init_blob)
        except Exception as err:
            self.error = err

    def teardown(self, worker: distributed.Worker) -> None:
        self.values = None


def init_values(name: str) -> dict[str, Any]:
    """The dict ``init_function`` returned in this worker process."""
    worker = distributed.get_worker()
    plugin = worker.plugins.get(name)
    if not isinstance(plugin, WorkerInit):
        raise RuntimeError(f"`init_function` has not been set up on worker {worker.address} "
                           f"(no worker plugin {name!r})")
    if plugin.error is not None:
        raise plugin.error
    assert plugin.values is not None
    return plugin.values


def fill_arguments(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                   values: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` plus every entry of ``values`` naming a parameter of ``func`` that
    ``args`` and ``kwargs`` leave unset (positional-only and ``*``/``**`` parameters are
    never filled)."""
    if not values:
        return kwargs
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # no signature (some builtins): nothing to fill
        return kwargs
    n_positional = len(args)
    filled = dict(kwargs)
    for i, param in enumerate(params):
        if param.kind == inspect.Parameter.VAR_POSITIONAL:
            n_positional = i  # everything from here on is taken by *args
        given = param.name in kwargs or (
            i < n_positional and param.kind != inspect.Parameter.KEYWORD_ONLY)
        if param.kind in _FILLABLE and not given and param.name in values:
            filled[param.name] = values[param.name]
    return filled


class InitFilled:
    """``func`` with its unset parameters filled from ``init_function`` (for ParallelMap).

    Its signature is ``func``'s with a default for every fillable parameter, so that
    argument checks before the run accept calls that leave them to ``init_function``.
    """

    def __init__(self, func: Callable[..., Any], init_function: Callable[[], Any],
                 name: str) -> None:
        self.func = func
        self.init_function = init_function
        self.name = name
        self.__name__ = getattr(func, "__name__", type(func).__name__)
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)
        self.__doc__ = getattr(func, "__doc__", None)
        self._local: dict[str, Any] | None = None
        self._lock = threading.Lock()
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):
            return
        self.__signature__ = signature.replace(parameters=[
            p.replace(default=None) if p.kind in _FILLABLE and p.default is p.empty else p
            for p in signature.parameters.values()])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_local"], state["_lock"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _values(self) -> dict[str, Any]:
        try:
            distributed.get_worker()
        except ValueError:  # not in a dask worker: this process's own, once
            with self._lock:
                if self._local is None:
                    self._local = _call_init(self.init_function)
                return self._local
        return init_values(self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **fill_arguments(self.func, args, kwargs, self._values()))

    def register(self, client: distributed.Client) -> None:
        """Run ``init_function`` on the workers of ``client``, present and future."""
        client.register_plugin(WorkerInit(self.init_function), name=self.name)

    def unregister(self, client: distributed.Client) -> None:
        """Remove it again (from a client that stays running)."""
        if client.status == "running":
            client.unregister_worker_plugin(self.name)
