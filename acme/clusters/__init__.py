"""Cluster set-up and tear-down: local, SLURM, site profiles, cleanup."""

from .cleanup import cluster_cleanup
from .detect import choose_partition, client_is_usable, slurm_available
from .jobqueue import jobqueue_cluster_setup
from .local import local_cluster_setup
from .profiles import bic_cluster_setup, esi_cluster_setup, profile_cluster_setup
from .slurm import slurm_cluster_setup

__all__ = [
    "local_cluster_setup",
    "slurm_cluster_setup",
    "esi_cluster_setup",
    "bic_cluster_setup",
    "profile_cluster_setup",
    "jobqueue_cluster_setup",
    "cluster_cleanup",
    "slurm_available",
    "client_is_usable",
    "choose_partition",
]
