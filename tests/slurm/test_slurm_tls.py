"""SLURM clusters started by acme use TLS: a client without the run's credentials is
refused; the workers' copies of the credentials sit in a private directory."""

from __future__ import annotations

import json
import stat

import distributed
import pytest
from distributed.security import Security

from acme import slurm_cluster_setup
from acme.clusters.cleanup import cluster_cleanup
from acme.clusters.run import start_slurm_client

pytestmark = pytest.mark.slurm


@pytest.fixture(autouse=True)
def no_site_profile(monkeypatch):
    monkeypatch.setenv("ACME_PROFILE", "none")  # a test may choose one


def test_a_client_without_credentials_is_refused(slurm_tmp, jobs, poll):
    client = slurm_cluster_setup(partition="small", n_workers=1, mem_per_worker="1GB",
                                 timeout=60, interactive=False, log_directory=slurm_tmp)
    try:
        cluster = client.cluster
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        assert client.submit(sum, [1, 2, 3]).result(timeout=60) == 6
        # The jobs got the credentials through a private directory in the output dir.
        (private,) = slurm_tmp.glob(".acme-tls-*")
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        files = list(private.iterdir())
        assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
        script = cluster.job_script()
        assert f"--tls-key {private}/" in script and "--tls-ca-file" in script
        # Someone else on the network: refused in plain TCP, and with TLS credentials
        # of their own (not signed by the run's authority).
        plain = "tcp://" + address.removeprefix("tls://")
        with pytest.raises(OSError):
            distributed.Client(plain, timeout=5)
        with pytest.raises(OSError, match="TLS certificate does not match"):
            distributed.Client(address, security=Security.temporary(), timeout=5)
    finally:
        cluster_cleanup(client)
    assert poll(lambda: not jobs(), 30)


def test_tls_can_be_turned_off(slurm_tmp, jobs, poll):
    cluster = slurm_cluster_setup(partition="small", n_workers=1, mem_per_worker="1GB",
                                  timeout=60, interactive=False, log_directory=slurm_tmp,
                                  start_client=False, tls=False, n_workers_startup=0)
    try:
        assert cluster.scheduler_address.startswith("tcp://")
        assert "--tls" not in cluster.job_script()
        assert not list(slurm_tmp.glob(".acme-tls-*"))
    finally:
        cluster.close()
    assert poll(lambda: not jobs(), 30)


def test_a_site_profile_turns_tls_off_for_runs(tmp_path, monkeypatch, jobs, poll):
    """``"defaults": {"tls": 0}`` in a site profile: the cluster a run starts uses TCP."""
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"defaults": {"tls": 0}}))
    monkeypatch.setenv("ACME_PROFILE_PATH", str(path))
    monkeypatch.setenv("ACME_PROFILE", "plain")
    client = start_slurm_client(partition="small", n_workers=1, mem_per_worker="1GB",
                                setup_timeout=60, setup_interactive=False, log_dir=tmp_path,
                                n_inputs=1)
    try:
        assert client.cluster.scheduler_address.startswith("tcp://")
        assert not list(tmp_path.glob(".acme-tls-*"))
    finally:
        cluster_cleanup(client)
    assert poll(lambda: not jobs(), 30)
