"""Site profiles: what one HPC site needs, as data, on top of :func:`slurm_cluster_setup`.

A profile is a JSON file ``<name>.json``; the profile's name is the file's stem. Profiles are
looked up, first match wins, in

1. the files and directories listed in the environment variable ``ACME_PROFILE_PATH``
   (separated by ``os.pathsep``, i.e. ``:`` on Linux),
2. ``$XDG_CONFIG_HOME/acme/profiles/`` (default ``~/.config/acme/profiles/``),
3. the profiles shipped with acme (``acme/profiles/``: ``esi``, ``bic``).

So a site is added, or a shipped profile overridden, without editing the package. Use a
profile with ``profile_cluster_setup("<name>", partition=...)``; ``esi_cluster_setup`` and
``bic_cluster_setup`` are that call for the shipped ones. :func:`detect_profile` picks the
profile for this machine: the one named by ``ACME_PROFILE`` (``none`` for no profile), else
the first whose ``match`` block applies.

Keys (all optional)::

    description         free text
    match               {"hostname_prefixes": [...], "paths_exist": [...]}: the profile
                        applies when the short host name starts with one of the prefixes
                        and one of the paths exists (an empty list is not checked)
    defaults            {"n_workers", "timeout", "interactive_wait", "mem_cushion",
                         "max_auto_workers", "tls"}: keyword defaults of
                        profile_cluster_setup ("max_auto_workers" and "tls": of the
                        clusters ParallelMap starts)
    invalid_partitions  partitions never to use
    default_partition   partition for partition="auto" when nothing is known about memory
    auto_partitions     regular expression: the partitions partition="auto" chooses from
    arch_suffix         {"<platform.machine()>": "<text>"}: replaces "{arch}" in the
                        partition entries
    log_directory       job-output directory; "{user}" and "{timestamp}" are filled in.
                        Used only if the path before the first "{" exists
    mem_default         "limit" (the partition's memory limit) or "slurm" (SLURM's default
                        per CPU) for mem_per_worker="auto"
    cores_from_memory   "floor", "round" or null: cores per worker = memory / DefMemPerCPU
                        when cores_per_worker is None (else 1)
    worker_extra_args   more `dask worker` options
    dashboard_hint      logged after start-up; "{host}", "{port}", "{user}" are filled in

Example ``~/.config/acme/profiles/mylab.json``::

    {"defaults": {"n_workers": 4, "timeout": 300},
     "default_partition": "short", "log_directory": "/scratch/{user}/slurm/{timestamp}"}
"""

from __future__ import annotations

import getpass
import json
import logging
import math
import os
import platform
import re
import socket
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import distributed

from .. import prompt as _prompt
from ..log import shows_messages
from ..validators import check_int, parse_mem_mb
from .cleanup import cluster_cleanup
from .detect import (
    choose_partition,
    client_is_usable,
    default_partition,
    partition_default_memory,
    partition_max_cpus,
    partition_memory_limit,
    slurm_available,
    slurm_partitions,
)
from .local import local_cluster_setup
from .slurm import _check_partition, slurm_cluster_setup

__all__ = ["Profile", "DEFAULTS", "profile_default", "load_profile", "available_profiles", "detect_profile",
           "resolve_partition", "profile_cluster_setup", "esi_cluster_setup",
           "bic_cluster_setup"]

log = logging.getLogger("ACME")

#: acme's own keyword defaults: what a profile's ``defaults`` block may change, and what
#: applies without a profile (the one source for ParallelMap's SLURM clusters too).
DEFAULTS = {"n_workers": 2, "timeout": 60, "interactive_wait": 120, "mem_cushion": 100,
            "max_auto_workers": 10, "tls": 1}


