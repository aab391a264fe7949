"""acme.Executor and threads_per_worker on the real local SLURM: the job asks for the
cores, the worker's BLAS uses them, and the executor cancels the jobs it started."""

from __future__ import annotations

import os

import pytest

from acme import Executor, ParallelMap
from acme.clusters.detect import run_slurm_command
from acme.clusters.threads import THREAD_VARIABLES

pytestmark = pytest.mark.slurm

SLURM = {"partition": "small", "mem_per_worker": "500MB", "setup_interactive": False,
         "setup_timeout": 60}


def thread_report():
    import numpy  # noqa: F401 (loads the BLAS threadpoolctl reports)
    import threadpoolctl
    blas = [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]
    return (blas, {name: os.environ.get(name) for name in THREAD_VARIABLES},
            os.environ.get("SLURM_CPUS_PER_TASK"))


def report_with(extra):
    return extra, thread_report()


def calc(i, j, k):
    return i + j + k


def init():
    return {"j": 4, "k": 3, "l": 2}


@pytest.fixture(autouse=True)
def no_site_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("ACME_PROFILE", "none")
    monkeypatch.setenv("ACME_SLURM_LOG_DIR", str(tmp_path / "job-logs"))


def _cpus_of_jobs() -> list[str]:
    out = run_slurm_command(["squeue", "-h", "-u", os.environ.get("USER", "root"),
                             "-o", "%C"])
    return out.split()


def test_executor_on_slurm_with_threads(jobs, poll):
    with Executor(n_workers=1, threads_per_worker=2, init_function=init, **SLURM) as exe:
        assert _cpus_of_jobs() == ["2"]
        blas, env, cpus = exe.submit(thread_report).result(timeout=120)
        assert exe.submit(calc, 2, j=5).result(timeout=60) == 10
        assert list(exe.map(calc, [1, 2])) == [8, 9]
    assert blas and set(blas) == {2}
    assert env == dict.fromkeys(THREAD_VARIABLES, "2")
    assert cpus == "2"
    assert poll(lambda: not jobs(), 30), jobs()


def test_parallelmap_threads_and_init_on_slurm(in_tmp, jobs, poll):
    with ParallelMap(report_with, n_inputs=1, n_workers=1, threads_per_worker=2,
                     init_function=lambda: {"extra": 5}, write_worker_results=False,
                     **SLURM) as pmap:
        [(extra, (blas, env, cpus))] = pmap.compute()
    assert extra == 5
    assert blas and set(blas) == {2}
    assert env == dict.fromkeys(THREAD_VARIABLES, "2")
    assert cpus == "2"
    assert poll(lambda: not jobs(), 30), jobs()


def test_slurm_cluster_setup_threads_per_worker(slurm_tmp):
    from acme import slurm_cluster_setup
    from acme.clusters.cleanup import close_cluster

    with pytest.raises(ValueError, match=r"`n_cores` \(3\) has to be left at 1 or equal"):
        slurm_cluster_setup(partition="small", n_cores=3, threads_per_worker=2,
                            interactive=False, log_directory=slurm_tmp)
    cluster = slurm_cluster_setup(partition="small", n_workers=1, processes_per_worker=2,
                                  threads_per_worker=2, mem_per_worker="1GB",
                                  n_workers_startup=0, start_client=False,
                                  interactive=False, log_directory=slurm_tmp)
    try:
        script = cluster.job_script()
    finally:
        close_cluster(cluster)
    assert "#SBATCH --cpus-per-task=4" in script
    assert "--nthreads 1 " in script and "--nworkers 2 " in script
    assert all(f"export {name}=2\n" in script for name in THREAD_VARIABLES)
