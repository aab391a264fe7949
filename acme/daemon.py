"""ACME's ``ACMEdaemon`` surface, kept for code written against ACME.

Syncopy and ACME's own tests reach past ``ParallelMap`` into ACME's internal daemon:
``pmap.daemon.client``, ``pmap.daemon.config.output_dir``, ``pmap.daemon.compute(...)``,
``pmap.kwargv[...] = [value]`` and the like. This module answers those names as a thin
facade over the :class:`~acme.ParallelMap` itself; it holds no run logic of its own:

* :class:`ACMEdaemon` (``pmap.daemon``): ``client``, ``config``, ``results_container``,
  ``compute(debug=...)``, ``cleanup()``;
* :class:`DaemonConfig` (``pmap.config``, ``pmap.daemon.config``): the run's settings under
  ACME's names, read-only except ``client``;
* :class:`ACMECompat`, the base class of ``ParallelMap`` that provides ``daemon``,
  ``config``, ``argv`` and ``kwargv`` and applies edits of ``argv``/``kwargv`` when the run
  starts.

``argv``/``kwargv`` use ACME's layout: one list per argument, holding either one value per
call (the argument is split) or a single element (its value is passed to every call).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import distributed
import numpy as np

from . import clients
from .arguments import CallPlan
from .log import get_logger
from .options import RunOptions
from .storage.paths import auto_dir_name

if TYPE_CHECKING:
    from .pmap import _Run

__all__ = ["ACMEdaemon", "ACMECompat", "DaemonConfig", "plan_from_views"]


def argument_views(plan: CallPlan) -> tuple[list[Any], dict[str, Any]]:
    """ACME's ``argv``/``kwargv`` of ``plan``: per-call values, or ``[value]`` for a value
    passed to every call."""
    split = dict(zip([*plan.split_pos, *plan.split_kw], plan.split_values, strict=True))
    argv = [split[i] if i in split else [arg] for i, arg in enumerate(plan.args)]
    kwargv = {k: split[k] if k in split else [v] for k, v in plan.kwargs.items()}
    return argv, kwargv


def _entry(value: Any, n_calls: int, name: str) -> tuple[bool, Any]:
    """``(split, value)`` for one ``argv``/``kwargv`` entry."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return False, value[0]
    if isinstance(value, (list, tuple)) and len(value) == n_calls:
        return True, value
    if isinstance(value, np.ndarray) and value.squeeze().ndim <= 1 and value.size == n_calls:
        return True, value
    length = len(value) if isinstance(value, (list, tuple)) else None
    raise ValueError(
        f"`{name}` has to be a list of {n_calls} values (one per call) or a one-element "
        f"list holding a value passed to every call, not {type(value).__name__}"
        + (f" of length {length}" if length is not None else ""))


def plan_from_views(plan: CallPlan, argv: list[Any], kwargv: dict[str, Any]) -> CallPlan:
    """``plan`` with the split/broadcast layout given by (possibly edited) ACME-style
    ``argv``/``kwargv``.

    Raises
    ------
    ValueError
        If an entry is neither ``n_calls`` per-call values nor a one-element list, or if
        arguments were added or removed.
    """
    if len(argv) != len(plan.args):
        raise ValueError(f"`argv` has to keep its {len(plan.args)} entries, found {len(argv)}")
    if set(kwargv) != set(plan.kwargs):
        raise ValueError(f"`kwargv` has to keep its keys {sorted(plan.kwargs)}, found "
                         f"{sorted(kwargv)}")
    args: list[Any] = []
    split_pos: list[int] = []
    split_kw: list[str] = []
    pos_values: list[Any] = []
    kw_values: list[Any] = []
    for i, value in enumerate(argv):
        split, value = _entry(value, plan.n_calls, f"argv[{i}]")
        args.append(None if split else value)
        if split:
            split_pos.append(i)
            pos_values.append(value)
    kwargs: dict[str, Any] = {}
    for key in plan.kwargs:  # keep the original keyword order
        split, value = _entry(kwargv[key], plan.n_calls, f"kwargv[{key!r}]")
        kwargs[key] = None if split else value
        if split:
            split_kw.append(key)
            kw_values.append(value)
    return dataclasses.replace(plan, args=tuple(args), kwargs=kwargs,
                               split_pos=tuple(split_pos), split_kw=tuple(split_kw),
                               split_values=tuple(pos_values + kw_values))


