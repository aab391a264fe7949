"""The dry run of a run: sample a few calls, report what the whole run needs, maybe ask.

Each sampled call is measured alone in a process of its own by :mod:`acme.measure`
(which also holds :class:`Sample`, re-exported here). This module holds the rest:

* :func:`sample_calls` picks calls of a :class:`~acme.arguments.CallPlan` (at random, or
  given ones), measures them one by one within an optional total time limit and returns
  an :class:`Estimate`, which extrapolates to the whole run (compute time for a number of
  workers, disk space, worker memory) and words the report;
* ``ParallelMap(..., dryrun=True)`` samples one random call when the run starts, logs
  the report and, on a terminal, asks whether to go on (:func:`run_dryrun`,
  :func:`ask_to_continue`, :func:`is_interactive`); a run that is not continued removes
  what it created (:func:`acme.storage.store.remove_created`); :func:`dry_run` samples
  any number of calls of a ``ParallelMap`` on request;
* ``partition="auto"`` on SLURM asks :func:`estimate_memory` for the memory a worker
  needs, sampling a few calls within a bounded total time.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import cloudpickle
import distributed

from .arguments import CallPlan, func_name
from .clusters.local import local_worker_count
from .log import get_logger
from .measure import Sample, measure_call, worker_baseline_bytes
from .prompt import ask, stdin_is_tty
from .storage.paths import StorageMode
from .storage.payloads import StorageSpec
from .tasks import SharedCall, shared_call

if TYPE_CHECKING:
    from .pmap import ParallelMap

__all__ = ["Sample", "Estimate", "sample_calls", "estimate_memory", "worker_memory_gb",
           "dry_run", "run_dryrun",
           "ask_to_continue", "is_interactive", "planned_workers"]

#: Memory units: decimal, as printed (1 GB = 10**9 bytes), which errs on the large side
#: when the estimate is turned into a SLURM request (SLURM counts 2**20-byte megabytes).
_GB = 1e9


# -- whole-run estimates ------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """Measured samples of a run, and what they imply for all of its calls.

    Averages (time, sizes) are taken over the samples that finished without error;
    memory is the maximum over all samples, since a worker must fit the largest call.
    """

    func_name: str
    n_calls: int
    storage: StorageMode
    samples: tuple[Sample, ...]

    @property
    def _good(self) -> list[Sample]:
        return [s for s in self.samples if s.finished and s.error is None]

    @property
    def complete(self) -> bool:
        """Whether at least one sample finished without error (averages are real)."""
        return bool(self._good)

    @property
    def seconds_per_call(self) -> float:
        """Mean wall time of a call (a lower bound if no sample finished)."""
        chosen = self._good or list(self.samples)
        return sum(s.seconds for s in chosen) / len(chosen) if chosen else 0.0

    @property
    def peak_bytes(self) -> int:
        """Largest peak resident memory of a sampled process: what a worker needs."""
        return max((s.peak_bytes for s in self.samples), default=0)

    @property
    def call_bytes(self) -> int:
        """Largest memory a sampled call added on top of its process's baseline."""
        return max((s.call_bytes for s in self.samples), default=0)

    @property
    def memory_gb(self) -> float:
        """:attr:`peak_bytes` in GB (10**9 bytes); feeds ``partition="auto"``."""
        return self.peak_bytes / _GB

    @property
    def result_bytes(self) -> float:
        """Mean in-memory size of a call's return value(s)."""
        good = self._good
        return sum(s.result_bytes for s in good) / len(good) if good else 0.0

    @property
    def stored_bytes(self) -> float:
        """Mean bytes a call's result takes where the run keeps it."""
        good = self._good
        return sum(s.stored_bytes for s in good) / len(good) if good else 0.0

    @property
    def disk_bytes(self) -> float:
        """Disk space of all results (0 when they are collected in memory)."""
        return 0.0 if self.storage == StorageMode.MEMORY else self.stored_bytes * self.n_calls

    def total_seconds(self, n_workers: int) -> float:
        """Wall time of all calls on ``n_workers`` single-threaded workers (no overhead)."""
        rounds = math.ceil(self.n_calls / max(1, n_workers))
        return rounds * self.seconds_per_call

    def summary(self, n_workers: int) -> str:
        """A few lines for the log: the measurement and the estimates for the run."""
        lines = []
        for s in self.samples:
            state = "" if s.finished else " (stopped at the time limit: lower bounds)"
            if s.error is not None:
                state = " (raised an exception)"
            lines.append(
                f"call #{s.index}: {_seconds(s.seconds)}, peak memory {_size(s.call_bytes)} "
                f"on top of {_size(s.baseline_bytes)} (process peak {_size(s.peak_bytes)})"
                + (f", return value {_size(s.result_bytes)}, stored {_size(s.stored_bytes)}"
                   if s.finished and s.error is None else "") + state)
        bound = "" if self.complete else "at least "
        total = self.seconds_per_call * self.n_calls
        workers = f"{n_workers} worker{'s' if n_workers != 1 else ''}"
        lines.append(
            f"estimate for all {self.n_calls} calls: {bound}{_seconds(total)} of compute "
            f"time, {bound or 'about '}{_seconds(self.total_seconds(n_workers))} with "
            f"{workers}; each worker needs {bound or 'about '}{_size(self.peak_bytes)} of "
            "memory")
        if self.complete:
            if self.storage == StorageMode.MEMORY:
                lines.append(f"collecting all results in memory takes about "
                             f"{_size(self.stored_bytes * self.n_calls)} in this process")
            else:
                lines.append(f"results need about {_size(self.disk_bytes)} of disk space")
        return "\n".join("    " + line for line in lines)


