"""Shut down a client, its workers and its cluster, cancelling every SLURM job it submitted."""

from __future__ import annotations

import logging
import time
from typing import Any

import distributed

from .detect import SLURMCommandError, run_slurm_command

__all__ = ["cluster_cleanup", "close_cluster"]

log = logging.getLogger("ACME")

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


def _queued(job_ids: list[str], job_name: str | None) -> list[str]:
    """Those of ``job_ids`` (or jobs named ``job_name``) still in ``squeue``."""
    if not job_ids and not job_name:
        return []
    cmd = ["squeue", "-h", "-o", "%i"]
    if job_name:
        cmd += ["--name", job_name]
    out = run_slurm_command(cmd)
    queued = {line.strip() for line in out.splitlines() if line.strip()}
    if job_name:
        return sorted(queued)
    return [job_id for job_id in job_ids if job_id in queued]


def close_cluster(cluster: Any) -> None:
    """Close ``cluster``; for a SLURM cluster make sure none of its jobs stays queued.

    dask-jobqueue cancels the jobs it knows about when the cluster closes; jobs that are
    still in ``squeue`` afterwards (e.g. submitted while closing) are cancelled by id, or
    by the cluster's unique job name when it has one, and waited for (bounded).
    """
    job_ids = _job_ids(cluster)
    job_name = getattr(cluster, "_acme_job_name", None)
    cluster.close()
    if not job_ids and not job_name:
        return
    try:
        deadline = time.monotonic() + _CANCEL_WAIT
        while left := _queued(job_ids, job_name):
            # Completing (CG) jobs are gone within seconds; cancel what is still pending/running.
            run_slurm_command(["scancel", *left])
            if time.monotonic() > deadline:
                log.warning("SLURM jobs %s are still queued %d s after cancelling them",
                            ", ".join(left), _CANCEL_WAIT)
                return
            time.sleep(0.25)  # noqa: sleep-ok (bounded wait for the SLURM queue)
    except SLURMCommandError as exc:
        log.warning("Could not verify that SLURM jobs %s were cancelled: %s",
                    ", ".join(job_ids) or job_name, exc)


def _describe(client: distributed.Client) -> str:
    cluster = client.cluster
    address = getattr(client.scheduler, "address", None) or "an unknown address"
    if cluster is None:
        return f"client connected to {address}"
    return f"{type(cluster).__name__} hosted on {address}"


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
            client.retire_workers(close_workers=True)
        except (OSError, TimeoutError) as exc:
            log.debug("Could not retire the workers of %s: %s", description, exc)
    client.close()
    if cluster is not None:
        close_cluster(cluster)
    log.info("Successfully shut down %s containing %d workers", description, n_workers)