class ACMECompat:
    """ACME's attributes of ``ParallelMap`` (``daemon``, ``config``, ``argv``, ``kwargv``).

    Base class of :class:`~acme.ParallelMap`; the state lives on the instance.
    """

    # Provided by ParallelMap.
    options: RunOptions
    plan: CallPlan
    n_inputs: int
    results_container: str | None
    _run: _Run | None

    def _init_compat(self) -> None:
        self._views: tuple[list[Any], dict[str, Any]] | None = None
        self._daemon: ACMEdaemon | None = None
        self._pending_client: clients.ClientHandle | None = None
        self._client_removed = False
        self._planned_dir: Path | None = None
        self._used_client: clients.ClientHandle | None = None  # the last run's

    # -- ACME's attributes ------------------------------------------------------------
    @property
    def daemon(self) -> ACMEdaemon:
        """ACME's daemon object (a facade over this ``ParallelMap``)."""
        if self._daemon is None:
            self._daemon = ACMEdaemon(self)
        return self._daemon

    @property
    def config(self) -> DaemonConfig:
        """ACME's ``config``: the run's settings under ACME's names."""
        return self.daemon.config

    @property
    def argv(self) -> list[Any]:
        """Positional arguments in ACME's layout; edits before the run starts take effect."""
        return self._argument_views()[0]

    @property
    def kwargv(self) -> dict[str, Any]:
        """Keyword arguments in ACME's layout; edits before the run starts take effect."""
        return self._argument_views()[1]

    # -- hooks used by ParallelMap ----------------------------------------------------
    def _argument_views(self) -> tuple[list[Any], dict[str, Any]]:
        if self._views is None:
            self._views = argument_views(self.plan)
        return self._views

    def _apply_argument_edits(self) -> None:
        """Rebuild the plan from ``argv``/``kwargv`` if code has looked at (or edited) them."""
        if self._views is not None:
            self.plan = plan_from_views(self.plan, *self._views)
            if self.plan.split_pos or self.plan.split_kw:
                get_logger().debug("Argument layout after edits of argv/kwargv: split %s",
                                   [*self.plan.split_pos, *self.plan.split_kw])

    def _output_dir_for_run(self, now: datetime) -> Path:
        """The directory a run writes to (an auto name is fixed once it has been shown)."""
        if self.options.output_dir is not None:
            return self.options.output_dir
        if self._planned_dir is None:
            self._planned_dir = Path.cwd() / auto_dir_name(now)
        return self._planned_dir

    def _take_pending_client(self) -> clients.ClientHandle | None:
        handle, self._pending_client = self._pending_client, None
        return handle

    def _client_for_run(self, handle: clients.ClientHandle) -> clients.ClientHandle:
        """Remember the client a run uses: ``config.client`` still names it afterwards
        (a new cluster is never started by looking at a finished run)."""
        self._used_client = handle
        return handle

    def _ready_to_compute(self) -> bool:
        """False if ACME code removed the run's client (``config.client = None``): ACME's
        ``compute`` then does nothing and returns ``None``. Raises ``RuntimeError`` if a
        client obtained through ``daemon.client`` has no workers left."""
        if self._client_removed:
            get_logger().warning("No client: `config.client` was set to None, nothing is "
                                 "computed")
            return False
        if self._pending_client is not None:
            clients.check_usable(self._pending_client.client)
        return True

    # -- client access for the daemon -------------------------------------------------
    def _current_handle(self) -> clients.ClientHandle | None:
        if self._run is not None and self._run.client is not None:
            return self._run.client
        return self._pending_client or self._used_client

    def _obtain_client(self) -> distributed.Client:
        handle = self._current_handle()
        if handle is None:
            run = self._run
            log_dir = run.paths.output_dir if run is not None and run.paths else None
            handle = clients.acquire(self.options, self.plan, log_dir, get_logger())
            if run is not None:
                run.client = self._client_for_run(handle)
            else:
                self._pending_client = handle
        self._client_removed = False
        return handle.client

    def _set_client(self, client: distributed.Client | None) -> None:
        if client is None:
            self._pending_client = None
            self._client_removed = True
            return
        if not isinstance(client, distributed.Client):
            raise TypeError(f"`client` has to be a distributed.Client or None, not "
                            f"{type(client)}")
        handle = clients.ClientHandle(client, owned=False,
                                      expected_workers=len(client.nthreads()))
        if self._run is not None and self._run.client is None:
            self._run.client = self._client_for_run(handle)
        else:
            self._pending_client = handle
        self._client_removed = False