@dataclass(frozen=True)
class Profile:
    """One site's settings (see the module docstring for the meaning of each field)."""

    name: str
    source: Path
    description: str = ""
    match: dict[str, list[str]] = field(default_factory=dict)
    defaults: dict[str, int] = field(default_factory=dict)
    invalid_partitions: list[str] = field(default_factory=list)
    default_partition: str | None = None
    auto_partitions: str | None = None
    arch_suffix: dict[str, str] = field(default_factory=dict)
    log_directory: str | None = None
    mem_default: str = "slurm"
    cores_from_memory: str | None = None
    worker_extra_args: list[str] = field(default_factory=list)
    dashboard_hint: str | None = None

    def default(self, key: str) -> int:
        """A keyword default (``n_workers``, ``timeout``, ...) of this profile."""
        return int(self.defaults.get(key, DEFAULTS[key]))

    def _fill(self, text: str) -> str:
        return text.replace("{arch}", self.arch_suffix.get(platform.machine(), ""))

    def fallback_partition(self) -> str | None:
        """The partition for ``partition="auto"`` without a memory figure."""
        return self._fill(self.default_partition) if self.default_partition else None

    def auto_candidates(self) -> list[str]:
        """Partitions ``partition="auto"`` may choose from."""
        pattern = re.compile(self._fill(self.auto_partitions or ""))
        return [name for name in slurm_partitions()
                if pattern.search(name) and name not in self.invalid_partitions]

    def applies(self) -> bool:
        """Whether this machine matches the profile's ``match`` block (never if empty)."""
        prefixes = self.match.get("hostname_prefixes", [])
        paths = self.match.get("paths_exist", [])
        if not prefixes and not paths:
            return False
        host = socket.gethostname().split(".")[0]
        return ((not prefixes or host.startswith(tuple(prefixes)))
                and (not paths or any(Path(p).exists() for p in paths)))

    def run_log_directory(self) -> Path | None:
        """A fresh job-output directory from ``log_directory`` (None if not usable here)."""
        if not self.log_directory:
            return None
        if not Path(self.log_directory.split("{")[0] or ".").exists():
            log.debug("Log location %s of profile %s does not exist here",
                      self.log_directory, self.name)
            return None
        path = Path(self.log_directory.replace("{user}", getpass.getuser())
                    .replace("{timestamp}", time.strftime("%Y%m%d-%H%M%S"))).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def memory_mb(self, partition: str, n_cores: int = 1) -> int:
        """Memory per worker for ``mem_per_worker="auto"`` (before the cushion)."""
        limit = partition_memory_limit(partition, n_cores)
        if self.mem_default == "limit":
            return limit - self.default("mem_cushion")
        default = partition_default_memory(partition, n_cores)
        return min(default, limit) if default else limit - self.default("mem_cushion")

    def cores(self, partition: str, mem_mb: int) -> int:
        """Cores per worker when ``cores_per_worker`` is None."""
        if self.cores_from_memory not in ("floor", "round"):
            return 1
        per_cpu = partition_default_memory(partition, 1)
        if not per_cpu:
            return 1
        ratio = mem_mb / per_cpu
        cores = math.floor(ratio) if self.cores_from_memory == "floor" else round(ratio)
        return max(1, min(cores, partition_max_cpus(partition) or cores))


def profile_default(profile: Profile | None, key: str) -> int:
    """Keyword default ``key`` of ``profile``, or :data:`DEFAULTS` without a profile."""
    return profile.default(key) if profile is not None else int(DEFAULTS[key])


_FIELDS = {name for name in Profile.__dataclass_fields__ if name not in ("name", "source")}


def _search_path() -> list[Path]:
    paths = [Path(p).expanduser()
             for p in os.environ.get("ACME_PROFILE_PATH", "").split(os.pathsep) if p]
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    paths.append(Path(config) / "acme" / "profiles")
    paths.append(Path(str(resources.files("acme").joinpath("profiles"))))
    return paths


def available_profiles() -> dict[str, Path]:
    """Profile name -> file, in lookup order (earlier entries win)."""
    found: dict[str, Path] = {}
    for entry in _search_path():
        files = sorted(entry.glob("*.json")) if entry.is_dir() else [entry]
        for file in files:
            if file.suffix == ".json" and file.is_file():
                found.setdefault(file.stem, file)
    return found


