"""acme: run one Python function over many inputs on a laptop or a SLURM cluster and
keep every result on disk. A successor of ESI's ACME with the same user interface::

    from acme import ParallelMap
    with ParallelMap(f, [2, 4, 6, 8], 4) as pmap:
        results = pmap.compute()
"""

from __future__ import annotations

import logging
from typing import Any

from ._version import __version__
from .daemon import ACMEdaemon
from .errors import AmbiguousOperationError, ArgumentError, ParallelMapError
from .executor import Executor
from .params import Param, as_columns, missing
from .pmap import ParallelMap
from .record import RunStatus, run_status
from .resume import resume_run

__all__ = [
    "ParallelMap",
    "Executor",
    "ACMEdaemon",
    "ParallelMapError",
    "ArgumentError",
    "Param",
    "missing",
    "as_columns",
    "AmbiguousOperationError",
    "run_status",
    "RunStatus",
    "resume_run",
    "local_cluster_setup",
    "slurm_cluster_setup",
    "esi_cluster_setup",
    "bic_cluster_setup",
    "jobqueue_cluster_setup",
    "cluster_cleanup",
    "__version__",
]

logging.getLogger("ACME").addHandler(logging.NullHandler())

_CLUSTER_NAMES = {"local_cluster_setup", "slurm_cluster_setup", "esi_cluster_setup",
                  "bic_cluster_setup", "jobqueue_cluster_setup", "cluster_cleanup"}


def __getattr__(name: str) -> Any:
    # The cluster helpers pull in dask-jobqueue: load them on first use only.
    if name in _CLUSTER_NAMES:
        from . import clusters
        return getattr(clusters, name)
    raise AttributeError(f"module 'acme' has no attribute {name!r}")