class DaemonConfig:
    """ACME's ``config`` object: the settings of one run under ACME's names.

    Every ``ParallelMap`` keyword is readable under its own name (``config.result_shape``,
    ``config.partition``, ...); the values below are derived. Only ``client`` can be set.
    """

    __slots__ = ("_pmap",)

    def __init__(self, pmap: ACMECompat) -> None:
        object.__setattr__(self, "_pmap", pmap)

    @property
    def output_dir(self) -> str | None:
        """The run's output directory (``None`` when results are collected in memory).
        An auto-named directory is named when first asked for, and created when the
        run starts."""
        pmap = self._pmap
        if not pmap.options.write_worker_results:
            return None
        return str(pmap._output_dir_for_run(datetime.now()))

    @property
    def client(self) -> distributed.Client | None:
        """The run's client: attaches to the default client or starts a cluster on first
        access, as ACME did when it constructed a ``ParallelMap``."""
        if self._pmap._client_removed:
            return None
        return self._pmap._obtain_client()

    @client.setter
    def client(self, client: distributed.Client | None) -> None:
        self._pmap._set_client(client)

    @property
    def collect_results(self) -> bool:
        """Always ``True``: results are written or returned in every mode."""
        return True

    @property
    def n_calls(self) -> int:
        return self._pmap.plan.n_calls

    @property
    def n_inputs(self) -> int:
        return self._pmap.plan.n_calls

    @property
    def n_workers(self) -> int | str:
        """The number of workers of the run's client once it has one, else the keyword."""
        handle = self._pmap._current_handle()
        if handle is not None:
            return len(handle.client.nthreads())
        return self._pmap.options.n_workers

    @property
    def func(self) -> Any:
        return self._pmap.plan.func

    @property
    def argv(self) -> list[Any]:
        return self._pmap.argv

    @property
    def kwargv(self) -> dict[str, Any]:
        return self._pmap.kwargv

    @property
    def results_container(self) -> str | None:
        return self._pmap.results_container

    def __getattr__(self, name: str) -> Any:
        options = object.__getattribute__(self, "_pmap").options
        if name in {f.name for f in dataclasses.fields(RunOptions)}:
            value = getattr(options, name)
            return str(value) if isinstance(value, Path) else value
        raise AttributeError(f"ACME's config has no attribute {name!r} here")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "client":
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"config.{name} is read-only: pass `{name}` to ParallelMap")

    def __repr__(self) -> str:
        return f"<ACME config of {self._pmap!r}>"


class ACMEdaemon:
    """ACME's daemon of a ``ParallelMap``, kept for code that reaches into it.

    Parameters
    ----------
    pmap : ParallelMap
        The ``ParallelMap`` this daemon speaks for.

    Raises
    ------
    TypeError
        If ``pmap`` is not a ``ParallelMap`` (ACME's message).
    """

    __slots__ = ("_pmap", "config")

    def __init__(self, pmap: Any) -> None:
        if not isinstance(pmap, ACMECompat):
            raise TypeError(f"`pmap` has to be a `ParallelMap` instance, not {type(pmap)}")
        self._pmap = pmap
        self.config = DaemonConfig(pmap)

    @property
    def client(self) -> distributed.Client | None:
        """See :attr:`DaemonConfig.client`."""
        return self.config.client

    @property
    def results_container(self) -> str | None:
        return self._pmap.results_container

    def compute(self, debug: bool = False) -> Any:
        """``ParallelMap.compute(debug=debug)``."""
        return self._pmap.compute(debug=debug)  # type: ignore[attr-defined]

    def cleanup(self) -> None:
        """Give the client back as ``stop_client`` says (what leaving ``with`` does)."""
        pmap = self._pmap
        if pmap._run is not None:
            pmap.__exit__(None, None, None)  # type: ignore[attr-defined]
            return
        handle = pmap._take_pending_client()
        if handle is not None:
            clients.release(handle, pmap.options.stop_client, failed=False)

    def __repr__(self) -> str:
        return f"<ACMEdaemon of {self._pmap!r}>"

