"""``processes_per_worker``: several single-threaded worker processes share one SLURM job
(its cores and memory multiplied), so fewer jobs carry the same workers."""

from __future__ import annotations

import os
import time

import distributed
import pytest

from acme import ParallelMap
from acme.clusters.cleanup import cluster_cleanup

pytestmark = pytest.mark.slurm


@pytest.fixture(autouse=True)
def no_site_profile(monkeypatch):
    monkeypatch.setenv("ACME_PROFILE", "none")


def where(x):
    time.sleep(0.5)  # noqa: sleep-ok (long enough that both processes take calls)
    return x, os.getpid(), os.environ.get("SLURM_JOB_ID")


def test_two_processes_per_job(in_tmp, jobs, poll):
    with ParallelMap(where, list(range(8)), n_workers=1, processes_per_worker=2,
                     partition="8GBXS", setup_interactive=False, stop_client=False,
                     write_worker_results=False) as pmap:
        results = pmap.compute(chunk_size=1)
    client = distributed.get_client()
    try:
        script = client.cluster.job_script()
        assert "#SBATCH --cpus-per-task=2" in script
        assert "#SBATCH --mem=2048M" in script   # DefMemPerCPU (1024 MB) x 2 processes
        assert "--nworkers 2" in script and "--nthreads 1" in script
        assert len(client.cluster.worker_spec) == 1
        assert sorted(client.nthreads().values()) == [1, 1]
    finally:
        cluster_cleanup(client)
    assert [x for x, _, _ in results] == list(range(8))
    assert len({job for _, _, job in results}) == 1 and results[0][2]
    assert len({pid for _, pid, _ in results}) == 2
    assert poll(lambda: not jobs(), 30)
