"""Load the user's function on each worker's main thread before its calls run.

Unpickling a function that lives in a module imports that module. Some modules install
a signal handler when they are imported (``dask_jobqueue`` does, and so does every module
importing it, e.g. Syncopy's), and Python allows that only in the main thread, while dask
runs tasks in threads: loaded inside a task, such a function fails with "signal only
works in main thread of the main interpreter". A worker plugin's ``setup`` runs in the
worker's event loop, which is the main thread of a worker process, on every worker of the
cluster, also on workers that join later (SLURM jobs that start late). It loads the
function into the worker's cache (:func:`acme.tasks.load_function`), so that the tasks
find it loaded.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator

import distributed

from .tasks import SharedCall, load_function

__all__ = ["FunctionPreload", "preloaded"]

log = logging.getLogger("ACME")


class FunctionPreload(distributed.WorkerPlugin):
    """Worker plugin that loads one run's function when a worker starts it."""

    def __init__(self, func_blob: bytes, sys_path: tuple[str, ...]) -> None:
        self.func_blob = func_blob
        self.sys_path = sys_path

    def setup(self, worker: distributed.Worker) -> None:
        try:
            load_function(self.func_blob, self.sys_path)
        except Exception as exc:  # the calls report it, each with its traceback
            log.debug("Preloading the function on %s failed: %r", worker.address, exc)


@contextlib.contextmanager
def preloaded(client: distributed.Client, shared: SharedCall, func_name: str
              ) -> Iterator[None]:
    """Keep ``shared``'s function loaded on every worker of ``client`` (including workers
    joining meanwhile) for the duration of the block."""
    name = f"acme-{func_name}-{uuid.uuid4().hex[:10]}-preload"
    plugin = FunctionPreload(shared.func_blob, shared.sys_path)
    # register_plugin since distributed 2023.9; register_worker_plugin before
    register = (getattr(client, "register_plugin", None)
                or client.register_worker_plugin)  # type: ignore[attr-defined]
    register(plugin, name=name)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a client closing meanwhile has no plugins
            client.unregister_worker_plugin(name)
