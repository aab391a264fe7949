"""A ``distributed.LocalCluster`` of worker processes that run one call at a time."""

from __future__ import annotations

import logging
import os
from typing import Any

import distributed

from .. import prompt as _prompt
from ..log import shows_messages
from ..validators import check_bool, check_int, parse_mem_bytes
from .threads import thread_environment

__all__ = ["local_cluster_setup", "local_worker_count"]

log = logging.getLogger("ACME")

#: Where a local cluster listens unless told otherwise: this machine only.
LOOPBACK = "127.0.0.1"


class _PreSpawnNanny(distributed.Nanny):
    """A nanny whose ``env`` is in place before its worker process is spawned.

    The nanny's own ``env`` is applied inside the new process, after it has re-imported
    the user's ``__main__`` module (with ``spawn``), too late for a BLAS library loaded
    there; and the nanny's pre-spawn variables prefer values already set in this process
    (e.g. ``OMP_NUM_THREADS=1`` left behind by an earlier cluster). These are applied on
    every (re)start of the worker process.
    """

    def __init__(self, *args: Any, env: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "env": env})
        self.pre_spawn_env.update({name: str(value) for name, value in (env or {}).items()})


def _usable_cores() -> int:
    try:  # the cores this process may use (affinity, cpusets), not the machine's
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_worker_count(n_workers: int | str, n_calls: int, threads_per_worker: int = 1) -> int:
    """``"auto"``: one worker per ``threads_per_worker`` usable cores, but no more than calls."""
    if isinstance(n_workers, int):
        return n_workers
    return max(1, min(n_calls, _usable_cores() // threads_per_worker))


_MAIN_QUESTION = ("<local_cluster_setup> If launched from a script, did you wrap your code "
                  "inside an `if __name__ == \"__main__\":` block? [y/N]")


def _url_host(host: str) -> str:
    """``host`` as it goes before ``:port`` (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@shows_messages
def local_cluster_setup(n_workers: int | None = None, mem_per_worker: str | None = None,
                        interactive: bool = True, threads_per_worker: int = 1,
                        host: str = LOOPBACK) -> distributed.Client | None:
    """Start a ``LocalCluster`` of worker processes that run one call at a time each.

    Parameters
    ----------
    n_workers : int, optional
        Number of worker processes; default: one per ``threads_per_worker`` CPU cores.
    mem_per_worker : str, optional
        Memory limit per worker, e.g. ``"2GB"``; default: the machine's memory split
        evenly among the workers.
    interactive : bool
        If True and standard input is a terminal, first ask whether the calling script
        guards its code with ``if __name__ == "__main__":`` (worker processes re-import
        the script); answering no (the default) starts nothing.
    host : str
        Address the scheduler and the dashboard listen on. The default, the loopback
        address, keeps both reachable from this machine only (a dask scheduler runs
        whatever a connected client sends it); ``"0.0.0.0"`` or a network address
        widens that, e.g. to watch the dashboard from another machine.

    Returns
    -------
    distributed.Client or None
        The client, or None if the user answered no.

    Raises
    ------
    TypeError, ValueError
        For invalid arguments.

    Notes
    -----
    The dashboard uses port 8787 on ``host``, or a free port if that one is taken
    (distributed picks it and warns); the link is logged.

    Examples
    --------
    >>> client = local_cluster_setup(n_workers=2, interactive=False)  # doctest: +SKIP
    """
    n_workers = check_int(n_workers, "n_workers", minimum=1, allow_none=True)
    memory_limit: Any = "auto"
    if mem_per_worker is not None:
        memory_limit = parse_mem_bytes(mem_per_worker, "mem_per_worker")
    check_bool(interactive, "interactive")
    env = thread_environment(threads_per_worker)
    threads = int(env["OMP_NUM_THREADS"])
    if n_workers is None and threads > 1:
        n_workers = max(1, _usable_cores() // threads)

    if not isinstance(host, str) or not host:
        raise TypeError(f"`host` has to be an address like '127.0.0.1', not {host!r}")

    if interactive and _prompt.stdin_is_tty():
        answer = _prompt.ask(_MAIN_QUESTION, ["y", "yes", "n", "no"], "n")
        if answer not in ("y", "yes"):
            log.warning("Not starting a local cluster: put the code of your script inside "
                        "an `if __name__ == \"__main__\":` block first.")
            return None

    # One dask thread per process: the cores a worker owns go to its libraries' threads.
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                       processes=True, memory_limit=memory_limit, host=host,
                                       dashboard_address=f"{_url_host(host)}:8787",
                                       worker_class=_PreSpawnNanny, env=env)
    client = distributed.Client(cluster)
    log.info("Local parallel computing client ready, dashboard accessible at %s",
             client.dashboard_link)
    return client
