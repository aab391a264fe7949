"""One vocabulary: every memory keyword reads "2GiB", every integer keyword treats 2.0 as 2.

Each entry point is driven through its public function; where starting the real cluster
is not needed to see the value, the call stops at a later check whose message shows the
value as it was read (or renders a job script without submitting it).
"""

from __future__ import annotations

import json

import pytest

from acme import ParallelMap
from acme.clusters import local_cluster_setup, profile_cluster_setup, slurm_available
from acme.clusters.cleanup import cluster_cleanup
from acme.clusters.jobqueue import jobqueue_cluster_setup
from acme.clusters.profiles import load_profile
from acme.clusters.slurm import slurm_cluster_setup
from acme.clusters.threads import thread_environment
from acme.executor import _cluster_options
from acme.validators import check_int, parse_mem_bytes, parse_mem_mb

GIB2_MB = 2148  # 2 * 2**30 bytes in SLURM megabytes (10**6 bytes), rounded up


def f(x):
    return x


def test_rules():
    assert parse_mem_bytes("2GiB") == 2 * 2**30
    assert parse_mem_mb("2GiB") == GIB2_MB == parse_mem_mb(" 2 gib ")
    assert parse_mem_mb("2GB") == 2000
    assert check_int(2.0, "x") == 2 and type(check_int(2.0, "x")) is int
    with pytest.raises(ValueError, match=r"^`x` has to be an integer between 1 and inf, not 2.5$"):
        check_int(2.5, "x", 1)
    with pytest.raises(TypeError, match=r"^`x` has to be an integer between 0 and inf, not "
                                        r"<class 'bool'>$"):
        check_int(True, "x")
    with pytest.raises(TypeError, match="`mem` has to be a string like '2GB'"):
        parse_mem_mb(2 * 2**30, "mem")


# --- memory keywords ---------------------------------------------------------------------


def test_parallelmap_and_executor_read_gib(tmp_path):
    pmap = ParallelMap(f, [1, 2], mem_per_worker="2GiB", output_dir=str(tmp_path),
                       setup_interactive=False)
    assert pmap.options.mem_per_worker == "2GiB"
    assert _cluster_options(None, "auto", "auto", "2GiB", 1, None, 60, False
                            ).mem_per_worker == "2GiB"
    with pytest.raises(ValueError, match="`mem_per_worker` has to be a positive amount"):
        ParallelMap(f, [1, 2], mem_per_worker="2 GiBs")


def test_local_cluster_reads_gib():
    client = local_cluster_setup(n_workers=1.0, mem_per_worker="2GiB", interactive=False)
    try:
        workers = client.scheduler_info()["workers"].values()
        assert [w["memory_limit"] for w in workers] == [2 * 2**30]  # and n_workers=1.0 -> 1
    finally:
        cluster_cleanup(client)


def test_jobqueue_script_reads_gib_and_whole_floats(tmp_path):
    cluster = jobqueue_cluster_setup(
        "pbs", queue="short", n_workers=0.0, n_cores=2.0, processes_per_worker=2.0,
        mem_per_worker="2GiB", n_workers_startup=0.0, start_client=False,
        log_directory=tmp_path)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert f"#PBS -l select=1:ncpus=2:mem={GIB2_MB}MB" in script
    assert "--nworkers 2" in script


def test_slurm_setup_reads_gib_and_whole_floats():
    # n_workers_startup > n_workers is checked right after the memory and the integers;
    # its message shows both integers as read.
    with pytest.raises(ValueError, match=r"^`n_workers_startup` \(2\) cannot exceed "
                                          r"`n_workers` \(1\)$"):
        slurm_cluster_setup(partition="small", n_workers=1.0, n_cores=1.0,
                            mem_per_worker="2GiB", n_workers_startup=2.0)
    with pytest.raises(ValueError, match="`mem_per_worker` has to be a positive amount"):
        slurm_cluster_setup(partition="small", mem_per_worker="2 GiBs")
    with pytest.raises(ValueError, match="`n_workers` has to be an integer between 1 and inf, "
                                         "not 1.5"):
        slurm_cluster_setup(partition="small", n_workers=1.5)


@pytest.mark.skipif(not slurm_available(), reason="needs sinfo")
def test_profile_setup_reads_gib(tmp_path, monkeypatch):
    (tmp_path / "site.json").write_text(json.dumps({"defaults": {"n_workers": 1.0}}))
    monkeypatch.setenv("ACME_PROFILE_PATH", str(tmp_path))
    assert load_profile("site").default("n_workers") == 1
    # the memory is read before the partition is checked
    with pytest.raises(ValueError, match="Invalid partition selection no-such-partition"):
        profile_cluster_setup("site", "no-such-partition", mem_per_worker="2GiB",
                              interactive=False)
    with pytest.raises(ValueError, match="`mem_per_worker` has to be a positive amount"):
        profile_cluster_setup("site", "no-such-partition", mem_per_worker="2 GiBs",
                              interactive=False)


def test_profile_defaults_are_checked(tmp_path, monkeypatch):
    (tmp_path / "site.json").write_text(json.dumps({"defaults": {"timeout": 2.5}}))
    monkeypatch.setenv("ACME_PROFILE_PATH", str(tmp_path))
    with pytest.raises(ValueError, match=r"site.json: `defaults.timeout` has to be an integer "
                                         r"between 0 and inf, not 2.5"):
        load_profile("site")


# --- integer keywords --------------------------------------------------------------------


def test_parallelmap_and_compute_treat_whole_floats_as_integers(tmp_path):
    pmap = ParallelMap(f, [1, 2, 3], n_workers=2.0, setup_timeout=30.0,
                       processes_per_worker=1.0, threads_per_worker=2.0,
                       cleanup_threshold_days=3.0, retries=1.0, output_dir=str(tmp_path),
                       setup_interactive=False)
    opts = pmap.options
    values = (opts.n_workers, opts.setup_timeout, opts.processes_per_worker,
              opts.threads_per_worker, opts.cleanup_threshold_days, pmap.retries)
    assert values == (2, 30, 1, 2, 3, 1) and all(type(v) is int for v in values)
    assert thread_environment(2.0)["OMP_NUM_THREADS"] == "2"
    with pytest.raises(ValueError, match="`threads_per_worker` has to be an integer between 1"):
        ParallelMap(f, [1, 2], threads_per_worker=1.5)
    results = ParallelMap(f, [1, 2, 3], output_dir=str(tmp_path / "dbg"),
                          write_worker_results=False).compute(debug=True, chunk_size=2.0)
    assert results == [1, 2, 3]
