"""Start dask workers as SLURM jobs (``dask_jobqueue.SLURMCluster``), checked against SLURM.

Terms: a *worker* is one SLURM job; it runs ``processes_per_worker`` dask worker processes
that share its ``n_cores`` CPUs and ``mem_per_worker`` memory. Memory strings are
``"<number>MB"`` or ``"<number>GB"`` with 1 GB = 1000 MB (as in ACME), where MB is SLURM's
megabyte (``--mem=<n>M``).

Job output (``sbatch --output``) never lands in the current directory by accident: it goes
to ``--output=...`` of ``job_extra`` if given, else to ``log_directory``, else to a fresh
directory ``<user>_<YYYYmmdd-HHMMSS>_<random>`` under ``$ACME_SLURM_LOG_DIR`` (default
``$XDG_CACHE_HOME/acme/slurm``, i.e. ``~/.cache/acme/slurm``); it is logged.

Options not covered here (``account``, ``interface``, ...) come from dask-jobqueue's own
configuration (``~/.config/dask/jobqueue.yaml``, section ``slurm``). No wall time is set:
add ``"--time=..."`` to ``job_extra`` if your site needs one.
"""

from __future__ import annotations

import getpass
import inspect
import logging
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster

import dask.config
import distributed

from .. import prompt as _prompt
from ..log import shows_messages
from ..validators import (
    check_bool,
    check_int,
    check_startup,
    check_str_list,
    parse_mem_mb,
)
from .cleanup import close_cluster
from .detect import partition_max_cpus, partition_memory_limit, slurm_partitions
from .security import remove_with, temporary_credentials
from .threads import thread_exports

__all__ = ["slurm_cluster_setup", "parse_mem_mb"]

log = logging.getLogger("ACME")



def _slurm_cluster_class() -> type[SLURMCluster]:
    """``dask_jobqueue.SLURMCluster``, imported without letting dask-jobqueue take Ctrl-C.

    dask-jobqueue 0.9.0 installs ``signal.signal(SIGINT, lambda *_: sys.exit())`` when
    ``dask_jobqueue.runner`` is imported (dask/dask-jobqueue#696, fixed after 0.9.0), which
    turns Ctrl-C in the host program into a silent ``SystemExit(0)``. Import it lazily and
    put the previous handler back.
    """
    if "dask_jobqueue" not in sys.modules and threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
        try:
            import dask_jobqueue  # noqa: F401, PLC0415 (optional heavy dependency; see above)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
    from dask_jobqueue import SLURMCluster  # noqa: PLC0415 (as above)
    return SLURMCluster


def _check_job_extra(job_extra: Any) -> tuple[list[str], Path | None]:
    """Validate sbatch options; return them (``--output`` made absolute) and the output dir."""
    options = check_str_list(job_extra, "job_extra")
    checked: list[str] = []
    output_dir = None
    for option in options:
        option = option.strip()
        if not option.startswith("-"):
            raise ValueError(
                f"`job_extra` options must be flagged with - or --, e.g. '--job-name=x', "
                f"not {option!r}")
        path = None
        if option.startswith("--output"):
            if not option.startswith("--output="):
                raise ValueError(f"Write `job_extra` option {option!r} as '--output=<path>'")
            path = option.removeprefix("--output=")
        elif option.startswith("-o"):
            if option.startswith("-o=") or not option.startswith("-o "):
                raise ValueError(
                    f"Write `job_extra` option {option!r} as '--output=<path>' "
                    "(sbatch would read '-o=<path>' as a file named '=<path>')")
            path = option.removeprefix("-o ").strip()
        if path is not None:
            if not path:
                raise ValueError(f"`job_extra` option {option!r} names no file")
            file = Path(path).expanduser().absolute()
            if not file.parent.is_dir():
                raise ValueError(
                    f"The directory {file.parent} of `job_extra` option {option!r} does not "
                    "exist: create it first")
            output_dir = file.parent
            option = f"--output={file}"
        checked.append(option)
    return checked, output_dir


def _fresh_log_directory() -> Path:
    """A new, empty directory for job output under ``$ACME_SLURM_LOG_DIR``."""
    base = os.environ.get("ACME_SLURM_LOG_DIR")
    if not base:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        base = str(Path(cache) / "acme" / "slurm")
    Path(base).mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"{getpass.getuser()}_{stamp}_", dir=base))


