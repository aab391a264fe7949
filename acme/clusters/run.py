"""Start the SLURM cluster of a :class:`~acme.ParallelMap` run that found no client.

Rules for the ``"auto"`` values of ``ParallelMap``:

``n_workers="auto"``
    ``min(n_inputs, 10)`` SLURM jobs (a site profile may change the 10 through its
    ``max_auto_workers`` default): never one job per input. An explicit number larger than
    ``n_inputs`` is reduced to ``n_inputs``.
``partition="auto"``
    The partition with the smallest memory limit that fits the memory a worker needs
    (see below), chosen among the site profile's ``auto_partitions`` (default: every
    partition that is up and not invalid). Without any memory figure: the profile's
    ``default_partition``, else SLURM's default partition (one rule for this and the
    presets: :func:`~acme.clusters.profiles.resolve_partition`).
``mem_per_worker="auto"``
    The memory a worker needs: the peak of a worker process running one call (the
    worker's own baseline, measured in a fresh process that imports what a worker
    imports, plus the largest memory a sampled call added, from the dry run) divided by
    0.75, so that the peak stays below dask's 80 % "pause" threshold with 5 % to spare
    for the worker's event loop and connections; never less than
    :data:`WORKER_MEMORY_FLOOR_MB`. Without an estimate (a named partition): the
    profile's rule, else what SLURM gives a job without ``--mem`` (``DefMemPerCPU``),
    else the partition's limit, again at least the floor. Always capped at the
    partition's limit minus the cushion.

Each job has ``processes_per_worker`` dask worker processes (default 1) and p times the
memory one worker needs; each process runs one call at a time, with ``threads_per_worker``
cores (default 1) for the threads of its numerical libraries, so a job has
``processes_per_worker * threads_per_worker`` cores. Job output goes to
``<log_dir>/slurm-%j.out``. The call returns as soon as one worker runs; the others join
while the run is under way.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import cast

import distributed

from ..validators import check_int, parse_mem_mb
from .detect import (
    partition_default_memory,
    partition_memory_limit,
)
from .profiles import DEFAULTS, Profile, detect_profile, profile_default, resolve_partition
from .slurm import _fresh_log_directory, slurm_cluster_setup

__all__ = ["start_slurm_client", "auto_n_workers", "auto_memory_mb", "AUTO_WORKER_CAP",
           "WORKER_MEMORY_FLOOR_MB"]

log = logging.getLogger("ACME")

#: Most SLURM jobs ``n_workers="auto"`` starts (without a site profile saying otherwise).
AUTO_WORKER_CAP = DEFAULTS["max_auto_workers"]

#: Share of a worker's memory its estimated peak may use (dask pauses a worker at 80 %).
_ESTIMATE_SHARE = 0.75

#: Least memory (MB) a job gets from ``mem_per_worker="auto"``. A dask worker process at
#: rest uses 80-100 MB; ACME gave 1 GB by default, which leaves room for small calls.
WORKER_MEMORY_FLOOR_MB = 1000


def auto_n_workers(n_inputs: int, cap: int = AUTO_WORKER_CAP) -> int:
    """Number of SLURM jobs for ``n_workers="auto"``: ``min(n_inputs, cap)``, at least 1."""
    return max(1, min(n_inputs, cap))


def _resolve_workers(n_workers: int | str, n_inputs: int, profile: Profile | None,
                     processes: int = 1) -> int:
    if n_workers == "auto":
        cap = profile_default(profile, "max_auto_workers")
        return auto_n_workers(math.ceil(n_inputs / processes), cap)
    n_workers = check_int(n_workers, "n_workers", 1)
    enough = math.ceil(n_inputs / processes)
    if n_workers > enough:
        log.info("Starting %d SLURM workers instead of %d: there are only %d inputs",
                 enough, n_workers, n_inputs)
        return enough
    return n_workers


def auto_memory_mb(worker_peak_gb: float) -> int:
    """Memory (MB) to request for a worker whose estimated peak is ``worker_peak_gb``.

    ``max(WORKER_MEMORY_FLOOR_MB, ceil(worker_peak_gb * 1000 / 0.75))``: the peak stays
    below dask's 80 % pause threshold, and no job is too small for a worker at rest.
    """
    return max(WORKER_MEMORY_FLOOR_MB, math.ceil(worker_peak_gb * 1000 / _ESTIMATE_SHARE))


def _needed_mb(mem_per_worker: str, mem_estimate_gb: float | None) -> int | None:
    if mem_per_worker != "auto":
        return parse_mem_mb(mem_per_worker)
    if mem_estimate_gb is not None:
        return auto_memory_mb(mem_estimate_gb)
    return None


def start_slurm_client(*, partition: str, n_workers: int | str, mem_per_worker: str,
                       setup_timeout: int, setup_interactive: bool, log_dir: Path | None,
                       n_inputs: int, mem_estimate_gb: float | None = None,
                       processes_per_worker: int = 1, threads_per_worker: int = 1
                       ) -> distributed.Client:
    """Start a SLURM cluster for a run and return its client (see the module docstring).

    Parameters
    ----------
    partition : str
        A partition name or ``"auto"``.
    n_workers : int or "auto"
        Number of SLURM jobs.
    mem_per_worker : str
        ``"auto"`` or memory per job like ``"4GB"``.
    setup_timeout : int
        Seconds to wait for the first worker.
    setup_interactive : bool
        Ask on a terminal what to do when ``setup_timeout`` passes.
    log_dir : pathlib.Path or None
        Directory of the run; job output goes to ``log_dir/slurm-<jobid>.out``. None (a
        run without output directory): a fresh directory under ``$ACME_SLURM_LOG_DIR``.
    n_inputs : int
        Number of calls of the run.
    mem_estimate_gb : float, optional
        Estimated peak memory in GB of a worker process running one call (its baseline
        plus the call's peak, from the dry run; see the module docstring).
    processes_per_worker : int
        Single-threaded dask worker processes per job; the job gets as many cores and
        that many times the memory one worker needs.
        Estimated peak memory of one call in GB (from the dry run).
    threads_per_worker : int
        Cores per job, used by the threads of the numerical libraries (``OMP_NUM_THREADS``
        etc. are set to it).

    Returns
    -------
    distributed.Client
        A client whose cluster the caller owns (close it with ``cluster_cleanup``).

    Raises
    ------
    TypeError, ValueError
        For invalid arguments, an unknown partition or no partition with enough memory.
    TimeoutError, ConnectionAbortedError
        As :func:`~acme.clusters.slurm.slurm_cluster_setup`.
    """
    if not isinstance(partition, str):
        raise TypeError(f"`partition` has to be a string, not {type(partition)}")
    n_inputs = check_int(n_inputs, "n_inputs", 1)
    processes = check_int(processes_per_worker, "processes_per_worker", 1)
    threads = check_int(threads_per_worker, "threads_per_worker", 1)
    cores = processes * threads
    if mem_estimate_gb is not None and (isinstance(mem_estimate_gb, bool) or not isinstance(
            mem_estimate_gb, (int, float)) or mem_estimate_gb < 0):
        raise ValueError(f"`mem_estimate_gb` has to be a number >= 0, not {mem_estimate_gb!r}")
    profile = detect_profile()
    if profile is not None:
        log.debug("Using site profile %s (%s)", profile.name, profile.source)
    cushion = profile_default(profile, "mem_cushion")
    workers = _resolve_workers(n_workers, n_inputs, profile, processes)
    needed = _needed_mb(mem_per_worker, mem_estimate_gb)
    if needed is not None and mem_per_worker == "auto":
        needed *= processes  # the rule sizes one worker process; a job runs `processes`

    partition = resolve_partition(partition, None if needed is None else needed / 1000,
                                  profile, n_cores=cores, mem_cushion=cushion,
                                  estimate_gb=mem_estimate_gb)

    if needed is None:
        default = (profile.memory_mb(partition, cores) if profile
                   else _slurm_default_mb(partition, cores))
        needed = max(default, WORKER_MEMORY_FLOOR_MB * processes)
    if mem_per_worker == "auto":  # a rule of ours, not the user's figure: cap it quietly
        needed = min(needed, partition_memory_limit(partition, cores) - cushion)
    if log_dir is None:
        log_dir = _fresh_log_directory()
    log_dir = Path(log_dir).absolute()
    log_dir.mkdir(parents=True, exist_ok=True)
    client = slurm_cluster_setup(
        partition=partition, n_cores=cores, threads_per_worker=threads, n_workers=workers,
        processes_per_worker=processes,
        mem_per_worker=f"{needed}MB", n_workers_startup=1, timeout=setup_timeout,
        interactive=setup_interactive,
        interactive_wait=profile_default(profile, "interactive_wait"),
        start_client=True, job_extra=[f"--output={log_dir / 'slurm-%j.out'}"],
        worker_extra_args=(profile.worker_extra_args or None) if profile else None,
        invalid_partitions=profile.invalid_partitions if profile else [],
        mem_cushion=cushion,
        tls=bool(profile_default(profile, "tls")))
    return cast(distributed.Client, client)  # start_client=True


def _slurm_default_mb(partition: str, n_cores: int = 1) -> int:
    return (partition_default_memory(partition, n_cores)
            or partition_memory_limit(partition, n_cores))
