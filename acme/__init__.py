"""acme: run one Python function over many inputs on a laptop or a SLURM cluster and
keep every result on disk. A successor of ESI's ACME with the same user interface::

    from acme import ParallelMap
    with ParallelMap(f, [2, 4, 6, 8], 4) as pmap:
        results = pmap.compute()
"""

from __future__ import annotations

import logging

from ._version import __version__
from .clusters import (
    bic_cluster_setup,
    cluster_cleanup,
    esi_cluster_setup,
    jobqueue_cluster_setup,
    local_cluster_setup,
    slurm_cluster_setup,
)
from .daemon import ACMEdaemon
from .errors import (
    AmbiguousOperationError,
    ArgumentError,
    LazyInputError,
    MergeError,
    NoWorkerError,
    ParallelMapError,
    ResultShapeError,
    ResultTypeError,
    SLURMCommandError,
)
from .executor import Executor
from .params import Param, as_columns, missing
from .pmap import ParallelMap, resume_run
from .record import RunStatus, run_status

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
    "ResultShapeError",
    "ResultTypeError",
    "NoWorkerError",
    "MergeError",
    "SLURMCommandError",
    "LazyInputError",
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
