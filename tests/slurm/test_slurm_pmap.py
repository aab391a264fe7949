"""ParallelMap without a prior client on the real local SLURM: workers are SLURM jobs, and
the queue is empty after the ``with`` block, also when it ends with an exception."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from acme import ParallelMap, ParallelMapError

pytestmark = pytest.mark.slurm

SLURM = {"partition": "small", "mem_per_worker": "500MB", "setup_interactive": False,
         "setup_timeout": 60}


def where(x):
    return x, os.environ.get("SLURM_JOB_ID")


def fails_at_two(x):
    if x == 2:
        raise ValueError("boom 2")
    return x


@pytest.fixture(autouse=True)
def no_site_profile(monkeypatch):
    monkeypatch.setenv("ACME_PROFILE", "none")


def test_runs_on_slurm_workers(in_tmp, jobs, poll, acme_log, monkeypatch):
    # In memory mode the run has no output directory: job output goes under here.
    monkeypatch.setenv("ACME_SLURM_LOG_DIR", str(in_tmp / "job-logs"))
    with ParallelMap(where, [0, 1, 2, 3], n_workers=2, write_worker_results=False,
                     **SLURM) as pmap:
        results = pmap.compute()
        assert jobs(), "no SLURM job runs during the computation"
        prefix = "Parallel computing client ready, dashboard accessible at "
        (link,) = [m[len(prefix):] for m in acme_log.messages() if m.startswith(prefix)]
        with urllib.request.urlopen(link, timeout=10) as response:
            assert response.status == 200
    assert [x for x, _ in results] == [0, 1, 2, 3]
    assert all(job_id for _, job_id in results), results
    assert poll(lambda: not jobs(), 30)
    assert any((in_tmp / "job-logs").rglob("slurm-*.out"))


def test_exception_in_with_block_cancels_jobs(in_tmp, jobs, poll):
    with pytest.raises(KeyError, match="user code"):
        with ParallelMap(where, [0, 1], n_workers=1, stop_client=False, **SLURM) as pmap:
            pmap.compute()
            raise KeyError("user code")
    assert poll(lambda: not jobs(), 30)


def test_failing_calls_cancel_jobs(in_tmp, jobs, poll):
    with pytest.raises(ParallelMapError, match="boom 2"):
        with ParallelMap(fails_at_two, [0, 1, 2], n_workers=1, **SLURM) as pmap:
            pmap.compute()
    assert poll(lambda: not jobs(), 30)


CTRL_C_SCRIPT = textwrap.dedent("""
    import os, pathlib, sys, time
    from acme import ParallelMap

    def slow(x, marker_dir):
        # Worker output goes to the job's file: tell the test through the file system.
        pathlib.Path(marker_dir, f"started-{os.environ.get('SLURM_JOB_ID')}").touch()
        time.sleep(60)  # noqa: sleep-ok (the call that Ctrl-C interrupts)
        return x

    if __name__ == "__main__":
        with ParallelMap(slow, [0, 1], sys.argv[1], n_workers=1,
                         write_worker_results=False, partition="small",
                         mem_per_worker="500MB", setup_interactive=False) as pmap:
            pmap.compute()
        print("ALL DONE", flush=True)
""")


def test_ctrl_c_cancels_jobs(tmp_path, jobs, poll):
    """Ctrl-C reaches the run as KeyboardInterrupt (dask-jobqueue 0.9.0 would turn it into
    a silent exit) and the run's SLURM jobs are cancelled."""
    script = tmp_path / "run.py"
    script.write_text(CTRL_C_SCRIPT)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {**os.environ, "ACME_PROFILE": "none"}
    proc = subprocess.Popen([sys.executable, str(script), str(markers)], cwd=tmp_path,
                            text=True, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        poll(lambda: list(markers.iterdir()) or proc.poll() is not None, 60)
        assert proc.poll() is None, proc.communicate()[0]
        assert [p.name for p in markers.iterdir()] not in ([], ["started-None"])
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in output and "ALL DONE" not in output
    assert proc.returncode != 0
    assert poll(lambda: not jobs(), 30)