def _size(n_bytes: float) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.2f} {unit}"
    return f"{int(n_bytes)} B"


def _acme_size(n_bytes: float) -> str:
    """ACME's dry-run figure: MB with two decimals ("0.01 MB"), GB above 1000 MB."""
    mb = n_bytes / 1e6
    return f"{mb / 1000:3.2f} GB" if mb > 1000 else f"{mb:3.2f} MB"


def _seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# -- sampling -----------------------------------------------------------------------------
def _shared(plan: CallPlan, func: Callable[..., Any], result_shape: Any) -> SharedCall:
    storage = StorageSpec(StorageMode.MEMORY, "", func_name(func), result_shape)
    return shared_call(plan, storage, cloudpickle.dumps(func))


def pick_calls(n_calls: int, n_samples: int, seed: int | None = None) -> list[int]:
    """``n_samples`` distinct call indices (all calls if there are fewer), at random."""
    return sorted(random.Random(seed).sample(range(n_calls), min(n_samples, n_calls)))


def first_or_random(plan: CallPlan, n_samples: int, seed: int | None = None) -> list[int]:
    """The calls to sample: random ones, or the first for a lazy run (whose items are
    read in call order; the run then uses the item read)."""
    if plan.lazy is not None:
        return [0]
    return pick_calls(plan.n_calls, n_samples, seed)


