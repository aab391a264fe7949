"""What the SLURM controller reports, and whether a client can still be used.

Every SLURM command (``sinfo``, ``scontrol``, ``squeue``, ``scancel``) runs through
:func:`run_slurm_command`, which raises :class:`SLURMCommandError` carrying the command,
its exit code, stdout and stderr. Nothing is cached: each query asks the controller again
(a query takes milliseconds, and partitions or node states may change between runs).

Memory is counted in SLURM's megabytes (``--mem=1000M``, ``MaxMemPerNode=1000``) and,
as in ACME, one GB is 1000 of them (``"8GB"`` requests ``--mem=8000M``).
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence

import distributed

from ..errors import SLURMCommandError

__all__ = [
    "SLURMCommandError",
    "run_slurm_command",
    "slurm_available",
    "slurm_partitions",
    "default_partition",
    "partition_info",
    "partition_memory_limit",
    "partition_default_memory",
    "partition_max_cpus",
    "choose_partition",
    "client_is_usable",
]

log = logging.getLogger("ACME")

#: Seconds a single SLURM query may take before it counts as failed.
COMMAND_TIMEOUT = 30.0


def run_slurm_command(cmd: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> str:
    """Run one SLURM command and return its standard output.

    Parameters
    ----------
    cmd : sequence of str
        Program and arguments, e.g. ``["sinfo", "-h", "-o", "%P"]`` (no shell).
    timeout : float
        Seconds before the command counts as failed.

    Returns
    -------
    str
        The command's standard output.

    Raises
    ------
    SLURMCommandError
        If the program is missing, times out or exits with a non-zero code.
    """
    cmd = [str(part) for part in cmd]
    log.debug("Running %s", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError as exc:
        raise SLURMCommandError(cmd, None, "", str(exc), reason="could not be started") from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise SLURMCommandError(cmd, None, out, err,
                                reason=f"timed out after {timeout:g} s") from exc
    if proc.returncode != 0:
        raise SLURMCommandError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def slurm_available() -> bool:
    """Whether a SLURM controller answers on this machine.

    True only if ``sinfo`` runs and exits with 0: an installed client whose controller
    cannot be reached does not count.
    """
    if shutil.which("sinfo") is None:
        return False
    try:
        run_slurm_command(["sinfo", "-h", "-o", "%P"], timeout=10)
    except SLURMCommandError as exc:
        log.debug("SLURM not available: %s", exc)
        return False
    return True


def _sinfo_partitions() -> list[str]:
    out = run_slurm_command(["sinfo", "-h", "-o", "%P"])
    return [line.strip() for line in out.splitlines() if line.strip()]


def slurm_partitions() -> list[str]:
    """Names of the partitions ``sinfo`` reports, in its order (the default's ``*`` removed)."""
    names: list[str] = []
    for name in _sinfo_partitions():
        name = name.rstrip("*")
        if name not in names:
            names.append(name)
    return names


def default_partition() -> str | None:
    """The partition SLURM uses when a job names none (marked ``*`` by ``sinfo``)."""
    for name in _sinfo_partitions():
        if name.endswith("*"):
            return name.rstrip("*")
    return None


def partition_info(partition: str) -> dict[str, str]:
    """``scontrol show partition -o <partition>`` as a ``{key: value}`` dict."""
    out = run_slurm_command(["scontrol", "show", "partition", "-o", partition])
    info: dict[str, str] = {}
    for token in out.split():
        key, sep, value = token.partition("=")
        if sep:
            info[key] = value
    return info


_MEM_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$", re.IGNORECASE)
_MEM_FACTORS = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}


def _slurm_mb(value: str | None) -> int | None:
    """A memory value as SLURM prints it (``8000``, ``8G``, ``UNLIMITED``) in MB; None if
    unlimited or unset."""
    if value is None:
        return None
    match = _MEM_RE.match(value.strip())
    if match is None:
        return None
    mb = math.floor(float(match.group(1)) * _MEM_FACTORS[match.group(2).upper()])
    return mb if mb > 0 else None


def _node_values(partition: str, field: str) -> list[int]:
    """Per-node integer values (``%m`` memory, ``%c`` CPUs) of a partition's nodes."""
    out = run_slurm_command(["sinfo", "-h", "-N", "-p", partition, "-o", field])
    return [int(v) for v in re.findall(r"\d+", out)]


def partition_memory_limit(partition: str, n_cores: int = 1) -> int:
    """The most memory (MB) one job with ``n_cores`` CPUs can get in ``partition``.

    ``MaxMemPerNode``, else ``MaxMemPerCPU * n_cores``; never more than the largest node's
    ``RealMemory``, which is also the limit when the partition sets none. QoS limits are
    not consulted.
    """
    info = partition_info(partition)
    limit = _slurm_mb(info.get("MaxMemPerNode"))
    per_cpu = _slurm_mb(info.get("MaxMemPerCPU"))
    if limit is None and per_cpu is not None:
        limit = per_cpu * n_cores
    node_mem = max(_node_values(partition, "%m"), default=0)
    if limit is None:
        return node_mem
    return min(limit, node_mem) if node_mem else limit


