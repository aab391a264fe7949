"""ACME's module path of the cluster helpers (``from acme.dask_helpers import ...``).

The helpers live in :mod:`acme.clusters`; this module only re-exports them so that code
written for ACME (e.g. Syncopy's test configuration) imports unchanged.
"""

from __future__ import annotations

from .clusters import (
    bic_cluster_setup,
    cluster_cleanup,
    esi_cluster_setup,
    local_cluster_setup,
    slurm_cluster_setup,
)

__all__ = ["esi_cluster_setup", "bic_cluster_setup", "local_cluster_setup",
           "cluster_cleanup", "slurm_cluster_setup"]
