"""Dask workers as batch jobs of any scheduler dask-jobqueue knows: PBS, SGE, LSF,
HTCondor, OAR, Moab, SLURM, through one function.

What differs between schedulers is data, not code: ``acme/clusters/schedulers.json``
says for each scheduler which ``dask_jobqueue`` class to use, whether it takes a queue
and a wall time as keywords, and which further keywords and job-script directives carry
what the class leaves out (SGE's parallel environment and memory, HTCondor's wall time
and accounting group). The keywords mean what they mean in
:func:`~acme.clusters.slurm.slurm_cluster_setup`: a *worker* is one job running
``processes_per_worker`` dask worker processes that share its ``n_cores`` cores and
``mem_per_worker`` memory. For SLURM, :func:`~acme.clusters.slurm.slurm_cluster_setup`
adds partition checks against ``sinfo`` and prompts.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import distributed

from ..validators import (
    check_bool,
    check_int,
    check_startup,
    check_str_list,
    parse_mem_mb,
)
from .cleanup import close_cluster
from .security import remove_with, temporary_credentials
from .slurm import _fresh_log_directory, _slurm_cluster_class

__all__ = ["SchedulerProfile", "scheduler_profiles", "jobqueue_cluster_setup"]

log = logging.getLogger("ACME")

_WALLTIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class SchedulerProfile:
    """How acme's keywords reach one dask-jobqueue cluster class (one entry of
    ``schedulers.json``)."""

    name: str
    cluster: str
    queue: bool
    walltime: bool
    keywords: Mapping[str, Any] = field(default_factory=dict)
    directives: Sequence[str] | Mapping[str, str] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


def scheduler_profiles() -> dict[str, SchedulerProfile]:
    """The packaged scheduler profiles, by scheduler name."""
    text = resources.files("acme.clusters").joinpath("schedulers.json").read_text()
    return {name: SchedulerProfile(name=name, **entry)
            for name, entry in json.loads(text).items() if not name.startswith("_")}


def _seconds(walltime: str) -> int:
    match = _WALLTIME.match(walltime)
    if match is None:
        raise ValueError(f"`walltime` has to be 'HH:MM:SS' or 'MM:SS', not {walltime!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _fill(template: Any, values: Mapping[str, Any]) -> Any:
    """A template with its ``{name}`` fields filled; None if a field has no value."""
    if not isinstance(template, str):
        return template
    names = re.findall(r"{(\w+)}", template)
    if any(values.get(name) is None for name in names):
        return None
    return template.format(**values)


def jobqueue_cluster_setup(
    scheduler: str,
    queue: str | None = None,
    n_workers: int = 1,
    n_cores: int = 1,
    processes_per_worker: int = 1,
    mem_per_worker: str = "1GB",
    walltime: str | None = None,
    job_extra: Sequence[str] = (),
    log_directory: str | os.PathLike[str] | None = None,
    tls: bool = True,
    n_workers_startup: int = 1,
    timeout: int = 60,
    start_client: bool = True,
    options: Mapping[str, Any] | None = None,
) -> distributed.Client | Any:
    """Start ``n_workers`` batch jobs of ``scheduler`` running dask workers.

    Parameters
    ----------
    scheduler : str
        One of :func:`scheduler_profiles` (``"pbs"``, ``"sge"``, ``"lsf"``,
        ``"htcondor"``, ``"oar"``, ``"moab"``, ``"slurm"``).
    queue : str, optional
        Queue (partition) of the jobs; HTCondor: the accounting group.
    n_workers : int
        Number of jobs; 0 starts none (the cluster can render its job script).
    n_cores : int
        Cores per job.
    processes_per_worker : int
        Dask worker processes per job, at most ``n_cores``; they share the cores, each
        with ``n_cores // processes_per_worker`` threads (single-threaded when equal).
    mem_per_worker : str
        Memory per job, ``"<n>MB"`` or ``"<n>GB"`` (1 GB = 1000 MB of 2**20 bytes).
    walltime : str, optional
        Wall time of each job, ``"HH:MM:SS"``.
    job_extra : list of str
        More directives for the job script header.
    log_directory : str or path, optional
        Directory for job output (and the private TLS directory); default: a fresh
        directory under ``$ACME_SLURM_LOG_DIR``.
    tls : bool
        Temporary TLS credentials for every connection (see
        :func:`~acme.clusters.slurm.slurm_cluster_setup`).
    n_workers_startup : int
        Return once this many jobs run their workers.
    timeout : int
        Seconds to wait for them.
    start_client : bool
        Return a ``distributed.Client`` (True) or the cluster (False).
    options : mapping, optional
        Values for the profile's own fields, e.g. ``{"parallel_environment": "mpi"}``
        for SGE or ``{"disk": "10GB"}`` for HTCondor.

    Returns
    -------
    distributed.Client or dask_jobqueue.JobQueueCluster

    Raises
    ------
    TypeError, ValueError
        For invalid arguments (the message names the argument).
    TimeoutError
        If fewer than ``n_workers_startup`` jobs run their workers within ``timeout``
        (the cluster is closed and its jobs cancelled).

    Examples
    --------
    >>> cluster = jobqueue_cluster_setup("pbs", queue="short", n_cores=4,
    ...                                  mem_per_worker="8GB", walltime="01:00:00",
    ...                                  n_workers=0, start_client=False)  # doctest: +SKIP
    >>> print(cluster.job_script())  # doctest: +SKIP
    """
    profiles = scheduler_profiles()
    if not isinstance(scheduler, str):
        raise TypeError(f"`scheduler` has to be a string, not {type(scheduler)}")
    if scheduler not in profiles:
        raise ValueError(f"`scheduler` has to be one of {', '.join(sorted(profiles))}, "
                         f"not {scheduler!r}")
    profile = profiles[scheduler]
    if queue is not None and not isinstance(queue, str):
        raise TypeError(f"`queue` has to be None or a string, not {type(queue)}")
    n_workers = check_int(n_workers, "n_workers", 0)
    n_cores = check_int(n_cores, "n_cores", 1)
    processes = check_int(processes_per_worker, "processes_per_worker", 1)
    if processes > n_cores:
        raise ValueError(f"`processes_per_worker` ({processes}) cannot exceed the number of "
                         f"cores per worker `n_cores` ({n_cores})")
    mem_mb = parse_mem_mb(mem_per_worker)
    if walltime is not None and not isinstance(walltime, str):
        raise TypeError(f"`walltime` has to be None or a string, not {type(walltime)}")
    seconds = None if walltime is None else _seconds(walltime)
    extra = check_str_list(job_extra, "job_extra")
    tls = check_bool(tls, "tls")
    n_startup = check_startup(n_workers_startup, n_workers)
    timeout = check_int(timeout, "timeout", 0)
    start_client = check_bool(start_client, "start_client")
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"`options` has to be a mapping, not {type(options)}")
    unknown = set(options or {}) - set(profile.options)
    if unknown:
        raise ValueError(f"`options` for {scheduler} may set {sorted(profile.options) or 'nothing'}, "
                         f"not {sorted(unknown)}")

    values = {**profile.options, **(options or {}), "cores": n_cores, "memory_mb": mem_mb,
              "queue": queue, "walltime": walltime, "walltime_seconds": seconds}
    kwargs: dict[str, Any] = {}
    for name, template in profile.keywords.items():
        value = _fill(template, values)
        if value is not None:
            kwargs[name] = value
    directives: Any
    if isinstance(profile.directives, Mapping):
        directives = {key: filled for key, template in profile.directives.items()
                      if (filled := _fill(template, values)) is not None}
        if extra:
            raise ValueError(f"`job_extra` is not supported for {scheduler}; its directives "
                             "are key/value pairs")
    else:
        directives = [filled for template in profile.directives
                      if (filled := _fill(template, values)) is not None] + extra
    if profile.queue:
        kwargs["queue"] = queue
    elif queue is not None and "{queue}" not in json.dumps(profile.directives):
        raise ValueError(f"{scheduler} has no queues: leave `queue` out")
    if profile.walltime:
        kwargs["walltime"] = walltime

    output_dir = (_fresh_log_directory() if log_directory is None
                  else Path(log_directory).expanduser().absolute())
    output_dir.mkdir(parents=True, exist_ok=True)
    security, tls_dir = temporary_credentials(output_dir) if tls else (None, None)
    _slurm_cluster_class()  # imports dask_jobqueue without letting it take Ctrl-C
    cluster_class = getattr(importlib.import_module("dask_jobqueue"), profile.cluster)
    cluster = cluster_class(
        cores=n_cores, processes=processes, memory=f"{mem_mb}MiB", python=sys.executable,
        job_name=f"acme-{secrets.token_hex(4)}", log_directory=str(output_dir),
        job_extra_directives=directives, security=security,
        shared_temp_directory=None if tls_dir is None else str(tls_dir), **kwargs)
    if tls_dir is not None:
        remove_with(cluster, tls_dir)
    try:
        log.debug("%s job script:\n%s", scheduler, cluster.job_script())
        if n_workers:
            cluster.scale(jobs=n_workers)
        if n_startup:
            log.info("Waiting up to %d s for %d of %d %s jobs to start", timeout, n_startup,
                     n_workers, scheduler)
            try:
                cluster.wait_for_workers(n_startup * processes, timeout=max(timeout, 0.01))
            except TimeoutError:
                raise TimeoutError(
                    f"{scheduler} workers could not be started within {timeout} s (all jobs "
                    "have been cancelled): check the queue, or increase `timeout`") from None
        client = distributed.Client(cluster) if start_client else None
    except BaseException:
        close_cluster(cluster)
        raise
    return client if client is not None else cluster
