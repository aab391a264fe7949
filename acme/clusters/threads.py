"""Threads of the numerical libraries inside dask worker processes.

OpenBLAS, MKL, OpenMP, Apple's Accelerate and numexpr each start one thread per core of
the machine unless told otherwise, so a node running several worker processes would run
many times more threads than it has cores. The libraries read these variables once, when
they are loaded, so they must be in a worker process's environment before it imports
anything of the user's.
"""

from __future__ import annotations

from typing import Any

from ..options import check_threads_per_worker

__all__ = ["THREAD_VARIABLES", "thread_environment", "thread_exports"]

#: Environment variables that set the thread count of the common numerical libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def thread_environment(threads_per_worker: Any) -> dict[str, str]:
    """The variables above, each set to ``threads_per_worker``."""
    n = check_threads_per_worker(threads_per_worker)
    return {name: str(n) for name in THREAD_VARIABLES}


def thread_exports(threads_per_worker: Any) -> list[str]:
    """Shell lines exporting :func:`thread_environment` (for job scripts)."""
    return [f"export {name}={value}"
            for name, value in thread_environment(threads_per_worker).items()]
