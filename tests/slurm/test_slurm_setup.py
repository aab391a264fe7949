"""slurm_cluster_setup and cluster_cleanup against the real local SLURM."""

from __future__ import annotations

import functools
import logging
import os
import urllib.request

import pytest

from acme.clusters import client_is_usable, cluster_cleanup, slurm_cluster_setup
from acme.clusters.detect import run_slurm_command

pytestmark = pytest.mark.slurm

DASHBOARD = {"dashboard_address": ":0"}  # port 8787 may be taken by another test's cluster


# Runs on the workers: os.getenv is pickled by reference, so it reads the worker's environment.
_job_id = functools.partial(os.getenv, "SLURM_JOB_ID")


def test_unknown_partition_is_rejected(slurm_tmp):
    with pytest.raises(ValueError, match=r"Invalid partition selection nope, available SLURM "
                                         r"partitions are debug, 8GBXS, small"):
        slurm_cluster_setup(partition="nope", log_directory=slurm_tmp, interactive=False)


def test_invalid_partition_is_rejected(slurm_tmp):
    with pytest.raises(ValueError, match="Invalid partition selection small"):
        slurm_cluster_setup(partition="small", invalid_partitions=["small"],
                            log_directory=slurm_tmp, interactive=False)


@pytest.mark.parametrize("job_extra, error, message", [
    ("--job-name=x", TypeError, "`job_extra` has to be a list of strings"),
    ([3], TypeError, "`job_extra` has to be a list of strings"),
    (["job-name=x"], ValueError, "must be flagged with - or --"),
    (["--output /tmp/x.out"], ValueError, "as '--output=<path>'"),
    (["-o=/tmp/x.out"], ValueError, "as '--output=<path>'"),
    (["--output=/no/such/dir/slurm-%j.out"], ValueError, "/no/such/dir .* does not exist"),
])
def test_malformed_job_extra_is_rejected(job_extra, error, message):
    with pytest.raises(error, match=message):
        slurm_cluster_setup(partition="debug", job_extra=job_extra, interactive=False)


def test_unknown_keyword_is_rejected(slurm_tmp):
    with pytest.raises(TypeError, match=r"'walltime'.*valid keywords are partition, n_cores"):
        slurm_cluster_setup(partition="debug", walltime="1:00:00", log_directory=slurm_tmp)


def test_job_script_memory_cap_and_dashboard(slurm_tmp, acme_log):
    """Requested partition, cores (via ACME's alias) and capped memory reach the job."""
    cluster = slurm_cluster_setup(
        partition="8GBXS", cores_per_worker=2, mem_per_worker="9GB", start_client=False,
        interactive=False, timeout=30, scheduler_options=DASHBOARD, log_directory=slurm_tmp)
    try:
        script = cluster.job_script()
        assert "#SBATCH -p 8GBXS" in script
        assert "#SBATCH --cpus-per-task=2" in script
        assert "#SBATCH --mem=7900M" in script  # MaxMemPerNode=8000 minus mem_cushion=100
        assert f"#SBATCH --output={slurm_tmp}/slurm-%j.out" in script
        assert "#SBATCH -t" not in script
        warnings = acme_log.messages(logging.WARNING)
        assert any("`mem_per_worker` exceeds limit of 7900 MB for partition 8GBXS. Capping "
                   "memory at partition limit." in m for m in warnings)
        infos = acme_log.messages(logging.INFO)
        link = cluster.dashboard_link
        assert f"Parallel computing client ready, dashboard accessible at {link}" in infos
        with urllib.request.urlopen(link, timeout=10) as response:
            assert response.status == 200
    finally:
        cluster.close()
    assert any(name.startswith("slurm-") for name in os.listdir(slurm_tmp))


def test_startup_returns_before_all_workers_run(slurm_tmp, node_memory_mb, jobs):
    """Only one job fits the node's memory: the call returns with 1 of 3 workers."""
    mem = f"{int(node_memory_mb * 0.6)}MB"
    client = slurm_cluster_setup(partition="debug", n_workers=3, n_workers_startup=1,
                                 mem_per_worker=mem, timeout=30, interactive=False,
                                 scheduler_options=DASHBOARD, log_directory=slurm_tmp)
    try:
        assert len(client.scheduler_info()["workers"]) == 1
        states = [job.split()[2] for job in jobs()]
        assert sorted(states) == ["PD", "PD", "R"]
        assert len(client.run(_job_id)) == 1
    finally:
        cluster_cleanup(client)


def test_remaining_workers_join_later(slurm_tmp):
    client = slurm_cluster_setup(partition="small", n_workers=2, n_workers_startup=1,
                                 mem_per_worker="500MB", timeout=30, interactive=False,
                                 scheduler_options=DASHBOARD, log_directory=slurm_tmp)
    try:
        client.wait_for_workers(2, timeout=30)
        assert len(set(client.run(_job_id).values())) == 2
    finally:
        cluster_cleanup(client)


def test_timeout_cancels_all_jobs(slurm_tmp, jobs):
    """A job that cannot start before its begin time: TimeoutError, nothing left queued."""
    with pytest.raises(TimeoutError, match="SLURM workers could not be started within given "
                                           "time-out interval of 1 seconds"):
        slurm_cluster_setup(partition="debug", n_workers=2, timeout=1, interactive=False,
                            job_extra=["--begin=now+1hour"], scheduler_options=DASHBOARD,
                            log_directory=slurm_tmp)
    assert not [job for job in jobs() if not job.endswith(" CG")]


def test_prompt_abort_cancels_all_jobs(slurm_tmp, terminal, capsys):
    terminal("a\n")
    with pytest.raises(ConnectionAbortedError, match="aborted"):
        slurm_cluster_setup(partition="debug", timeout=1, interactive=True,
                            job_extra=["--begin=now+1hour"], scheduler_options=DASHBOARD,
                            log_directory=slurm_tmp)
    assert "[k]eep waiting" in capsys.readouterr().out


def test_unanswered_prompt_times_out(slurm_tmp, terminal):
    """The prompt's own timeout ends in a TimeoutError, not a crash (ACME: UnboundLocalError)."""
    with pytest.raises(TimeoutError, match="time-out interval of 1 seconds"):
        slurm_cluster_setup(partition="debug", timeout=1, interactive=True,
                            interactive_wait=1, job_extra=["--begin=now+1hour"],
                            scheduler_options=DASHBOARD, log_directory=slurm_tmp)


def test_killed_workers_make_client_unusable(slurm_tmp, poll, acme_log):
    client = slurm_cluster_setup(partition="small", mem_per_worker="500MB", timeout=30,
                                 interactive=False, scheduler_options=DASHBOARD,
                                 log_directory=slurm_tmp)
    try:
        assert client_is_usable(client)
        job_id = next(iter(client.run(_job_id).values()))
        run_slurm_command(["scancel", job_id])
        assert poll(lambda: not client_is_usable(client), 30)
    finally:
        cluster_cleanup(client)
    assert any(m.startswith("Successfully shut down SLURMCluster hosted on tls://")
               for m in acme_log.messages(logging.INFO))