def _check_kwargs(kwargs: dict[str, Any], n_cores: int) -> int:
    """Resolve ``cores_per_worker`` (ACME's documented alias of ``n_cores``); reject the rest."""
    alias = kwargs.pop("cores_per_worker", None)
    if kwargs:
        names = [name for name in inspect.signature(slurm_cluster_setup).parameters
                 if name != "kwargs"]
        raise TypeError(
            f"slurm_cluster_setup() got unexpected keyword argument(s) "
            f"{', '.join(map(repr, sorted(kwargs)))}; valid keywords are "
            f"{', '.join(names)}, cores_per_worker (alias of n_cores)")
    if alias is None:
        return n_cores
    alias = check_int(alias, "cores_per_worker", 1)
    if n_cores not in (1, alias):
        raise TypeError(f"Give either `n_cores` ({n_cores}) or `cores_per_worker` ({alias}), "
                        "not both")
    return alias


def _check_partition(partition: Any, avail: list[str], invalid: list[str]) -> str:
    if not isinstance(partition, str):
        raise TypeError(f"`partition` has to be a string, not {type(partition)}")
    available = avail or slurm_partitions()
    allowed = [name for name in available if name not in invalid]
    if partition not in allowed:
        raise ValueError(
            f"Invalid partition selection {partition}, available SLURM partitions are "
            f"{', '.join(allowed)}")
    return partition


def _running_workers(cluster: SLURMCluster) -> int:
    workers = cluster.scheduler_info.get("workers", {}).values()
    return sum(1 for worker in workers if worker.get("status", "running") == "running")


def _wait_for_workers(cluster: SLURMCluster, needed: int, total: int, timeout: int,
                      interactive: bool, interactive_wait: int) -> None:
    """Return once ``needed`` dask workers run; ask or raise when ``timeout`` passes."""
    if needed == 0:
        return
    wait = timeout
    while True:
        log.info("Waiting up to %d s for %d of %d SLURM workers to start", wait, needed, total)
        try:
            # distributed treats a zero timeout as "wait forever"
            cluster.wait_for_workers(needed, timeout=max(wait, 0.01))
            return
        except TimeoutError:
            pass
        running = _running_workers(cluster)
        if not (interactive and _prompt.stdin_is_tty()):
            break
        keep = max(timeout, 10)
        if running:
            question = (f"{running} of {total} SLURM workers are running. Do you want to "
                        f"[k]eep waiting for {keep}s, [a]bort or [c]ontinue with {running} "
                        "workers? [Default: 'c']")
            answer = _prompt.ask(question, ["k", "a", "c"], "c", interactive_wait)
        else:
            question = (f"No SLURM worker has started yet. Do you want to [k]eep waiting "
                        f"for {keep}s or [a]bort? [Default: stop waiting]")
            answer = _prompt.ask(question, ["k", "a"], None, interactive_wait)
        if answer == "c":
            return
        if answer == "a":
            raise ConnectionAbortedError(
                "<slurm_cluster_setup> SLURM cluster start-up aborted by the user")
        if answer is None:  # no answer and nothing to continue with
            break
        wait = keep
    raise TimeoutError(
        f"<slurm_cluster_setup> SLURM workers could not be started within given time-out "
        f"interval of {timeout} seconds ({_running_workers(cluster)} of the {needed} "
        f"worker processes needed were running; all jobs have been cancelled). Check the "
        f"queue with `squeue -u {getpass.getuser()}`, or increase `timeout`.")


