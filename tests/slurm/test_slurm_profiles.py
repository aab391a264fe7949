"""Site profiles and the ParallelMap hook (start_slurm_client) on the real local SLURM."""

from __future__ import annotations

import functools
import json
import os

import distributed
import pytest

from acme.clusters import cluster_cleanup, esi_cluster_setup, profile_cluster_setup
from acme.clusters.profiles import DEFAULTS
from acme.clusters.run import start_slurm_client

pytestmark = pytest.mark.slurm

_job_id = functools.partial(os.getenv, "SLURM_JOB_ID")  # evaluated on the workers
DASHBOARD = {"dashboard_address": ":0"}


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A user profile "testsite" for the local SLURM, found through ACME_PROFILE_PATH."""
    profile = {
        "defaults": {"n_workers": 1, "timeout": 30, "mem_cushion": 0, "max_auto_workers": 2},
        "invalid_partitions": ["8GBXS"],
        "default_partition": "small",
        "log_directory": str(tmp_path / "logs" / "{user}_{timestamp}"),
        "mem_default": "limit",
        "cores_from_memory": "floor",
    }
    (tmp_path / "logs").mkdir()
    path = tmp_path / "testsite.json"
    path.write_text(json.dumps(profile))
    monkeypatch.setenv("ACME_PROFILE_PATH", str(path))
    monkeypatch.setenv("ACME_PROFILE", "testsite")
    return tmp_path


def test_user_profile_auto_partition_memory_and_cores(site, acme_log):
    cluster = profile_cluster_setup("testsite", partition="auto",
                                    mem_per_worker="estimate_memuse:1.5", interactive=False,
                                    start_client=False, n_workers_startup=0,
                                    scheduler_options=DASHBOARD)
    try:
        script = cluster.job_script()
        assert "#SBATCH -p small" in script
        assert "#SBATCH --mem=2000M" in script          # mem_default "limit", cushion 0
        assert "#SBATCH --cpus-per-task=1" in script    # floor(2000 / DefMemPerCPU 1024)
        (log_dir,) = (site / "logs").iterdir()
        assert f"--output={log_dir}/slurm-%j.out" in script
        assert "Picked partition small based on estimated memory consumption of 1.5 GB" \
            in acme_log.messages()
    finally:
        cluster.close()


def test_profile_invalid_partition(site):
    with pytest.raises(ValueError, match="Invalid partition selection 8GBXS"):
        profile_cluster_setup("testsite", partition="8GBXS", interactive=False)


def test_esi_preset_starts_and_reuses_client(slurm_tmp, acme_log):
    out = f"--output={slurm_tmp}/slurm-%j.out"
    client = esi_cluster_setup(partition="small", mem_per_worker="1GB", interactive=False,
                               job_extra=[out], scheduler_options=DASHBOARD)
    try:
        assert isinstance(client, distributed.Client)
        assert "#SBATCH --mem=1000M" in client.cluster.job_script()
        again = esi_cluster_setup(partition="small", interactive=False)
        assert again is client
        assert any(m.startswith("Found existing parallel computing client")
                   for m in acme_log.messages())
    finally:
        cluster_cleanup(client)


def test_start_slurm_client_for_a_run(tmp_path, acme_log, monkeypatch):
    """partition="auto" with an estimate, n_workers="auto" bounded, output in the run dir."""
    monkeypatch.setenv("ACME_PROFILE", "none")
    monkeypatch.setitem(DEFAULTS, "max_auto_workers", 3)  # the rule, with a cap that starts fast
    client = start_slurm_client(partition="auto", n_workers="auto", mem_per_worker="auto",
                                setup_timeout=30, setup_interactive=False, log_dir=tmp_path,
                                n_inputs=50, mem_estimate_gb=1.5)
    try:
        script = client.cluster.job_script()
        # 1.5 GB / 0.75 = 2000 MB: more than small's 2000 MB minus the 100 MB cushion
        assert "#SBATCH -p 8GBXS" in script
        assert "#SBATCH --mem=2000M" in script
        assert f"--output={tmp_path}/slurm-%j.out" in script
        assert len(client.cluster.worker_spec) == 3     # min(n_inputs, cap)
        assert "Picked partition 8GBXS based on estimated memory consumption of 1.5 GB" \
            in acme_log.messages()
        assert all(client.run(_job_id).values())
    finally:
        cluster_cleanup(client)
