"""Durable runs on the real local SLURM: Ctrl-C then resume, and a driver killed with
SIGKILL whose worker jobs end on their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import pytest
from helpers import done_calls

import acme

pytestmark = pytest.mark.slurm

N_CALLS = 24
SLURM = ('n_workers=1, partition="small", mem_per_worker="500MB", '
         'setup_interactive=False, setup_timeout=60')

DRIVER = textwrap.dedent("""
    import sys, time
    import acme.checkpoint
    from acme import ParallelMap
    acme.checkpoint.MIN_INTERVAL = 0.3

    def work(x):
        time.sleep(0.5)  # must last long enough to be interrupted (noqa: sleep-ok)
        return x * 2

    if __name__ == "__main__":
        with ParallelMap(work, list(range(N_CALLS)), output_dir=sys.argv[1], SLURM) as pmap:
            pmap.compute()
        print("ALL DONE", flush=True)
""").replace("N_CALLS", str(N_CALLS)).replace("SLURM", SLURM)


@pytest.fixture(autouse=True)
def no_site_profile(monkeypatch):
    monkeypatch.setenv("ACME_PROFILE", "none")


def _start(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(out)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, out


def test_ctrl_c_then_resume_on_slurm(tmp_path, jobs, poll):
    proc, out = _start(tmp_path)
    try:
        poll(lambda: done_calls(out) >= 3 or proc.poll() is not None, 120)
        assert proc.poll() is None, proc.communicate()[0]
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "ALL DONE" not in output
    assert "The run was interrupted with" in output
    assert poll(lambda: not jobs(), 30), jobs()
    status = acme.run_status(out)
    assert status.state == "interrupted" and 3 <= len(status.done) < N_CALLS
    code = (f"import acme; acme.resume_run({str(out)!r}, {SLURM})")
    resumed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                             text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    status = acme.run_status(out)
    assert status.complete and status.state == "finished"
    assert any(job for job in acme.run_status(out).provenance["hosts"])
    with h5py.File(out / "work.h5", "r") as h5f:
        assert [h5f[f"comp_{i}/result_0"][0] for i in range(N_CALLS)] == \
            [2 * i for i in range(N_CALLS)]
    assert poll(lambda: not jobs(), 30), jobs()


def test_worker_jobs_end_after_the_driver_is_killed(tmp_path, jobs, poll):
    proc, out = _start(tmp_path)
    try:
        poll(lambda: done_calls(out) >= 1 or proc.poll() is not None, 120)
        assert proc.poll() is None, proc.communicate()[0]
        assert jobs()
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Nothing cancels them: the workers lose their scheduler and end themselves.
    assert poll(lambda: not jobs(), 150), jobs()
    with h5py.File(out / "acme_run_work.h5", "r") as h5f:
        slurm_ids = {j.decode() for j in h5f["slurm_job_id"][()] if j}
    assert slurm_ids