def load_profile(name: str) -> Profile:
    """Read profile ``name`` (see the module docstring for where it is looked up).

    Raises
    ------
    ValueError
        If there is no such profile or its file is not a valid profile.
    """
    profiles = available_profiles()
    if name not in profiles:
        raise ValueError(f"Unknown site profile {name!r}; available profiles are "
                         f"{', '.join(profiles) or 'none'}")
    source = profiles[name]
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"Cannot read site profile {source}: {exc}") from exc
    if not isinstance(data, dict) or set(data) - _FIELDS:
        unknown = sorted(set(data) - _FIELDS) if isinstance(data, dict) else data
        raise ValueError(f"Site profile {source} has unknown keys {unknown}; valid keys are "
                         f"{', '.join(sorted(_FIELDS))}")
    if data.get("mem_default", "slurm") not in ("slurm", "limit"):
        raise ValueError(f"Site profile {source}: `mem_default` has to be 'slurm' or 'limit'")
    if set(data.get("defaults", {})) - set(DEFAULTS):
        raise ValueError(f"Site profile {source}: `defaults` may only set "
                         f"{', '.join(DEFAULTS)}")
    try:
        for key, value in data.get("defaults", {}).items():
            check_int(value, f"defaults.{key}", minimum=0)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Site profile {source}: {exc}") from None
    return Profile(name=name, source=source, **data)


def detect_profile() -> Profile | None:
    """The profile for this machine: ``$ACME_PROFILE``, else the first that applies."""
    chosen = os.environ.get("ACME_PROFILE")
    if chosen is not None:
        return None if chosen.lower() in ("", "none") else load_profile(chosen)
    for name in available_profiles():
        try:
            profile = load_profile(name)
        except ValueError as exc:
            # A broken file for some other site must not stop this machine's runs.
            log.warning("Skipping site profile %r: %s", name, exc)
            continue
        if profile.applies():
            return profile
    return None


def _existing_client() -> distributed.Client | None:
    try:
        client = distributed.get_client()
    except ValueError:
        return None
    if client_is_usable(client):
        log.info("Found existing parallel computing client %s. Not starting new cluster.",
                 client)
        return client
    log.warning("Existing parallel computing client %s has no running workers: shutting "
                "it down", client)
    cluster_cleanup(client)
    return None


def _local_fallback(n_workers: int, interactive: bool) -> distributed.Client | None:
    host = socket.gethostname()
    if interactive and _prompt.stdin_is_tty():
        answer = _prompt.ask(
            f"SLURM does not seem to be installed on this machine ({host}). Do you want to "
            "start a local multi-processing computing client instead? [y/N]",
            ["y", "yes", "n", "no"], "n")
        if answer not in ("y", "yes"):
            raise OSError(f"Cannot access SLURM queuing system from node {host}")
    else:
        log.warning("SLURM is not available on %s: starting a local cluster instead", host)
    return local_cluster_setup(n_workers=n_workers, interactive=False)


def resolve_partition(partition: str, mem_gb: float | None, profile: Profile | None, *,
                      n_cores: int = 1, mem_cushion: int = 0,
                      estimate_gb: float | None = None) -> str:
    """The partition a SLURM cluster asks for: the one rule of ``partition="auto"``.

    Parameters
    ----------
    partition : str
        A partition name (checked and returned) or ``"auto"``: the partition with the
        smallest memory limit that fits ``mem_gb`` among the ``profile``'s
        ``auto_partitions`` (every partition without a profile); without a memory
        figure, the profile's ``default_partition``, else SLURM's default partition.
    mem_gb : float or None
        Memory one job needs, in GB (None: not known).
    profile : Profile or None
        The site profile.
    n_cores : int
        CPUs per job (for partitions that limit memory per CPU).
    mem_cushion : int
        MB kept free below a partition's limit.
    estimate_gb : float, optional
        The estimate to name in the log (default: ``mem_gb``).

    Raises
    ------
    TypeError
        If ``partition`` is not a string.
    ValueError
        If the partition does not exist or is excluded by the profile, or no candidate
        offers enough memory.
    """
    if partition == "auto":
        if mem_gb is not None:
            candidates = profile.auto_candidates() if profile else None
            partition = choose_partition(mem_gb, candidates, mem_cushion=mem_cushion,
                                         n_cores=n_cores)
            shown = mem_gb if estimate_gb is None else estimate_gb
            log.info("Picked partition %s based on estimated memory consumption of %s GB",
                     partition, f"{shown:g}")
        else:
            fallback = profile.fallback_partition() if profile else None
            partition = fallback or default_partition() or partition
            log.info("Using partition %s (no memory estimate available)", partition)
    return _check_partition(partition, [], profile.invalid_partitions if profile else [])


