"""The storage-mode suite of ``test_backends.py`` on the real SLURM: a representative
subset of its cases, on one SLURM cluster, must give exactly what a local dask cluster
gives (the expected outcomes of ``backend_cases``, built from a serial loop)."""

from __future__ import annotations

import functools
import os

import pytest
from backend_cases import CASES, expected, observe

from acme.clusters import cluster_cleanup, slurm_cluster_setup

pytestmark = pytest.mark.slurm

#: One case per way results reach the user: payloads with links, a virtual dataset, the
#: single file, in memory, a failing call, an emergency pickle.
SUBSET = ["hdf5", "vds", "single_file", "memory", "failing_call", "emergency_pickle"]

# Runs on the workers: os.getenv is pickled by reference, so it reads the worker's environment.
_job_id = functools.partial(os.getenv, "SLURM_JOB_ID")


def test_same_results_as_every_other_backend(in_tmp, slurm_tmp, monkeypatch):
    monkeypatch.setenv("ACME_PROFILE", "none")
    # One cluster for all cases: starting SLURM jobs is the slow part.
    client = slurm_cluster_setup(partition="small", n_workers=2, mem_per_worker="500MB",
                                 timeout=60, interactive=False, log_directory=slurm_tmp,
                                 scheduler_options={"dashboard_address": ":0"})
    try:
        assert all(client.run(_job_id).values())  # the workers are SLURM jobs
        seen = {name: observe(CASES[name], in_tmp / name, debug=False) for name in SUBSET}
    finally:
        cluster_cleanup(client)
    assert seen == {name: expected(CASES[name], debug=False) for name in SUBSET}
    # in memory: nothing written in the working directory (besides the job output)
    assert sorted(os.listdir(in_tmp)) == sorted(
        [name for name in SUBSET if CASES[name].writes_files] + [slurm_tmp.name])
