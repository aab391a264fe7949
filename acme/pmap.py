"""``ParallelMap``: the user-facing context manager.

Lifecycle: the constructor only validates (no I/O); entering the context creates the
output directory and the run's log; :meth:`ParallelMap.compute` runs the pipeline of
:mod:`acme.pipeline` (store and record, a backend runs the calls, the container is
finished, the results are returned); leaving the context gives the client back.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from . import clients, dryrun
from ._version import __version__
from .arguments import CallPlan, describe_plan, func_name, plan_calls, size_mb
from .backends import Backend, DaskBackend, SequentialBackend
from .checkpoint import open_record
from .cleanup import cleanup_for_run
from .daemon import ACMECompat
from .lazy import LazyCosts
from .log import RunLog
from .options import RunOptions, check_bool, check_int, validate_options
from .paramstore import GridAxes, check_grid, check_names, grid_shape, write_params
from .pipeline import conclude, run_calls
from .record import find_record, lazy_arguments, load_inputs, read_record, record_path
from .resume import check_resume, prior_outcomes, remove_temporaries, resume_line
from .storage.paths import RunPaths
from .storage.store import ResultStore, create_output_dirs, describe_storage, remove_created
from .tasks import CallOutcome, SharedCall, shared_call
from .worker_init import InitFilled, plugin_name

__all__ = ["ParallelMap", "resume_run"]


class _Run:
    """State of one entered ParallelMap (created on enter, dropped on exit)."""

    def __init__(self, paths: RunPaths | None, runlog: RunLog, started: float) -> None:
        self.paths = paths
        self.runlog = runlog
        self.started = started
        self.client: clients.ClientHandle | None = None
        self.declined = False  # the user answered "n" after the dry run
        self.created: list[Path] = []  # removed again if the run computes nothing
        self.recorded = False  # the run record exists


class ParallelMap(ACMECompat):
    """Call ``func`` once per input, in parallel, and keep every result.

    Parameters
    ----------
    func : callable
        The function to run. If it accepts a ``taskID`` keyword, it receives the 0-based
        index of each call.
    *args
        Positional arguments of ``func``. Lists, tuples, ranges and 1-D arrays of length
        ``n_inputs`` are split across the calls; everything else is passed whole to
        every call (broadcast). Or a single parameter space (:class:`~acme.Param`): one
        call ``func(**assignment, **kwargs)`` per assignment, keywords passed whole,
        and the parameters stored in the container (see the "Parameter spaces" page).
    n_inputs : int or "auto"
        Number of calls. ``"auto"`` infers it from the arguments; an explicit value
        broadcasts every argument of another length (e.g. to repeat identical calls),
        and splits every iterator or other iterable without a length, whose items are
        then read as the calls are sent (see "Inputs read lazily" in the docs).
    write_worker_results : bool
        Write each call's result to disk (default) or collect the results in memory.
    output_dir : str or None
        Directory of the results; default: a new ``ACME_YYYYMMDD-hhmmss-ffffff`` folder in
        the current working directory.
    result_shape : tuple or None
        Stack the first return value of all calls into one dataset of this shape; exactly
        one ``None`` marks the stacking dimension, at most one ``np.inf`` an unlimited one.
    result_dtype : str
        NumPy dtype of the ``result_shape`` dataset.
    result_grid : bool
        With a product space (``Param(a=...) * Param(b=...)``) and ``result_shape``:
        replace the stacking dimension by one axis per parameter, labelled with its
        values (``result_0`` of shape ``(len(a), len(b), ...)``).
    single_file : bool
        Write every result into the one container file instead of per-call payloads.
    write_pickle : bool
        Pickle each result (``<func>_<i>.pickle``) instead of writing HDF5.
    partition : str
        SLURM partition of a cluster this run starts; ``"auto"`` picks the smallest
        partition with enough memory for the estimated need.
    n_workers : int or "auto"
        Number of workers of a cluster this run starts (``"auto"``: one per core
        locally; a bounded number on SLURM, never one job per input).
    mem_per_worker : str
        Memory per worker of a cluster this run starts, e.g. ``"4GB"``.
    setup_timeout : int
        Seconds to wait for SLURM workers to start, and the longest a run waits while no
        worker is available (lost or paused workers) before the calls not finished fail
        with ``NoWorkerError`` (see "When no worker is available" in the docs).
    setup_interactive : bool
        Allow prompts (only ever shown when standard input is a terminal).
    stop_client : "auto" or bool
        ``"auto"``: stop a client this run started, keep one it attached to.
    verbose : bool or None
        ``None``: INFO messages, ``True``: DEBUG, ``False``: warnings only.
    dryrun : bool
        Run one call first and report its time and memory.
    logfile : None, bool or str
        ``None``: a log file in the output directory when results are written; ``True``
        or ``False`` force one or none; a string is the log file's path.
    cleanup_threshold_days : int or None
        Remove auto-named ``ACME_*`` output directories older than this many days.
    processes_per_worker : int
        Single-threaded dask worker processes per SLURM job of a cluster this run
        starts; each job gets as many cores and that many times the memory of one
        worker, so fewer jobs carry the same workers (``n_workers`` counts jobs).
    threads_per_worker : int
        Threads the numerical libraries (OpenMP, OpenBLAS, MKL, ...) use in each worker
        process of a cluster this run starts; a SLURM job requests this many cores.
    init_function : callable, optional
        Called once in every worker process; returns a dict whose entries fill the
        parameters of ``func`` that a call does not give (see :class:`~acme.Executor`).
    resume : bool
        Finish the earlier run in ``output_dir``: run only its calls that are not done
        (failed, interrupted or never run), in the same directory and container. Refused
        before any work if ``output_dir`` holds no run of ``func``
        (``FileNotFoundError``) or if the function or an argument differs from the
        recorded run (``ValueError`` naming the first differing call and argument).
    retries : int
        Run a failing call up to this many more times (default 0).
    call_cost : sequence, callable or None
        The expected cost of each call (any non-negative numbers, e.g. seconds): one per
        call, or a function called with each call's arguments that returns it. The
        most expensive calls run first; results are returned and stored in call order.
    call_timeout : float or None
        Seconds a call may run: a call running longer fails with ``TimeoutError`` and
        its worker process is restarted, so the run ends (default None: no limit; a
        call far slower than its peers holds up only itself either way).
    **kwargs
        Keyword arguments of ``func``, split or broadcast like ``*args``.

    Attributes
    ----------
    results_container : str or None
        Path of the results container ``<output_dir>/<func>.h5``, set when the ``with``
        block is entered (or :meth:`compute` starts); ``None`` before that, and in the
        modes without a container (results in memory, ``write_pickle=True``).
    n_inputs : int
        Number of calls.
    options : RunOptions
        The validated keywords of this run.

    Examples
    --------
    >>> def f(x, y, z=3):
    ...     return (x + y) * z
    >>> with ParallelMap(f, [2, 4, 6, 8], 4, write_worker_results=False) as pmap:  # doctest: +SKIP
    ...     results = pmap.compute()
    >>> results  # doctest: +SKIP
    [18, 24, 30, 36]
    """

    #: Arguments larger than this many MB trigger a warning (ACME's limit).
    _maxArgSize = 1024

    def __init__(self, func: Callable[..., Any], *args: Any, n_inputs: int | str = "auto",
                 write_worker_results: bool = True, output_dir: str | None = None,
                 result_shape: tuple[Any, ...] | None = None, result_dtype: str = "float",
                 result_grid: bool = False, single_file: bool = False, write_pickle: bool = False,
                 partition: str = "auto", n_workers: int | str = "auto",
                 mem_per_worker: str = "auto", setup_timeout: int = 60,
                 setup_interactive: bool = True, stop_client: bool | str = "auto",
                 verbose: bool | None = None, dryrun: bool = False,
                 logfile: bool | str | None = None,
                 cleanup_threshold_days: int | None = None, processes_per_worker: int = 1,
                 threads_per_worker: int = 1,
                 init_function: Callable[[], dict[str, Any]] | None = None,
                 resume: bool = False, retries: int = 0,
                 call_timeout: float | None = None,
                 call_cost: Sequence[float] | Callable[..., float] | None = None,
                 **kwargs: Any) -> None:
        options, notes = validate_options(
            write_worker_results=write_worker_results, output_dir=output_dir,
            result_shape=result_shape, result_dtype=result_dtype, single_file=single_file,
            write_pickle=write_pickle, partition=partition, n_workers=n_workers,
            mem_per_worker=mem_per_worker, setup_timeout=setup_timeout,
            setup_interactive=setup_interactive, stop_client=stop_client, verbose=verbose,
            dryrun=dryrun, logfile=logfile, cleanup_threshold_days=cleanup_threshold_days,
            processes_per_worker=processes_per_worker,
            threads_per_worker=threads_per_worker, init_function=init_function)
        if options.init_function is not None and callable(func):
            func = InitFilled(func, options.init_function, plugin_name())
        check_bool(resume, "resume")
        self.retries = check_int(retries, "retries", minimum=0)
        self.call_timeout = _check_timeout(call_timeout)
        plan = plan_calls(func, args, kwargs, n_inputs)
        if plan.space is not None and options.storage.has_container:
            check_names(plan.space)
        grid_axes: GridAxes | None = None
        if check_bool(result_grid, "result_grid"):
            if options.result_shape is None and result_shape is not None:
                notes.append("`result_shape` is ignored, and with it `result_grid`")
            else:
                grid_axes = check_grid(plan.space, options.result_shape)
        self._grid_axes = grid_axes
        # The record of an earlier run, checked before anything is created.
        self.call_cost = _call_costs(call_cost, plan)
        self._prior = check_resume(options, plan, n_inputs) if resume else None
        self._given = (args, kwargs, n_inputs)  # stored with the record, to run it again
        self.options: RunOptions = options
        self.plan: CallPlan = plan
        self.func = func
        self.n_inputs = plan.n_calls
        self.results_container: str | None = None
        self._notes = notes + list(plan.notes) + self._size_notes(args, kwargs)
        self._run: _Run | None = None
        self._computed = False
        self._init_compat()  # ACME's daemon/config/argv/kwargv (acme.daemon)
        if options.output_dir is not None and options.write_worker_results and not resume:
            existing = self._paths(options.output_dir).existing_results()
            existing += [p for p in [record_path(options.output_dir, self.func_name)]
                         if p.exists()]
            if existing:
                raise FileExistsError(
                    f"`output_dir` {options.output_dir} already holds results of "
                    f"{self.func_name} ({existing[0].name}); choose a new directory: "
                    "results are never overwritten")

    # -- properties -------------------------------------------------------------------
    @property
    def func_name(self) -> str:
        return func_name(self.func)

    @property
    def output_dir(self) -> str | None:
        """The run's output directory (known once the run has started)."""
        if self._run is not None and self._run.paths is not None:
            return str(self._run.paths.output_dir)
        return None

    # -- context manager --------------------------------------------------------------
    def __enter__(self) -> ParallelMap:
        """Create the output directory and the run's log; return this ``ParallelMap``."""
        self._open()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Close the run's log and stop a client this run started (see ``stop_client``)."""
        self._close(failed=exc_type is not None)

    # -- public -----------------------------------------------------------------------
    def compute(self, debug: bool = False, chunk_size: int | None = None) -> Any:
        """Run all calls and return the results.

        Parameters
        ----------
        debug : bool
            Run every call one after the other in this process, without any cluster,
            so that ``pdb``/``breakpoint()`` work and exceptions propagate unchanged.
        chunk_size : int or None
            Calls per dask task; default: a few chunks per worker thread.

        Returns
        -------
        list
            Depends on the storage mode (see the "Results" page of the docs):

            * default and ``result_shape``: the path of each call's payload, in call
              order: ``<func>_payload/<func>_<i>.h5``, or ``<func>_payload/<func>_<i>.pickle``
              for a call whose result HDF5 cannot hold (``None`` for a failed call);
            * ``write_pickle=True``: the path of each call's ``<func>_<i>.pickle``;
            * ``single_file=True``: ``[container]``;
            * in memory (``write_worker_results=False``): the return values in call
              order;
            * in memory with ``result_shape``: the array of the first return values,
              stacked in ``result_shape`` and ``result_dtype`` (as ACME returns it); if the
              function returns more values, ``[array, extras]`` where ``extras[i]`` is
              the tuple of the further return values of call ``i`` (``None`` for a
              failed call). With ``result_grid=True`` the array has one axis per
              parameter in place of the stacking dimension.

        Raises
        ------
        ParallelMapError
            If any call raised; every other result is stored (and in ``.results``).
        """
        try:
            check_bool(debug, "debug")
            if chunk_size is not None:
                chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
        except (TypeError, ValueError):
            if not self._computed:  # a run entered for nothing leaves nothing on disk
                self._abandon()
            raise
        if self._computed:
            raise RuntimeError("compute() already ran for this ParallelMap; create a new "
                               "ParallelMap to run again (results are never overwritten)")
        if not self._ready_to_compute():
            return None
        standalone = self._run is None
        if self._run is None:
            self._open()
        else:  # entered in another thread, perhaps: this thread's lines go to its log
            self._run.runlog.adopt_thread()
        failed = True
        try:
            self._apply_argument_edits()  # argv/kwargv edited inside the with block
            self._computed = True
            result = self._compute(debug, chunk_size)
            failed = False
            return result
        finally:
            if standalone:
                self._close(failed)

    # -- internals --------------------------------------------------------------------
    def _paths(self, output_dir: Path) -> RunPaths:
        return RunPaths(output_dir, self.func_name, self.options.storage)

    def _size_notes(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
        notes = []
        for value in list(args) + list(kwargs.values()):
            size = size_mb(value)
            if size > self._maxArgSize:
                notes.append(f"argument size {size:4.2f} MB exceeds recommended limit of "
                             f"{self._maxArgSize} MB. Distributing large variables across "
                             "workers may result in poor performance.")
        return notes

    def _open(self) -> None:
        if self._run is not None:
            raise RuntimeError("this ParallelMap is already running")
        self._apply_argument_edits()
        opts = self.options
        now = datetime.now()
        paths = None
        created: list[Path] = []  # removed again if the run ends before it starts
        if opts.write_worker_results:
            paths = self._paths(self._output_dir_for_run(now))
            created += create_output_dirs(paths, exist_ok=opts.output_dir is not None)
        logfile: Path | None
        if isinstance(opts.logfile, Path):
            logfile = opts.logfile
        elif opts.logfile is False or (opts.logfile is None and paths is None):
            logfile = None
        elif paths is not None:
            logfile = paths.default_logfile(now)
        else:
            logfile = Path.cwd() / f"ACME_{self.func_name}_{now:%Y%m%d-%H%M%S}.log"
        if logfile is not None and not logfile.exists():
            created.append(logfile)
        runlog = RunLog(opts.verbose, logfile)
        self._run = _Run(paths, runlog, time.perf_counter())
        log = runlog.logger
        log.info("This is ACME v. %s", __version__)
        for note in self._notes:
            log.warning(note)
        if paths is not None and paths.container is not None:
            self.results_container = str(paths.container)
        self._run.created = created
        # Old auto-named directories, then the dry run. A run that ends here (an
        # exception, or "n" after the dry run) leaves nothing on disk.
        interactive = dryrun.is_interactive(opts.setup_interactive)
        try:
            cleanup_for_run(opts.cleanup_threshold_days, paths.output_dir if paths else None,
                            auto_named=opts.output_dir is None, interactive=interactive,
                            log=log)
            go_on = not opts.dryrun or dryrun.run_dryrun(self, log, interactive)
        except BaseException:
            self._abandon()
            raise
        if not go_on:  # compute() returns None; messages go to the console only
            self._abandon()
            self._run = _Run(None, RunLog(opts.verbose, None), time.perf_counter())
            self._run.declined = True

    def _abandon(self) -> None:
        """End an entered run that has computed nothing, removing what it created."""
        run, self._run, self.results_container = self._run, None, None
        if run is not None:
            run.runlog.close()
            remove_created(run.created)

    def _close(self, failed: bool) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        try:
            if run.client is not None:
                try:
                    if isinstance(self.func, InitFilled):
                        self.func.unregister(run.client.client)
                finally:
                    clients.release(run.client, self.options.stop_client, failed)
        except Exception as err:
            if not failed:
                raise
            # The error that ended the run is the one the user needs to see.
            run.runlog.logger.warning("Could not release the client after the failed run: "
                                      "%s: %s", type(err).__name__, err)
        finally:
            if run.recorded and run.paths is not None:
                run.runlog.logger.info("To resume this run: %s",
                                       resume_line(run.paths.output_dir))
            run.runlog.close()  # never raises (a log file on a full disk)

    def _compute(self, debug: bool, chunk_size: int | None) -> Any:
        """The run pipeline (see :mod:`acme.pipeline`): store, record, backend, finish."""
        run = self._run
        assert run is not None
        log = run.runlog.logger
        if run.declined:
            log.info("Nothing computed: the run was declined after its dry run")
            return None
        started = time.perf_counter()
        opts, plan, paths = self.options, self.plan, run.paths
        log.debug("%s", describe_plan(plan))
        grid = grid_shape(self._grid_axes)
        extra = None if plan.space is None else functools.partial(
            write_params, space=plan.space, stacking_dim=opts.stacking_dim,
            axes=self._grid_axes)
        outcomes = self._outcomes_so_far(paths, log)
        todo = [i for i, o in enumerate(outcomes) if o is None]
        func_blob = self._func_blob(debug)
        store = ResultStore(paths, opts, self.func_name, plan.n_calls, grid, extra,
                            resume=self._prior is not None)
        book = None
        if paths is not None:
            try:
                book = open_record(paths, self.func, func_blob, self._given, plan, opts,
                                   self._prior, outcomes, store.publish, store.finish, log)
            except BaseException:  # e.g. a full disk: nothing ran yet
                store.discard()
                raise
            run.recorded = True
        # Debug mode calls self.func directly: no need to send the function anywhere.
        shared = shared_call(plan, store.spec, b"" if debug else func_blob)
        where = describe_storage(opts.storage, paths)
        if self._prior is not None:
            log.info("Resuming the run in %s: %d of %d calls are done, running the other "
                     "%d", paths.output_dir if paths else "", plan.n_calls - len(todo),
                     plan.n_calls, len(todo))
        log.info("Results are stored %s", where)
        end = run_calls(self._backend(debug, shared, chunk_size, plan.n_calls - len(todo)),
                        todo, store, book, outcomes, log)
        if end.container_error is not None and paths is not None and paths.container:
            log.error("The results container %s could not be written: %s",
                      paths.container, end.container_error)
            if not paths.container.exists():
                self.results_container = None
        results = conclude(end, outcomes, opts, self.results_container, grid, where,
                           started, log)
        if paths is not None:
            log.info("Results have been saved to %s",
                     self.results_container or paths.output_dir)
        return results

    def _outcomes_so_far(self, paths: RunPaths | None, log: logging.Logger
                         ) -> list[CallOutcome | None]:
        """The outcomes of the calls a resumed run has done (None: still to run)."""
        if self._prior is None or paths is None:
            return [None] * self.plan.n_calls
        for stale in remove_temporaries(paths):
            log.debug("Removed %s, left by the interrupted run", stale)
        return prior_outcomes(self._prior, paths, self.options.storage)

    def _backend(self, debug: bool, shared: SharedCall, chunk_size: int | None,
                 n_done: int) -> Backend:
        assert self._run is not None
        log = self._run.runlog.logger
        if debug:
            return SequentialBackend(self.func, self.plan, shared, log)
        attempts = None if self._prior is None else \
            [int(a) for a in self._prior.calls.attempts]
        return DaskBackend(self.plan, shared, self._acquire_client, self.options.setup_timeout,
                           log, chunk_size=chunk_size, retries=self.retries,
                           timeout=self.call_timeout, costs=self.call_cost,
                           attempts=attempts, n_done=n_done,
                           show_progress=self.options.verbose is not False)

    def _acquire_client(self) -> clients.ClientHandle:
        """The client of this run: one given through ACME's ``daemon.client``, the
        default client, or a new cluster (kept for the run, released on exit)."""
        run = self._run
        assert run is not None
        if run.client is None:
            log_dir = run.paths.output_dir if run.paths else None
            run.client = self._client_for_run(
                self._take_pending_client()
                or clients.acquire(self.options, self.plan, log_dir, run.runlog.logger))
            if isinstance(self.func, InitFilled):
                self.func.register(run.client.client)
        return run.client

    def _func_blob(self, debug: bool) -> bytes:
        try:
            return cloudpickle.dumps(self.func)
        except Exception:
            if debug:  # debug mode never pickles: only a resume from the record needs it
                return b""
            raise


def _check_timeout(value: Any) -> float | None:
    """``call_timeout``: None or a positive number of seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`call_timeout` must be None or a number of seconds, got "
                        f"{type(value).__name__}")
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"`call_timeout` must be a positive number of seconds, got {value}")
    return float(value)


def _call_costs(value: Any, plan: CallPlan) -> tuple[float, ...] | LazyCosts | None:
    """``call_cost``: None, or one non-negative finite number per call (a function is
    called with each call's arguments)."""
    if value is None:
        return None
    if callable(value) and plan.lazy is not None:  # evaluated as the items are read
        return LazyCosts(value, plan.arguments)
    if callable(value):
        costs = []
        for i in range(plan.n_calls):
            args, kwargs = plan.arguments(i)
            costs.append(value(*args, **kwargs))
    elif isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"`call_cost` must be None, a sequence of {plan.n_calls} numbers or "
                        f"a function of a call's arguments, got {type(value).__name__}")
    else:
        costs = list(value)
    if len(costs) != plan.n_calls:
        raise ValueError(f"`call_cost` must give one cost per call ({plan.n_calls}), got "
                         f"{len(costs)}")
    try:
        numbers = tuple(float(c) for c in costs)
    except (TypeError, ValueError):
        raise TypeError("`call_cost` must give numbers, got "
                        f"{next(type(c).__name__ for c in costs if not _is_number(c))}"
                        ) from None
    if not all(0 <= c < np.inf for c in numbers):
        raise ValueError("`call_cost` must give non-negative finite numbers, got "
                         f"{next(c for c in numbers if not 0 <= c < np.inf)}")
    return numbers


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


# Built on ParallelMap, so it lives here (resume.py only holds what ParallelMap uses).
def resume_run(output_dir: str | os.PathLike[str], **keywords: Any) -> Any:
    """Finish the run in ``output_dir`` from its record alone: the stored function and
    arguments run the calls that are not done, as ``resume=True`` does.

    Parameters
    ----------
    output_dir : str or path
        The run's output directory.
    **keywords
        Keywords of :class:`~acme.ParallelMap` that say where to run, e.g.
        ``n_workers``, ``partition``, ``mem_per_worker``, ``retries``, ``verbose``.

    Returns
    -------
    list
        What :meth:`ParallelMap.compute` returns for the whole run.
    """
    if not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(f"`output_dir` has to be a path, not {type(output_dir)}")
    folder = Path(output_dir)
    attrs, _ = read_record(find_record(folder))
    name = str(attrs["func_name"])
    func_blob, args_blob, _, _ = load_inputs(folder, name)
    lazy = lazy_arguments(folder, name)
    if lazy:
        raise ValueError(f"the run in {folder} read {', '.join(lazy)} from an iterator, "
                         "whose items are not stored; resume it with `ParallelMap(func, "
                         "..., n_inputs=..., output_dir=..., resume=True)` and the same "
                         "items given again")
    if not func_blob or not args_blob:
        raise ValueError(f"the run in {folder} could not store its function or arguments "
                         "(they cannot be pickled); resume it with `ParallelMap(..., "
                         "resume=True)` and the same function and arguments")
    func = cloudpickle.loads(func_blob)
    args, kwargs, n_inputs = cloudpickle.loads(args_blob)
    recorded = json.loads(attrs["options"])
    shape = recorded["result_shape"]
    if shape is not None:
        shape = tuple(np.inf if d == "inf" else d for d in shape)
    stored = {"result_shape": shape, "result_dtype": recorded["result_dtype"],
              "single_file": recorded["single_file"], "write_pickle": recorded["write_pickle"]}
    clash = sorted(set(stored) & set(keywords))
    if clash:
        raise TypeError(f"resume_run() sets `{clash[0]}` from the record; do not pass it")
    with ParallelMap(func, *args, n_inputs=n_inputs, output_dir=str(output_dir), resume=True,
                     **stored, **keywords, **kwargs) as pmap:
        return pmap.compute()