def sample_calls(plan: CallPlan, func: Callable[..., Any], *,
                 storage: StorageMode | str = StorageMode.MEMORY,
                 result_shape: tuple[float | None, ...] | None = None, n_samples: int = 1,
                 max_seconds: float | None = None, indices: Iterable[int] | None = None,
                 seed: int | None = None) -> Estimate:
    """Run randomly picked calls of ``plan`` one by one, each in a new process.

    Parameters
    ----------
    plan : CallPlan
        The run's calls (``ParallelMap.plan``).
    func : callable
        The mapped function; it must be picklable with ``cloudpickle``, as for any
        parallel run.
    storage : {"memory", "hdf5", "single", "pickle"}
        How the run stores results; the sample stores its result the same way (HDF5
        payload for ``"single"``) in a temporary directory, to measure its size.
    result_shape : tuple or None
        The run's ``result_shape``: a result that does not fit fails the sample.
    n_samples : int
        How many distinct calls to run (at most all).
    max_seconds : float or None
        Time limit for all samples together: a sample still running then is stopped
        and reported with lower bounds; later samples are skipped (at least one runs).
    indices : iterable of int, optional
        Run these calls instead of random ones.
    seed : int, optional
        Seed of the random choice.

    Returns
    -------
    Estimate
        Samples whose call raised carry the traceback in ``error`` (nothing is raised).
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"`n_samples` has to be an integer >= 1, not {n_samples!r}")
    chosen = list(indices) if indices is not None else first_or_random(plan, n_samples, seed)
    shared = _shared(plan, func, result_shape)
    storage = StorageMode(storage)
    # A single file's result is measured as an HDF5 payload.
    write_mode = {StorageMode.HDF5: StorageMode.HDF5, StorageMode.SINGLE: StorageMode.HDF5,
                  StorageMode.PICKLE: StorageMode.PICKLE}.get(storage)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    samples: list[Sample] = []
    for index in chosen:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0 and samples:
            break
        samples.append(measure_call(shared, index, plan.call_values(index), write_mode,
                                    None if remaining is None else max(remaining, 0.1)))
    return Estimate(shared.storage.func_name, plan.n_calls, storage, tuple(samples))


def estimate_memory(plan: CallPlan, func: Callable[..., Any], n_samples: int = 3,
                    max_seconds: float = 60.0, *, log: logging.Logger | None = None,
                    seed: int | None = None) -> Estimate:
    """Memory a worker needs for ``func``, from up to ``n_samples`` calls in ``max_seconds``.

    Runs the samples like :func:`sample_calls` without storing their results, and logs
    ACME's "Estimated memory consumption across N runs is X GB". Calls that raise or are
    stopped at the time limit still count with the memory they used until then. Use
    :attr:`Estimate.memory_gb` for the partition choice.
    """
    log = log or get_logger()
    name = func_name(func)
    log.info("Estimating memory footprint of %s", name)
    estimate = sample_calls(plan, func, n_samples=n_samples, max_seconds=max_seconds,
                            seed=seed)
    for sample in estimate.samples:
        if sample.error is not None:
            log.warning("Call %d of %s raised an exception while its memory was measured:\n%s",
                        sample.index, name, sample.error)
    stopped = sum(not s.finished for s in estimate.samples)
    if stopped:
        log.warning("%d of %d calls of %s did not finish within %g s; the memory estimate "
                    "is a lower bound", stopped, len(estimate.samples), name, max_seconds)
    log.info("Estimated memory consumption across %d runs is %.2f GB",
             len(estimate.samples), estimate.memory_gb)
    return estimate


def worker_memory_gb(estimate: Estimate, baseline_bytes: int | None = None) -> float:
    """Peak memory of a dask worker process running the largest sampled call, in GB.

    The worker's own baseline (``baseline_bytes``, measured by
    :func:`acme.measure.worker_baseline_bytes` if not given) plus what the largest call
    added on top of its process's baseline (:attr:`Estimate.call_bytes`).
    """
    if baseline_bytes is None:
        baseline_bytes = worker_baseline_bytes()
    return (baseline_bytes + estimate.call_bytes) / _GB


# -- the dry run of a ParallelMap ---------------------------------------------------------
def planned_workers(n_workers: int | str, n_calls: int) -> int:
    """Workers to assume in estimates: ``n_workers``, else those of the running default
    client, else one per core (what a local cluster would start)."""
    if isinstance(n_workers, int):
        return n_workers
    try:
        client = distributed.get_client()
    except ValueError:
        client = None
    if client is not None and client.status == "running":
        try:  # asks the scheduler for its workers; no computation is started
            return max(1, len(client.scheduler_info().get("workers", {})))
        except Exception:  # an unreachable scheduler: estimate as for a local cluster
            pass
    return local_worker_count(n_workers, n_calls)


class _RemoteTraceback(Exception):
    """The traceback of an exception raised in a sample process (chained as its cause)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def _raise_failure(sample: Sample, func_name: str) -> None:
    assert sample.error is not None
    note = f"(raised by call {sample.index} of {func_name} during the dry run)"
    if sample.exception is not None:
        exc = sample.exception
        if hasattr(exc, "add_note"):
            exc.add_note(note)
        raise exc from _RemoteTraceback(sample.error)
    # an exception that cannot be pickled back: its type and traceback as text
    raise RuntimeError(f"Call {sample.index} of {func_name} failed in the dry run:\n"
                       f"{sample.error}")


