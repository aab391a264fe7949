"""Shut down a client, its workers and its cluster, cancelling every SLURM job it submitted."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import distributed

from ..log import shows_messages
from .detect import SLURMCommandError, run_slurm_command

__all__ = ["cluster_cleanup", "close_cluster"]

log = logging.getLogger("ACME")

#: Job names :func:`~acme.clusters.slurm.slurm_cluster_setup` gives its clusters (unique).
ACME_JOB_NAME = re.compile(r"acme-[0-9a-f]{8}")

#: Seconds to wait for cancelled SLURM jobs to leave the queue.
_CANCEL_WAIT = 30.0


def _job_ids(cluster: Any) -> list[str]:
    """SLURM job ids a dask-jobqueue cluster has submitted (empty for other clusters)."""
    ids = []
    for job in list(getattr(cluster, "workers", {}).values()):
        job_id = getattr(job, "job_id", None)
        if job_id:
            ids.append(str(job_id))
    return ids


def _still_active(job_ids: list[str], job_name: str | None) -> list[str]:
    """Those of ``job_ids`` (or jobs named ``job_name``) that are queued and not completing."""
    out = run_slurm_command(["squeue", "-h", "-o", "%i %j %t"])
    active = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] != "CG" and (parts[0] in job_ids or parts[1] == job_name):
            active.append(parts[0])
    return active


def close_cluster(cluster: Any) -> None:
    """Close ``cluster``; for a SLURM cluster make sure none of its jobs stays queued.

    dask-jobqueue cancels the jobs it knows about when the cluster closes. Jobs that are
    still pending or running afterwards (e.g. submitted while closing) are cancelled by id,
    or by the cluster's unique job name when it has one (bounded wait). Jobs that are
    completing (``CG``) leave the queue by themselves within seconds.
    """
    job_ids = _job_ids(cluster)
    job_name = getattr(cluster, "job_name", None)
    if not (isinstance(job_name, str) and ACME_JOB_NAME.fullmatch(job_name)):
        job_name = None  # never cancel by a name other clusters may share
    cluster.close()
    if not job_ids and not job_name:
        return
    try:
        deadline = time.monotonic() + _CANCEL_WAIT
        while left := _still_active(job_ids, job_name):
            if time.monotonic() > deadline:
                log.warning("SLURM jobs %s are still queued %d s after cancelling them",
                            ", ".join(left), _CANCEL_WAIT)
                return
            run_slurm_command(["scancel", *left])
            time.sleep(0.25)  # bounded wait for the SLURM queue to drain
    except SLURMCommandError as exc:
        log.warning("Could not verify that SLURM jobs %s were cancelled: %s",
                    ", ".join(job_ids) or job_name, exc)


def _describe(client: distributed.Client) -> str:
    cluster = client.cluster
    address = getattr(client.scheduler, "address", None) or "an unknown address"
    if cluster is None:
        return f"client connected to {address}"
    return f"{type(cluster).__name__} hosted on {address}"


@shows_messages
def cluster_cleanup(client: distributed.Client | None = None) -> None:
    """Retire the workers of ``client``, close it and close its cluster.

    A SLURM cluster's jobs are cancelled, pending ones included.

    Parameters
    ----------
    client : distributed.Client, optional
        The client to shut down; default: the current default client, if any.

    Raises
    ------
    TypeError
        If ``client`` is not a ``distributed.Client``.

    Examples
    --------
    >>> from acme import local_cluster_setup, cluster_cleanup  # doctest: +SKIP
    >>> client = local_cluster_setup(interactive=False)  # doctest: +SKIP
    >>> cluster_cleanup(client)  # doctest: +SKIP
    """
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            log.warning("No dangling clients or clusters found.")
            return
    if not isinstance(client, distributed.Client):
        raise TypeError(
            f"`client` has to be a distributed.Client (or None), not {type(client)}")
    description = _describe(client)
    cluster = client.cluster
    n_workers = 0
    if client.status == "running":
        try:
            n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
            if cluster is None:
                # Only the scheduler knows these workers (e.g. a client of a remote
                # scheduler): ask it to shut them down.
                client.retire_workers(close_workers=True)
        except (OSError, TimeoutError) as exc:
            log.debug("Could not retire the workers of %s: %s", description, exc)
    # Client first, then the cluster, which stops its workers through their nannies
    # (or cancels their jobs). Retiring the workers first as well would make dask log
    # closed connections and heartbeats of unknown workers, and cost seconds.
    client.close()
    if cluster is not None:
        close_cluster(cluster)
    log.info("Successfully shut down %s containing %d workers", description, n_workers)