@shows_messages
def slurm_cluster_setup(
    partition: str = "partition_name",
    n_cores: int = 1,
    n_workers: int = 1,
    processes_per_worker: int = 1,
    mem_per_worker: str = "1GB",
    n_workers_startup: int = 1,
    timeout: int = 60,
    interactive: bool = True,
    interactive_wait: int = 10,
    start_client: bool = True,
    job_extra: Sequence[str] = [],  # noqa: B006 (ACME's default; never mutated)
    worker_extra_args: Sequence[str] | None = None,
    scheduler_options: dict[str, Any] | None = None,
    avail_partitions: Sequence[str] = [],  # noqa: B006 (ACME's default; never mutated)
    invalid_partitions: Sequence[str] = [],  # noqa: B006 (ACME's default; never mutated)
    mem_cushion: int = 100,
    log_directory: str | os.PathLike[str] | None = None,
    tls: bool = True,
    threads_per_worker: int | None = None,
    **kwargs: Any,
) -> distributed.Client | SLURMCluster:
    """Start ``n_workers`` SLURM jobs running dask workers and connect a client to them.

    Parameters
    ----------
    partition : str
        SLURM partition; must be one ``sinfo`` lists (or one of ``avail_partitions``) and
        not one of ``invalid_partitions``.
    n_cores : int
        CPUs per job (``--cpus-per-task``). ``cores_per_worker`` is accepted as an alias.
    n_workers : int
        Number of SLURM jobs.
    processes_per_worker : int
        Dask worker processes per job (they share its cores and memory).
    mem_per_worker : str
        Memory per job, e.g. ``"2GB"``/``"1500MB"``. Capped (with a warning) at the
        partition's limit minus ``mem_cushion``.
    n_workers_startup : int
        Return as soon as this many jobs run their workers; the others join later.
    timeout : int
        Seconds to wait for ``n_workers_startup`` workers.
    interactive : bool
        If True and standard input is a terminal, ask what to do when ``timeout`` passes.
    interactive_wait : int
        Seconds to wait for an answer before the default choice is taken.
    start_client : bool
        Return a ``distributed.Client`` (True) or the ``SLURMCluster`` (False).
    job_extra : list of str
        More sbatch options, e.g. ``["--job-name=x", "--output=/dir/slurm-%j.out"]``.
    worker_extra_args : list of str, optional
        More ``dask worker`` options (default: dask-jobqueue's configuration).
    scheduler_options : dict, optional
        Options for the dask scheduler, e.g. ``{"dashboard_address": ":8788"}``. By
        default the dashboard uses port 8787, or a free one if that is taken.
    avail_partitions : list of str
        Partitions to accept; default: ask ``sinfo``.
    invalid_partitions : list of str
        Partitions never to use.
    mem_cushion : int
        MB kept free below the partition's memory limit.
    log_directory : str or path, optional
        Directory for job output (created if needed); see the module docstring for the
        default. Not allowed together with ``--output`` in ``job_extra``.
    tls : bool
        Encrypt and authenticate every connection to the scheduler with temporary TLS
        credentials (default), so that nobody else who can reach its port can connect
        and run code as you; the workers' copies go to a private directory (mode 0700)
        in the job output directory, which the jobs must be able to read. False: plain
        TCP, for sites whose network or Python lacks TLS.
    threads_per_worker : int, optional
        Threads of the numerical libraries (OpenMP, OpenBLAS, MKL, ...) in each dask worker
        process. Given, every process runs one call at a time with this many threads and a
        job requests ``processes_per_worker * threads_per_worker`` CPUs (``n_cores`` must
        then be left at 1 or equal that product). Default: ``n_cores`` CPUs per job shared
        by ``n_cores / processes_per_worker`` dask threads per process, libraries
        single-threaded. Either way ``OMP_NUM_THREADS`` etc. are exported in the job script.

    Returns
    -------
    distributed.Client or dask_jobqueue.SLURMCluster

    Raises
    ------
    TypeError, ValueError
        For invalid arguments (the message names the argument).
    TimeoutError
        If fewer than ``n_workers_startup`` workers started within ``timeout`` (the
        cluster is closed and its jobs cancelled).
    ConnectionAbortedError
        If the user chose to abort at the prompt.

    Examples
    --------
    >>> client = slurm_cluster_setup(partition="8GBXS", n_workers=10,
    ...                              mem_per_worker="4GB", timeout=120)  # doctest: +SKIP
    """
    n_cores = _check_kwargs(dict(kwargs), check_int(n_cores, "n_cores", 1))
    n_workers = check_int(n_workers, "n_workers", 1)
    processes = check_int(processes_per_worker, "processes_per_worker", 1)
    if threads_per_worker is not None:
        threads = check_int(threads_per_worker, "threads_per_worker", 1)
        if n_cores not in (1, processes * threads):
            raise ValueError(
                f"`n_cores` ({n_cores}) has to be left at 1 or equal `processes_per_worker` "
                f"* `threads_per_worker` ({processes * threads}) when `threads_per_worker` "
                "is given")
        n_cores = processes * threads
    if processes > n_cores:
        raise ValueError(f"`processes_per_worker` ({processes}) cannot exceed the number of "
                         f"cores per worker `n_cores` ({n_cores})")
    mem_mb = parse_mem_mb(mem_per_worker)
    n_startup = check_startup(n_workers_startup, n_workers)
    timeout = check_int(timeout, "timeout", 0)
    interactive = check_bool(interactive, "interactive")
    interactive_wait = check_int(interactive_wait, "interactive_wait", 0)
    start_client = check_bool(start_client, "start_client")
    tls = check_bool(tls, "tls")
    extra, output_dir = _check_job_extra(job_extra)
    worker_args = None if worker_extra_args is None else check_str_list(
        worker_extra_args, "worker_extra_args")
    if scheduler_options is not None and not isinstance(scheduler_options, dict):
        raise TypeError(f"`scheduler_options` has to be a dict, not {type(scheduler_options)}")
    avail = check_str_list(avail_partitions, "avail_partitions")
    invalid = check_str_list(invalid_partitions, "invalid_partitions")
    mem_cushion = check_int(mem_cushion, "mem_cushion", 0)
    if output_dir is not None and log_directory is not None:
        raise ValueError("Give the job output location either as `log_directory` or as "
                         "'--output=...' in `job_extra`, not both")

    partition = _check_partition(partition, avail, invalid)
    max_cpus = partition_max_cpus(partition)
    if max_cpus and n_cores > max_cpus:
        raise ValueError(f"`n_cores` ({n_cores}) exceeds the {max_cpus} CPUs of the largest "
                         f"node in partition {partition}")
    limit = partition_memory_limit(partition, n_cores) - mem_cushion
    if mem_mb > limit:
        log.warning("`mem_per_worker` exceeds limit of %d MB for partition %s. "
                    "Capping memory at partition limit.", limit, partition)
        mem_mb = limit
    if mem_mb <= 0:
        raise ValueError(f"Partition {partition} leaves no memory per job after a "
                         f"`mem_cushion` of {mem_cushion} MB")

    if output_dir is None:
        if log_directory is None:
            output_dir = _fresh_log_directory()
        else:
            output_dir = Path(log_directory).expanduser().absolute()
            output_dir.mkdir(parents=True, exist_ok=True)
        extra.append(f"--output={output_dir / 'slurm-%j.out'}")
    log.info("SLURM job output goes to %s", output_dir)

    security, tls_dir = temporary_credentials(output_dir) if tls else (None, None)
    # The variables are exported before `dask worker` starts: the nanny then passes
    # them to each worker process it spawns (they win over dask's defaults of 1).
    prologue = list(dask.config.get("jobqueue.slurm.job-script-prologue", None) or [])
    prologue += thread_exports(1 if threads_per_worker is None else threads_per_worker)
    cluster = _slurm_cluster_class()(
        # dask threads per process: one with threads_per_worker, else n_cores / processes
        cores=n_cores if threads_per_worker is None else processes, job_cpu=n_cores,
        processes=processes, job_script_prologue=prologue,
        memory=f"{mem_mb}MiB", job_mem=f"{mem_mb}M", queue=partition,
        python=sys.executable, job_name=f"acme-{secrets.token_hex(4)}",
        job_directives_skip=["#SBATCH -t "], job_extra_directives=extra,
        worker_extra_args=worker_args, scheduler_options=scheduler_options,
        security=security, shared_temp_directory=None if tls_dir is None else str(tls_dir))
    if tls_dir is not None:
        remove_with(cluster, tls_dir)
    try:
        log.debug("SLURM job script:\n%s", cluster.job_script())
        cluster.scale(jobs=n_workers)
        _wait_for_workers(cluster, n_startup * processes, n_workers * processes, timeout,
                          interactive, interactive_wait)
        client = distributed.Client(cluster) if start_client else None
    except BaseException:
        close_cluster(cluster)
        raise
    log.info("Parallel computing client ready, dashboard accessible at %s",
             cluster.dashboard_link)
    return client if client is not None else cluster
