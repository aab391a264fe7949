"""``ParallelMap``: the user-facing context manager.

Lifecycle: the constructor only validates (no I/O); entering the context creates the
output directory and the run's log; :meth:`ParallelMap.compute` obtains a client, runs
every call and writes the container; leaving the context gives the client back.
"""

from __future__ import annotations

import bdb
import functools
import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cloudpickle
import h5py
import numpy as np
from tqdm.auto import tqdm

from . import clients, dryrun
from ._version import __version__
from .arguments import CallPlan, describe_plan, func_name, plan_calls, size_mb
from .availability import WorkerWatch
from .checkpoint import Checkpointer
from .cleanup import cleanup_for_run
from .containers import SingleFileWriter, build_link_container
from .daemon import ACMECompat
from .errors import ParallelMapError
from .execution import execute
from .lazy import LazyCosts
from .log import RunLog
from .options import RunOptions, check_bool, check_int, validate_options
from .outputs import RunPaths
from .paramstore import GridAxes, check_grid, check_names, grid_shape, write_params
from .payloads import ResultShapeError, ResultTypeError, StorageSpec, pickled_warning, write_pickle
from .preload import preloaded
from .record import (
    DONE,
    NOT_RUN,
    PICKLED,
    CallTable,
    RecordWriter,
    call_hash,
    call_hashes,
    find_record,
    func_hash,
    inputs_path,
    load_inputs,
    provenance,
    read_record,
    record_path,
    value_hash,
    write_inputs,
)
from .results import assemble_results
from .resume import (
    check_resume,
    options_json,
    prior_outcomes,
    remove_temporaries,
    resume_line,
)
from .tasks import WORKER_DIED, CallOutcome, run_call, shared_call
from .worker_init import InitFilled, plugin_name

__all__ = ["ParallelMap", "resume_run"]