def partition_default_memory(partition: str, n_cores: int = 1) -> int | None:
    """Memory (MB) SLURM gives a job without ``--mem`` in ``partition``, or None if unset.

    The partition's ``DefMemPerCPU * n_cores`` or ``DefMemPerNode``, else the cluster-wide
    setting of ``scontrol show config``.
    """
    info = partition_info(partition)
    per_cpu = _slurm_mb(info.get("DefMemPerCPU"))
    if per_cpu is not None:
        return per_cpu * n_cores
    per_node = _slurm_mb(info.get("DefMemPerNode"))
    if per_node is not None:
        return per_node
    config = run_slurm_command(["scontrol", "show", "config"])
    for key, factor in (("DefMemPerCPU", n_cores), ("DefMemPerNode", 1)):
        match = re.search(rf"^{key}\s*=\s*(\S+)", config, re.MULTILINE)
        value = _slurm_mb(match.group(1)) if match else None
        if value is not None:
            return value * factor
    return None


def partition_max_cpus(partition: str) -> int:
    """CPUs of the largest node in ``partition`` (capped by its ``MaxCPUsPerNode``)."""
    cpus = max(_node_values(partition, "%c"), default=0)
    cap = partition_info(partition).get("MaxCPUsPerNode", "UNLIMITED")
    return min(cpus, int(cap)) if cap.isdigit() else cpus


def _up_partitions() -> list[str]:
    out = run_slurm_command(["sinfo", "-h", "-o", "%P %a"])
    names: list[str] = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "up" and parts[0].rstrip("*") not in names:
            names.append(parts[0].rstrip("*"))
    return names


def choose_partition(mem_gb: float, candidates: Iterable[str] | None = None,
                     n_cores: int = 1, mem_cushion: int = 0) -> str:
    """The partition with the smallest memory limit that still fits ``mem_gb``.

    Parameters
    ----------
    mem_gb : float
        Memory one job needs, in GB (1 GB = 1000 SLURM MB).
    candidates : iterable of str, optional
        Partitions to choose from (those that are not up are skipped); default: every
        partition.
    n_cores : int
        CPUs per job (matters for partitions limiting memory per CPU).
    mem_cushion : int
        MB kept free below each partition's limit.

    Returns
    -------
    str
        The chosen partition. Among equal limits the default partition wins, then the
        order of ``sinfo``.

    Raises
    ------
    ValueError
        If no candidate offers enough memory.
    """
    if isinstance(mem_gb, bool) or not isinstance(mem_gb, (int, float)) or mem_gb <= 0:
        raise ValueError(f"`mem_gb` has to be a positive number, not {mem_gb!r}")
    up = _up_partitions()
    names = [name for name in candidates if name in up] if candidates is not None else up
    if not names:
        raise ValueError("No SLURM partition to choose from")
    needed = math.ceil(mem_gb * 1000)
    default = default_partition()
    limits = {name: partition_memory_limit(name, n_cores) - mem_cushion for name in names}
    fitting = [name for name in names if limits[name] >= needed]
    if not fitting:
        largest = max(names, key=lambda name: limits[name])
        raise ValueError(
            f"No SLURM partition offers {mem_gb:g} GB ({needed} MB) per job: the largest "
            f"limit is {limits[largest]} MB in partition {largest}")
    return min(fitting, key=lambda name: (limits[name], name != default, names.index(name)))


def client_is_usable(client: distributed.Client, timeout: float = 5.0) -> bool:
    """Whether ``client`` is connected to a scheduler that has at least one running worker.

    A client whose scheduler is gone, whose cluster is closing, or whose workers were all
    killed (e.g. their SLURM jobs cancelled) is not usable.

    Parameters
    ----------
    client : distributed.Client
        The client to probe.
    timeout : float
        Seconds to wait for the scheduler's answer.

    Raises
    ------
    TypeError
        If ``client`` is not a ``distributed.Client``.
    """
    if not isinstance(client, distributed.Client):
        raise TypeError(f"`client` has to be a distributed.Client, not {type(client)}")
    if client.status != "running":
        return False
    cluster = client.cluster
    if cluster is not None and str(getattr(cluster, "status", "")).endswith(("closing", "closed")):
        return False
    try:
        info = client.sync(client.scheduler.identity, n_workers=-1, callback_timeout=timeout)
    except (OSError, TimeoutError) as exc:
        log.debug("Client %s does not answer: %s", client, exc)
        return False
    workers = info.get("workers", {}).values()
    return any(worker.get("status", "running") == "running" for worker in workers)
