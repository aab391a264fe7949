"""Obtain the dask client of a run and give it back.

A run attaches to the current default ``distributed`` client when there is one (and
leaves it running), otherwise it starts a cluster: SLURM when a SLURM controller answers,
else a ``LocalCluster``. What happens at the end follows ``stop_client``.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import distributed

from .arguments import CallPlan
from .clusters import detect  # as a module: tests replace detect.slurm_available
from .clusters.cleanup import cluster_cleanup
from .clusters.local import local_cluster_setup, local_worker_count
from .clusters.run import start_slurm_client
from .dryrun import estimate_memory, worker_memory_gb
from .options import RunOptions, parse_mem_mb

__all__ = ["ClientHandle", "acquire", "acquire_client", "check_usable", "describe_client",
           "release", "shutdown"]


@dataclass(frozen=True)
class ClientHandle:
    """A client and whether this run started (owns) it."""

    client: distributed.Client
    owned: bool
    expected_workers: int


def _current_client() -> distributed.Client | None:
    try:
        return distributed.get_client()
    except ValueError:
        return None


def describe_client(handle: ClientHandle) -> str:
    """The client, its cluster and its workers, for the debug log."""
    client = handle.client
    info = client.scheduler_info(n_workers=-1) if _accepts_n_workers(client) \
        else client.scheduler_info()
    workers = info.get("workers", {})
    threads = sum(w.get("nthreads", 0) for w in workers.values())
    limits = sorted({w.get("memory_limit", 0) for w in workers.values()})
    memory = ", ".join(f"{m / 1e9:.2f} GB" if m else "unlimited" for m in limits) or "-"
    cluster = type(client.cluster).__name__ if client.cluster is not None else "none"
    return (f"Client {client.id} ({'started by this run' if handle.owned else 'attached'}), "
            f"scheduler {info.get('address')}, cluster {cluster}: {len(workers)} workers, "
            f"{threads} threads, memory limit per worker {memory}")


def _accepts_n_workers(client: distributed.Client) -> bool:
    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def check_usable(client: distributed.Client) -> None:
    """Raise ``RuntimeError`` (ACME's "no active workers found") unless ``client`` has a
    running scheduler with at least one worker."""
    if not detect.client_is_usable(client):
        raise RuntimeError(
            f"no active workers found in distributed computing client {client}. "
            "It cannot be reused: close it with `acme.cluster_cleanup(client)` (or "
            "`client.close()`) and run again to start a new cluster, or add workers to "
            "it first (e.g. `client.cluster.scale(n)`).")


def acquire(options: RunOptions, plan: CallPlan, log_dir: Path | None, log: logging.Logger
            ) -> ClientHandle:
    """Attach to the default client, or start a cluster for this run.

    A client that cannot run anything (scheduler gone, no workers) is never reused
    silently: the error says how to replace it.
    """
    def estimate_gb() -> float:
        return worker_memory_gb(estimate_memory(plan, plan.func, log=log))

    return acquire_client(options, plan.n_calls, log_dir, log, estimate_gb)


def acquire_client(options: RunOptions, n_calls: int | None, log_dir: Path | None,
                   log: logging.Logger, estimate_gb: Callable[[], float] | None = None
                   ) -> ClientHandle:
    """:func:`acquire` for ``n_calls`` calls (None: not known in advance, as for
    :class:`~acme.Executor`); ``estimate_gb`` measures a call's memory for
    ``partition="auto"`` (None: nothing to measure)."""
    client = _current_client()
    if client is not None:
        check_usable(client)
        log.info("Attaching to parallel computing client %s", client)
        if options.threads_per_worker != 1:
            log.warning("`threads_per_worker` only applies to clusters acme starts: the "
                        "workers of %s keep their settings", client)
        return ClientHandle(client, owned=False, expected_workers=len(client.nthreads()))

    # Without a known number of calls, nothing bounds the worker count but the cores
    # (locally) or the SLURM cap of n_workers="auto".
    n_bound = sys.maxsize if n_calls is None else n_calls
    if detect.slurm_available():
        estimate = None
        if options.partition == "auto":
            if options.mem_per_worker != "auto":
                # the user said what a worker needs: choose by that, measure nothing
                estimate = parse_mem_mb(options.mem_per_worker) / 1000
            elif estimate_gb is not None:
                estimate = estimate_gb()
        client = start_slurm_client(
            partition=options.partition, n_workers=options.n_workers,
            mem_per_worker=options.mem_per_worker, setup_timeout=options.setup_timeout,
            setup_interactive=options.setup_interactive, log_dir=log_dir, n_inputs=n_bound,
            mem_estimate_gb=estimate, processes_per_worker=options.processes_per_worker,
            threads_per_worker=options.threads_per_worker)
        jobs = len(client.cluster.worker_spec) if client.cluster is not None else 1
        expected = jobs * options.processes_per_worker
        return ClientHandle(client, owned=True, expected_workers=max(1, expected))

    n = local_worker_count(options.n_workers, n_bound, options.threads_per_worker)
    memory = None if options.mem_per_worker == "auto" else options.mem_per_worker
    local = local_cluster_setup(n_workers=n, mem_per_worker=memory, interactive=False,
                                threads_per_worker=options.threads_per_worker)
    assert local is not None  # only a prompt (interactive=True) returns None
    return ClientHandle(local, owned=True, expected_workers=n)


def shutdown(client: distributed.Client) -> None:
    """Close ``client`` and the cluster behind it (cancelling its SLURM jobs)."""
    cluster_cleanup(client)


def release(handle: ClientHandle, stop_client: bool | str, failed: bool) -> None:
    """Stop the client if ``stop_client`` says so; a failed run never leaves its own
    cluster behind."""
    stop = handle.owned if stop_client == "auto" else bool(stop_client)
    if stop or (failed and handle.owned):
        shutdown(handle.client)