_TQDM_FORMAT = "{desc}: {percentage:3.0f}% |{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]"


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
        if plan.space is not None and options.storage in ("hdf5", "single"):
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
            output_dir = self._output_dir_for_run(now)
            paths = self._paths(output_dir)
            created += [p for p in (output_dir, *output_dir.parents) if not p.exists()][-1:]
            try:
                output_dir.mkdir(parents=True, exist_ok=opts.output_dir is not None)
                if opts.storage == "hdf5" and not paths.payload_dir.is_dir():
                    paths.payload_dir.mkdir()
                    created.append(paths.payload_dir)
            except OSError as err:
                dryrun.remove_created(created)
                raise OSError(f"automatic creation of output folder {output_dir} failed: "
                              f"{err}") from err
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
            dryrun.remove_created(run.created)

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

    def _storage(self) -> StorageSpec:
        assert self._run is not None
        paths = self._run.paths
        payload_dir = "" if paths is None else str(
            paths.output_dir if self.options.storage == "single" else paths.payload_dir)
        return StorageSpec(self.options.storage, payload_dir, self.func_name,
                           self.options.result_shape, self.options.result_dtype)

    def _compute(self, debug: bool, chunk_size: int | None) -> Any:
        run = self._run
        assert run is not None
        log = run.runlog.logger
        if run.declined:
            log.info("Nothing computed: the run was declined after its dry run")
            return None
        started = time.perf_counter()
        opts, plan = self.options, self.plan
        log.debug("%s", describe_plan(plan))
        storage = self._storage()
        where = _where_results(opts.storage, run.paths)
        grid = grid_shape(self._grid_axes)
        extra = None if plan.space is None else functools.partial(
            write_params, space=plan.space, stacking_dim=opts.stacking_dim,
            axes=self._grid_axes)
        func_blob = self._func_blob(debug)
        # Debug mode calls self.func directly: no need to send the function anywhere.
        shared = shared_call(plan, storage, b"" if debug else func_blob)
        outcomes: list[CallOutcome | None] = [None] * plan.n_calls
        if self._prior is not None and run.paths is not None:
            outcomes = prior_outcomes(self._prior, run.paths, opts.storage)
            for stale in remove_temporaries(run.paths):
                log.debug("Removed %s, left by the interrupted run", stale)
        todo = [i for i, o in enumerate(outcomes) if o is None]
        writer = None
        if opts.storage == "single" and run.paths is not None and run.paths.container:
            writer = SingleFileWriter(run.paths.container, plan.n_calls, opts.result_shape,
                                      opts.result_dtype, grid, extra,
                                      resume=self._prior is not None)
        try:
            book = self._checkpointer(run, func_blob, outcomes, writer, grid, extra, log)
        except BaseException:  # e.g. a full disk: nothing ran yet
            if writer is not None:
                writer.discard()
            raise
        n_failed = 0
        bar = None

        def collect(outcome: CallOutcome) -> None:
            nonlocal n_failed

            def store() -> None:
                if outcome.ok and writer is not None:
                    self._write_single(writer, outcome, storage)
                if opts.storage != "memory":
                    outcome.value = None
                outcomes[outcome.index] = outcome

            if book is not None:
                book.add(outcome, store)
            else:
                store()
            if outcome.warning:
                log.warning(outcome.warning)
            if not outcome.ok:
                n_failed += 1
                _log_failure(log, outcome.index, outcome.summary, outcome.error)
            if bar is not None:
                bar.update(1)

        state = "interrupted"
        container_error = None
        try:
            if self._prior is not None:
                log.info("Resuming the run in %s: %d of %d calls are done, running the "
                         "other %d", run.paths.output_dir if run.paths else "",
                         plan.n_calls - len(todo), plan.n_calls, len(todo))
            if debug:
                log.warning("Running in debug mode: %d calls of `%s` one after the other "
                            "in this process", len(todo), self.func_name)
                log.info("Results are stored %s", where)
                for i in todo:
                    try:
                        outcome = run_call(self.func, shared, i, plan.call_values(i),
                                           catch=False)
                    except Exception as err:  # propagates unchanged, for the debugger
                        if not isinstance(err, bdb.BdbQuit):
                            _log_failure(log, i, f"{type(err).__name__}: {err}",
                                         traceback.format_exc())
                        raise
                    collect(outcome)
                    plan.release(i)  # a lazy argument's items are dropped
            elif todo:
                if run.client is None:
                    log_dir = run.paths.output_dir if run.paths else None
                    run.client = self._client_for_run(
                        self._take_pending_client()
                        or clients.acquire(opts, plan, log_dir, log))
                    if isinstance(self.func, InitFilled):
                        self.func.register(run.client.client)
                client = run.client.client
                log.debug("%s", clients.describe_client(run.client))
                slots = max(sum(client.nthreads().values()), run.client.expected_workers)
                log.info("Preparing %d parallel calls of `%s` using %d workers",
                         len(todo), self.func_name, len(client.nthreads()))
                log.info("Results are stored %s", where)
                bar = self._progress(plan.n_calls - len(todo))
                watch = WorkerWatch(client, opts.setup_timeout, log,
                                    replace_jobs=run.client.owned,
                                    on_state=_describe(bar, self.func_name))
                attempts = None if self._prior is None else \
                    [int(a) for a in self._prior.calls.attempts]
                with preloaded(client, shared, self.func_name):
                    execute(client, plan, shared, slots, chunk_size, collect, watch,
                            calls=todo, retries=self.retries, attempts=attempts,
                            timeout=self.call_timeout, on_state=_describe(bar, self.func_name),
                            costs=self.call_cost)
            state = "failed" if n_failed else "finished"
        finally:
            if bar is not None:
                bar.close()
            if book is not None:
                container_error = self._final_checkpoint(book, state, outcomes, log)
            elif writer is not None:
                writer.close(outcomes, quiet=state == "interrupted")
        if container_error is not None and run.paths is not None and run.paths.container:
            log.error("The results container %s could not be written: %s",
                      run.paths.container, container_error)
            if not run.paths.container.exists():
                self.results_container = None
        results = assemble_results(outcomes, opts, self.results_container, grid)
        elapsed = time.perf_counter() - started
        if n_failed or container_error:
            failed = {o.index: o.error or "" for o in outcomes if o is not None and not o.ok}
            first = next((o for o in outcomes if o is not None and not o.ok), None)
            died = [o.index for o in outcomes if o is not None and o.kind == WORKER_DIED]
            if n_failed:
                log.error("%d of %d calls failed after %.2f s; the results of the other "
                          "calls are stored %s", n_failed, plan.n_calls, elapsed, where)
            raise ParallelMapError(failed, plan.n_calls, results,
                                   first.summary or "" if first else "",
                                   container_error=container_error, worker_died=died)
        log.info("SUCCESS! Finished %d calls in %.2f s", plan.n_calls, elapsed)
        if run.paths is not None:
            log.info("Results have been saved to %s",
                     self.results_container or run.paths.output_dir)
        return results

    def _func_blob(self, debug: bool) -> bytes:
        try:
            return cloudpickle.dumps(self.func)
        except Exception:
            if debug:  # debug mode never pickles: only a resume from the record needs it
                return b""
            raise

    def _checkpointer(self, run: _Run, func_blob: bytes, outcomes: list[CallOutcome | None],
                      writer: SingleFileWriter | None, grid: tuple[int, ...] | None,
                      extra: Callable[[h5py.File], None] | None, log: logging.Logger
                      ) -> Checkpointer | None:
        """Write the inputs file (new runs) and the first record; checkpoint from now on."""
        paths, opts, plan = run.paths, self.options, self.plan
        if paths is None:
            return None
        name = self.func_name
        args, kwargs, n_inputs = self._given
        fhash = func_hash(self.func, func_blob)
        if self._prior is None and plan.lazy is not None:
            # Iterators cannot be stored: resume=True with the same items given again.
            hashes, args_blob = [""] * plan.n_calls, b""
            calls = CallTable.empty(plan.n_calls)
            calls.argument_hash = plan.lazy.hashing(call_hash)  # filled as items are read
            write_inputs(inputs_path(paths.output_dir, name), func_blob, args_blob, hashes,
                         value_hash((plan.args, plan.kwargs)), lazy=plan.lazy.lazy_names)
            start_time = datetime.now().isoformat(timespec="seconds")
        elif self._prior is None:
            hashes = call_hashes(plan.split_values, plan.n_calls, plan.call_values)
            try:
                args_blob = cloudpickle.dumps((args, kwargs, n_inputs))
            except Exception as err:  # only debug mode gets here with such arguments
                args_blob = b""
                log.warning("The arguments cannot be pickled (%s): resume this run with "
                            "resume=True, acme.resume_run() cannot", err)
            write_inputs(inputs_path(paths.output_dir, name), func_blob, args_blob, hashes,
                         value_hash((plan.args, plan.kwargs)))
            calls = CallTable.empty(plan.n_calls)
            start_time = datetime.now().isoformat(timespec="seconds")
        else:
            calls = self._prior.calls
            for i in np.flatnonzero(np.isin(calls.status, (DONE, PICKLED), invert=True)):
                # to run again: "not run" until it has, its attempts kept
                calls.set(int(i), NOT_RUN, int(calls.attempts[i]), np.nan, "", "")
            start_time = str(self._prior.attrs.get("start_time", ""))
        header = dict(provenance(), func_module=str(getattr(self.func, "__module__", "")),
                      func_name=name, func_hash=fhash, n_calls=plan.n_calls,
                      storage=opts.storage, options=options_json(opts, n_inputs),
                      container=paths.container.name if paths.container else "",
                      start_time=start_time, end_time="")
        container = paths.container
        publish: Callable[[list[CallOutcome | None]], None] | None = None
        finish: Callable[[list[CallOutcome | None]], None] | None = None
        if writer is not None:
            publish, finish = writer.checkpoint, writer.close
        elif opts.storage == "hdf5" and container is not None:
            payload_dir = paths.payload_dir
            written: dict[int, Any] = {}  # block files already current (result_shape)

            def links(snapshot: list[CallOutcome | None]) -> None:
                build_link_container(container, payload_dir, snapshot,
                                     opts.result_shape, opts.result_dtype, grid, extra,
                                     written)
            publish = finish = links
        book = Checkpointer(RecordWriter(paths.output_dir, name, header), calls, opts.storage,
                            outcomes, publish, finish, log)
        book.start()
        run.recorded = True
        return book

    def _final_checkpoint(self, book: Checkpointer, state: str,
                          outcomes: list[CallOutcome | None], log: logging.Logger
                          ) -> str | None:
        """The last checkpoint; on an interruption, say how far the run got. Returns why
        the container or record could not be written (e.g. a full disk), or None."""
        error = None
        try:
            book.stop(state)
        except Exception as err:
            if state != "interrupted" and not isinstance(err, OSError):
                raise
            # The payloads are on disk: the error is reported with them (an error that
            # interrupted the run is the one to report).
            error = f"{type(err).__name__}: {err}"
            log.error("The final checkpoint failed: %s", error)
        if state == "interrupted":
            done = sum(1 for o in outcomes if o is not None and o.ok)
            log.warning("The run was interrupted with %d of %d calls done; their results "
                        "are stored (run record: %s)", done, len(outcomes), book.record.path)
        return error

    def _progress(self, initial: int = 0) -> tqdm:
        return tqdm(total=self.n_inputs, initial=initial, bar_format=_TQDM_FORMAT,
                    desc=self.func_name, disable=self.options.verbose is False)

    def _write_single(self, writer: SingleFileWriter, outcome: CallOutcome,
                      storage: StorageSpec) -> CallOutcome:
        try:
            writer.write(outcome)
        except (ResultShapeError, ResultTypeError) as err:
            # Does not fit the result_shape dataset (e.g. complex for a real dtype): the
            # call fails, as it would on a worker.
            outcome.error = "".join(traceback.format_exception(err))
            outcome.summary = f"{type(err).__name__}: {err}"
        except TypeError as err:
            # HDF5 cannot hold this value (the writer has not touched the container):
            # pickle it for this task only, as <func>_<i>.pickle next to the container.
            path = StorageSpec("pickle", storage.payload_dir, storage.func_name
                               ).pickle(outcome.index)
            write_pickle(outcome.value, path)
            outcome.path = path
            outcome.warning = pickled_warning(outcome.index, err, path)
        return outcome

def _log_failure(log: logging.Logger, index: int, summary: str | None,
                 tb: str | None) -> None:
    """One line per failed call on the console; its traceback in the log file only."""
    log.error("Task %d failed: %s", index, summary)
    log.error("Traceback of task %d:\n%s", index, tb, extra={"file_only": True})


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


def _describe(bar: tqdm, name: str) -> Callable[[str | None], None]:
    """Show what the run waits for in the progress bar's description."""
    def show(state: str | None) -> None:
        bar.set_description_str(name if state is None else f"{name} ({state})")
    return show


def _where_results(storage: str, paths: RunPaths | None) -> str:
    """Where a run's results go, for the log."""
    if storage == "memory" or paths is None:
        return "in memory, collected by this process"
    if storage == "pickle":
        return f"as pickle files in {paths.output_dir}"
    if storage == "single":
        return f"in one HDF5 file, {paths.container}"
    return f"as HDF5 payloads in {paths.payload_dir}, linked by {paths.container}"


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
    with h5py.File(inputs_path(folder, name), "r") as h5f:
        lazy = json.loads(h5f.attrs.get("lazy_arguments", "[]"))
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
