"""Job scripts for PBS, SGE, LSF and HTCondor (rendered, not submitted) carry the cores,
memory, queue and wall time asked for, and TLS credentials for the workers."""

from __future__ import annotations

import pytest

from acme.clusters.jobqueue import jobqueue_cluster_setup, scheduler_profiles

ASK = {"queue": "short", "n_cores": 4, "processes_per_worker": 2, "mem_per_worker": "8GB",
       "walltime": "01:30:00", "n_workers": 0, "n_workers_startup": 0,
       "start_client": False}

EXPECTED = {
    "pbs": ["#PBS -q short", "#PBS -l select=1:ncpus=4:mem=8000MB",
            "#PBS -l walltime=01:30:00"],
    "sge": ["#$ -q short", "#$ -pe smp 4", "#$ -l h_vmem=8000M", "#$ -l h_rt=01:30:00"],
    # LSF: dask-jobqueue writes -M in units of 10**6 bytes: 8000 MiB = 8389 of them
    "lsf": ["#BSUB -q short", "#BSUB -n 4", "#BSUB -M 8389", "#BSUB -W 01:30:00"],
    "htcondor": ["RequestCpus = MY.DaskWorkerCores", "MY.DaskWorkerCores = 4",
                 "RequestMemory = floor(MY.DaskWorkerMemory / 1048576)",
                 "MY.DaskWorkerMemory = 8388608000", "accounting_group = short",
                 "+MaxRuntime = 5400"],
}


@pytest.mark.parametrize("scheduler", sorted(EXPECTED))
def test_job_script_carries_the_request(scheduler, tmp_path):
    cluster = jobqueue_cluster_setup(scheduler, log_directory=tmp_path, **ASK)
    try:
        script = cluster.job_script()
        assert cluster.scheduler_address.startswith("tls://")
    finally:
        cluster.close()
    missing = [line for line in EXPECTED[scheduler] if line not in script]
    assert not missing, f"{missing} not in:\n{script}"
    assert "--nworkers 2" in script and "--nthreads 2" in script  # 4 cores, 2 processes
    assert "--tls-ca-file" in script and str(tmp_path) in script


def test_every_profile_names_a_jobqueue_class():
    import dask_jobqueue

    profiles = scheduler_profiles()
    assert {"slurm", "pbs", "sge", "lsf", "htcondor", "oar", "moab"} <= set(profiles)
    assert all(hasattr(dask_jobqueue, p.cluster) for p in profiles.values())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"scheduler": "torque"}, ValueError, "`scheduler` has to be one of htcondor, lsf, moab"),
    ({"scheduler": "pbs", "walltime": "90 minutes"}, ValueError,
     "`walltime` has to be 'HH:MM:SS' or 'MM:SS', not '90 minutes'"),
    ({"scheduler": "pbs", "mem_per_worker": 8}, TypeError, "`mem_per_worker` has to be a string"),
    ({"scheduler": "sge", "options": {"disk": "1GB"}}, ValueError,
     "`options` for sge may set ['parallel_environment'], not ['disk']"),
    ({"scheduler": "pbs", "n_workers": 0}, ValueError,
     "`n_workers_startup` (1) cannot exceed `n_workers` (0)"),
])
def test_bad_arguments_are_named(kwargs, error, message, tmp_path):
    with pytest.raises(error) as info:
        jobqueue_cluster_setup(log_directory=tmp_path, **kwargs)
    assert message in str(info.value)
    assert not list(tmp_path.iterdir())  # nothing was created