def _has_output(job_extra: Any) -> bool:
    return isinstance(job_extra, (list, tuple)) and any(
        isinstance(opt, str) and opt.startswith(("--output", "-o")) for opt in job_extra)


@shows_messages
def profile_cluster_setup(profile: str | Profile, partition: str, n_workers: int | None = None,
                          mem_per_worker: str = "auto", cores_per_worker: int | None = None,
                          n_workers_startup: int = 1, timeout: int | None = None,
                          interactive: bool = True, interactive_wait: int | None = None,
                          start_client: bool = True,
                          job_extra: list[str] = [],  # noqa: B006 (never mutated)
                          mem_cushion: int | None = None, **kwargs: Any) -> Any:
    """Start a SLURM cluster with a site profile's defaults.

    Reuses the current default client if it has running workers (and shuts it down if it
    has none); falls back to a local cluster when SLURM is unavailable (asking first on a
    terminal). ``None`` for ``n_workers``, ``timeout``, ``interactive_wait`` and
    ``mem_cushion`` means the profile's default. ``partition="auto"`` takes the smallest
    of the profile's ``auto_partitions`` that fits ``mem_per_worker`` (given or
    ``"estimate_memuse:<GB>"``), else its ``default_partition``. ``mem_per_worker="auto"``
    and ``cores_per_worker=None`` follow the profile's ``mem_default`` and
    ``cores_from_memory``. Other keywords go to :func:`slurm_cluster_setup`.

    Returns
    -------
    distributed.Client, dask_jobqueue.SLURMCluster or None
        As :func:`slurm_cluster_setup`; None if the local fallback was declined.
    """
    site = profile if isinstance(profile, Profile) else load_profile(profile)
    n_workers = site.default("n_workers") if n_workers is None else n_workers
    timeout = site.default("timeout") if timeout is None else timeout
    interactive_wait = (site.default("interactive_wait") if interactive_wait is None
                        else interactive_wait)
    mem_cushion = site.default("mem_cushion") if mem_cushion is None else mem_cushion

    client = _existing_client()
    if client is not None:
        return client
    if not slurm_available():
        return _local_fallback(n_workers, interactive)

    estimate = None
    if isinstance(mem_per_worker, str) and mem_per_worker.startswith("estimate_memuse:"):
        estimate = float(mem_per_worker.split(":", 1)[1])  # ACME's dry-run estimate (GB)
        mem_per_worker = "auto"
    if mem_per_worker != "auto":
        estimate = parse_mem_mb(mem_per_worker) / 1000
    partition = resolve_partition(partition, estimate, site, mem_cushion=mem_cushion)
    if mem_per_worker == "auto":
        mem_per_worker = f"{site.memory_mb(partition, cores_per_worker or 1)}MB"
    if cores_per_worker is None:
        mem_mb = parse_mem_mb(mem_per_worker) if mem_per_worker != "auto" else 0
        cores_per_worker = site.cores(partition, mem_mb) if mem_mb else 1
    if "log_directory" not in kwargs and not _has_output(job_extra):
        kwargs["log_directory"] = site.run_log_directory()
    if site.worker_extra_args:
        kwargs["worker_extra_args"] = [*site.worker_extra_args,
                                       *(kwargs.get("worker_extra_args") or [])]

    result = slurm_cluster_setup(
        partition=partition, n_cores=cores_per_worker, n_workers=n_workers,
        mem_per_worker=mem_per_worker, n_workers_startup=n_workers_startup, timeout=timeout,
        interactive=interactive, interactive_wait=interactive_wait, start_client=start_client,
        job_extra=job_extra, invalid_partitions=site.invalid_partitions,
        mem_cushion=mem_cushion, **kwargs)
    if site.dashboard_hint:
        link = urlparse(result.dashboard_link)
        log.info(site.dashboard_hint.replace("{host}", link.hostname or "")
                 .replace("{port}", str(link.port or "")).replace("{user}", getpass.getuser()))
    return result