def dry_run(pmap: ParallelMap, n_samples: int = 1, *, log: logging.Logger | None = None,
            seed: int | None = None) -> Estimate:
    """Run ``n_samples`` random calls of ``pmap`` alone and log what the whole run needs.

    The calls use the arguments ``pmap`` distributes, each in a fresh process, and their
    results are stored (in a temporary directory) as ``pmap`` stores them. Nothing is
    written to the run's output directory and no cluster is started. This is the
    measurement of ``dryrun=True`` (which samples one call) for any number of calls.

    Parameters
    ----------
    pmap : ParallelMap
        A constructed (entered or not) ``ParallelMap``.
    n_samples : int
        Number of distinct calls to run.

    Returns
    -------
    Estimate

    Raises
    ------
    Exception
        The exception a sampled call raised, as itself (its traceback in the sample
        process chained as ``__cause__``).

    Examples
    --------
    >>> pmap = ParallelMap(f, range(1000))  # doctest: +SKIP
    >>> estimate = dry_run(pmap, n_samples=3)  # doctest: +SKIP
    >>> estimate.memory_gb, estimate.total_seconds(n_workers=50)  # doctest: +SKIP
    (0.58, 21.7)
    """
    log = log or get_logger()
    opts, plan = pmap.options, pmap.plan
    name = pmap.func_name
    indices = first_or_random(plan, n_samples, seed)
    if len(indices) == 1:
        log.info("Performing a single dry-run of %s simulating randomly picked worker #%d "
                 "with automatically distributed arguments", name, indices[0])
    else:
        log.info("Performing a dry-run of %s: calls %s (randomly picked), each in a "
                 "process of its own", name, ", ".join(f"#{i}" for i in indices))
    estimate = sample_calls(plan, pmap.func, storage=opts.storage,
                            result_shape=opts.result_shape, indices=indices)
    for sample in estimate.samples:
        if sample.error is not None:
            _raise_failure(sample, name)
    n_workers = planned_workers(opts.n_workers, plan.n_calls)
    log.info("Dry-run completed. Elapsed time is %f seconds, estimated memory consumption "
             "was %s.\n%s", max(s.seconds for s in estimate.samples),
             _acme_size(estimate.call_bytes), estimate.summary(n_workers))
    return estimate


def is_interactive(setup_interactive: bool) -> bool:
    """Whether a run may ask questions: ``setup_interactive`` and stdin is a terminal."""
    return setup_interactive and stdin_is_tty()


def ask_to_continue(func_name: str, interactive: bool, stream: IO[str] | None = None) -> bool:
    """ACME's question after a dry run; True (go on) unless answered "n".

    Asks only if ``interactive`` (standard input is a terminal and ``setup_interactive``);
    otherwise the run goes on without asking. ``stream`` replaces ``sys.stdin`` (tests).
    """
    if not interactive:
        return True
    answer = ask(f"Do you want to continue executing {func_name} with the provided "
                 "arguments? [Y/n]", ["y", "n", "yes", "no"], default="y", stream=stream)
    return answer not in ("n", "no")


def run_dryrun(pmap: ParallelMap, log: logging.Logger, interactive: bool,
               stream: IO[str] | None = None) -> bool:
    """The ``dryrun=True`` step of a starting run: sample one call, report, maybe ask.

    Returns False if the user declined to continue.
    """
    dry_run(pmap, 1, log=log)
    if ask_to_continue(pmap.func_name, interactive, stream):
        return True
    log.info("Not executing %s: dry run declined; removing the output of this run",
             pmap.func_name)
    return False
