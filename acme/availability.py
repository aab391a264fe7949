"""Waiting for dask workers: said out loud, bounded, and with lost SLURM jobs replaced.

A run's calls progress only while at least one dask worker runs. When none does (the
cluster is still starting, its SLURM jobs were cancelled or reached their wall time, a
call killed the last worker, every worker is paused because its memory is full), dask
itself waits forever without a word. :class:`WorkerWatch` stands between the run and
dask's completion iterator:

* while futures complete, it stays out of the way (one scheduler query per
  :data:`CHECK_INTERVAL` seconds without a completion, none otherwise);
* when no worker runs, it logs a warning and sets the progress bar's description, and
  logs again when workers are back;
* a cluster the run started through dask-jobqueue gets each lost job replaced (a job
  whose workers were connected and are gone), at once and before any giving up;
* after ``timeout`` seconds without any running worker it gives up: every call not yet
  finished is cancelled and comes back as a failure whose error is :class:`NoWorkerError`
  (so the run ends with :class:`~acme.ParallelMapError` naming those calls, and every
  finished result is kept).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import distributed

from .errors import NoWorkerError

__all__ = ["NoWorkerError", "WorkerCount", "WorkerWatch", "worker_count", "replicate_to_running",
           "CHECK_INTERVAL"]

#: Seconds without a completed task after which the scheduler is asked about its workers.
CHECK_INTERVAL = 1.0

#: Seconds between checks while futures complete (lost jobs are replaced meanwhile too).
_BUSY_CHECK_INTERVAL = 10.0

#: Seconds a query of the scheduler may take before it counts as "no answer".
_QUERY_TIMEOUT = 10.0


@dataclass(frozen=True)
class WorkerCount:
    """Workers the scheduler knows, by state, and the names of the connected ones."""

    running: int
    paused: int
    names: frozenset[str]
    running_addresses: frozenset[str] = frozenset()

    @property
    def total(self) -> int:
        return len(self.names)


def worker_count(client: distributed.Client, timeout: float = _QUERY_TIMEOUT) -> WorkerCount:
    """Ask the scheduler of ``client`` about its workers (none if it does not answer)."""
    try:
        info = client.sync(client.scheduler.identity, n_workers=-1, callback_timeout=timeout)
    except (OSError, TimeoutError, AttributeError):
        return WorkerCount(0, 0, frozenset())
    workers = info.get("workers", {})
    states = [str(w.get("status", "running")) for w in workers.values()]
    return WorkerCount(
        running=states.count("running"), paused=states.count("paused"),
        names=frozenset(str(w.get("name")) for w in workers.values()),
        running_addresses=frozenset(address for address, w in workers.items()
                                    if str(w.get("status", "running")) == "running"))


def replicate_to_running(client: distributed.Client, future: distributed.Future,
                         timeout: float = _QUERY_TIMEOUT) -> bool:
    """Copy the result of ``future`` to every worker that runs now, if there are several
    and that can be done within about ``timeout`` seconds; return whether it was.

    Only an optimisation (chunks fetch it anyway): workers that are paused, still
    starting or leaving are left out, and nothing waits longer than ``timeout``
    (``Client.replicate`` alone waits for the future without limit and fails when a
    worker pauses meanwhile).
    """
    addresses = worker_count(client, timeout).running_addresses
    if len(addresses) < 2:
        return False  # nothing to copy to (and nothing to wait for silently)
    try:
        distributed.wait([future], timeout=timeout)
    except TimeoutError:
        return False
    if future.status != "finished":
        return False
    # The scheduler leaves out those of `addresses` that paused meanwhile; one that
    # left makes it raise.
    try:
        client.replicate([future], workers=sorted(addresses), callback_timeout=timeout)
    except Exception:  # a worker paused or left meanwhile: the chunks fetch it themselves
        return False
    return True


def _job_cluster(client: distributed.Client) -> Any | None:
    """The dask-jobqueue cluster behind ``client``, or None for any other."""
    cluster = client.cluster
    return cluster if cluster is not None and hasattr(cluster, "job_cls") else None


class WorkerWatch:
    """Watch the workers of one run's client while its futures complete.

    Parameters
    ----------
    client : distributed.Client
        The run's client.
    timeout : float
        Seconds the run waits while no worker runs before it gives up.
    log : logging.Logger
        Where the waiting is reported.
    replace_jobs : bool
        Replace lost jobs of a dask-jobqueue cluster (only for a cluster the run started).
    on_state : callable, optional
        Called with a short description while no worker runs (e.g. for the progress
        bar) and with None when workers run again.
    """

    def __init__(self, client: distributed.Client, timeout: float, log: logging.Logger,
                 replace_jobs: bool = False,
                 on_state: Callable[[str | None], None] | None = None) -> None:
        self.client = client
        self.timeout = timeout
        self.log = log
        self.on_state = on_state
        self.cluster = _job_cluster(client) if replace_jobs else None
        self.wanted_jobs = len(self.cluster.worker_spec) if self.cluster is not None else 0
        self._seen: set[str] = set()        # worker names ever connected
        self._waiting_since: float | None = None
        self.error: NoWorkerError | None = None  # set when the run gave up

    # -- the run's loop ---------------------------------------------------------------
    def completed(self, pending: distributed.as_completed,
                  tick: Callable[[], None] | None = None) -> Iterator[distributed.Future]:
        """Yield the futures of ``pending`` as they complete (futures may be added
        meanwhile); check the workers whenever nothing completes for a while. ``tick``
        is called on every turn (it limits its own rate; it may add futures).

        After giving up, every future still pending (also one added later) is
        cancelled and yielded as it comes back.
        """
        if self.cluster is not None:  # who is there now, to notice who goes missing
            self._seen |= worker_count(self.client).names
        last = checked = time.monotonic()
        condition: threading.Condition = pending.thread_condition
        while not pending.is_empty():
            if tick is not None and self.error is None:
                tick()
                if pending.is_empty():
                    break
            now = time.monotonic()
            waiting = self._waiting_since is not None
            if pending.has_ready():
                if self.error is None and (now - checked >= _BUSY_CHECK_INTERVAL or (
                        waiting and now - checked >= CHECK_INTERVAL)):
                    self.check()
                    checked = now
                future = next(pending)
                if future.status == "finished" and self._waiting_since is not None:
                    self._available(None)  # a result came back: a worker ran it
                yield future
                last = time.monotonic()
                continue
            if self.error is not None:
                self._cancel(pending)
            elif now - (checked if waiting else max(last, checked)) >= CHECK_INTERVAL:
                self.check()
                checked = time.monotonic()
            with condition:
                condition.wait(timeout=0.1)

    def check(self) -> None:
        """Look at the workers once: report a change, replace lost jobs, give up."""
        count = worker_count(self.client)
        lost = self._seen - count.names
        self._seen |= count.names
        if lost and self.cluster is not None:
            self._replace(lost)
        if count.running:
            if self._waiting_since is not None:
                self._available(count.running)
            return
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
            what = (f"all {count.total} workers are paused (their memory is full)"
                    if count.paused else "no dask worker is connected")
            self.log.warning("No dask worker is available: %s. Waiting up to %g s for "
                             "workers (`setup_timeout`)", what, self.timeout)
            if self.on_state is not None:
                self.on_state("waiting for workers")
        elif now - self._waiting_since > self.timeout:
            self.error = NoWorkerError(
                f"no dask worker was available for {self.timeout:g} s (`setup_timeout`): "
                "the call did not run")
            self.log.error("No dask worker was available for %g s: giving up; the calls "
                           "not finished yet fail", self.timeout)

    def read(self, future: distributed.Future) -> Any:
        """``future.result()``, but never blocked past the run's bound.

        A finished result whose worker died before it was read is computed again,
        which needs a worker; meanwhile the workers are checked as in :meth:`completed`
        (lost jobs replaced). The transfer itself is never restarted, so large results
        take the time they need.

        Raises
        ------
        NoWorkerError
            If the run gave up waiting for workers.
        Exception
            Whatever ``future.result()`` raises.
        """
        client = self.client
        loop = client.loop.asyncio_loop  # type: ignore[union-attr]  # set while connected
        transfer = asyncio.run_coroutine_threadsafe(
            client.gather([future], asynchronous=True), loop)
        try:
            while True:
                try:
                    return transfer.result(timeout=CHECK_INTERVAL)[0]
                except concurrent.futures.TimeoutError:
                    self.check()
                    if self.error is not None:
                        raise self.error from None
        finally:
            transfer.cancel()

    # -- helpers ----------------------------------------------------------------------
    def _available(self, running: int | None) -> None:
        """Workers run again (``running`` of them, if known): say so, stop waiting."""
        assert self._waiting_since is not None
        self.log.info("%s running again after %.0f s",
                      "Dask workers are" if running is None else f"{running} dask worker(s)",
                      time.monotonic() - self._waiting_since)
        self._waiting_since = None
        if self.on_state is not None:
            self.on_state(None)

    def _cancel(self, pending: distributed.as_completed) -> None:
        with pending.lock:
            waiting = [f for f in pending.futures if f.status not in ("finished", "error",
                                                                        "cancelled")]
        if waiting:
            self.client.cancel(waiting)

    def _replace(self, lost: set[str]) -> None:
        """Submit new jobs for the jobs whose workers have all gone."""
        cluster = self.cluster
        assert cluster is not None
        connected = self._seen - lost
        dead = [name for name in list(cluster.worker_spec)
                if any(_of_job(w, name) for w in lost)
                and not any(_of_job(w, name) for w in connected)]
        if not dead:
            return
        for name in dead:
            cluster.worker_spec.pop(name, None)
        self._seen -= {w for w in lost if any(_of_job(w, name) for name in dead)}
        self.log.warning("%d SLURM job(s) of this run ended (%s): submitting %d new one(s)",
                         len(dead), ", ".join(map(str, dead)), len(dead))
        cluster.scale(jobs=self.wanted_jobs)


def _of_job(worker_name: str, job_name: str) -> bool:
    """Whether a worker belongs to a job (a job with several processes names its
    workers ``<job>-0``, ``<job>-1``...)."""
    return worker_name == job_name or worker_name.startswith(f"{job_name}-")