def _preset_call(name: str, partition: str, n_workers: int | None,
                 mem_per_worker: str, cores_per_worker: int | None, n_workers_startup: int,
                 timeout: int | None, interactive: bool, interactive_wait: int | None,
                 start_client: bool, job_extra: list[str], mem_cushion: int | None,
                 kwargs: dict[str, Any]) -> Any:
    return profile_cluster_setup(
        name, partition, n_workers=n_workers, mem_per_worker=mem_per_worker,
        cores_per_worker=cores_per_worker, n_workers_startup=n_workers_startup,
        timeout=timeout, interactive=interactive, interactive_wait=interactive_wait,
        start_client=start_client, job_extra=job_extra, mem_cushion=mem_cushion, **kwargs)


# The presets' keywords default to None, "take it from the profile", so that a user's own
# esi.json / bic.json "defaults" block takes effect. The figures in their docstrings are
# those of the shipped profiles (a test compares them).


@shows_messages
def esi_cluster_setup(partition: str, n_workers: int | None = None,
                      mem_per_worker: str = "auto", cores_per_worker: int | None = None,
                      n_workers_startup: int = 1, timeout: int | None = None,
                      interactive: bool = True, interactive_wait: int | None = None,
                      start_client: bool = True,
                      job_extra: list[str] = [],  # noqa: B006 (ACME's default; never mutated)
                      mem_cushion: int | None = None, **kwargs: Any) -> Any:
    """ACME's ESI preset: :func:`profile_cluster_setup` with the ``esi`` profile.

    ``n_workers``, ``timeout``, ``interactive_wait`` and ``mem_cushion`` default to the
    ``esi`` profile's ``defaults`` block, overridable by your own ``esi.json`` (see
    :mod:`acme.clusters.profiles`). Shipped defaults: n_workers=2, timeout=60,
    interactive_wait=120, mem_cushion=100.

    Examples
    --------
    >>> client = esi_cluster_setup(partition="16GBXL", n_workers=10)  # doctest: +SKIP
    """
    return _preset_call("esi", partition, n_workers, mem_per_worker, cores_per_worker,
                        n_workers_startup, timeout, interactive, interactive_wait,
                        start_client, job_extra, mem_cushion, kwargs)


@shows_messages
def bic_cluster_setup(partition: str, n_workers: int | None = None,
                      mem_per_worker: str = "auto", cores_per_worker: int | None = None,
                      n_workers_startup: int = 1, timeout: int | None = None,
                      interactive: bool = True, interactive_wait: int | None = None,
                      start_client: bool = True,
                      job_extra: list[str] = [],  # noqa: B006 (ACME's default; never mutated)
                      mem_cushion: int | None = None, **kwargs: Any) -> Any:
    """ACME's CoBIC preset: :func:`profile_cluster_setup` with the ``bic`` profile.

    ``n_workers``, ``timeout``, ``interactive_wait`` and ``mem_cushion`` default to the
    ``bic`` profile's ``defaults`` block, overridable by your own ``bic.json`` (see
    :mod:`acme.clusters.profiles`). Shipped defaults: n_workers=2, timeout=120,
    interactive_wait=120, mem_cushion=500.

    Examples
    --------
    >>> client = bic_cluster_setup(partition="16GBSppc", n_workers=10)  # doctest: +SKIP
    """
    return _preset_call("bic", partition, n_workers, mem_per_worker, cores_per_worker,
                        n_workers_startup, timeout, interactive, interactive_wait,
                        start_client, job_extra, mem_cushion, kwargs)
