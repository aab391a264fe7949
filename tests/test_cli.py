"""The ``acme`` command (``python -m acme``) on real runs: killed, failed, finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import pytest
from funcs import fails_first_time

from acme import ParallelMap, ParallelMapError

N_CALLS = 40

DRIVER = textwrap.dedent("""
    import sys, time
    import distributed
    import acme.checkpoint
    from acme import ParallelMap
    acme.checkpoint.MIN_INTERVAL = 0.3

    def work(x):
        time.sleep(0.1)  # must last long enough to be killed (noqa: sleep-ok)
        return x + 100

    if __name__ == "__main__":
        with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                                dashboard_address=":0"):
            with ParallelMap(work, list(range(N_CALLS)), output_dir=sys.argv[1]) as pmap:
                pmap.compute()
""").replace("N_CALLS", str(N_CALLS))


def acme_cmd(*args, cwd):
    """Run ``python -m acme ARGS`` (PYTHONPATH puts this tree first; ``funcs`` of the
    tests importable, as the function of a run must be where it is inspected)."""
    path = os.pathsep.join([os.environ.get("PYTHONPATH", ""), os.path.dirname(__file__)])
    return subprocess.run([sys.executable, "-m", "acme", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=180, env={**os.environ, "PYTHONPATH": path})


def _done(out) -> int:
    path = out / "acme_run_work.h5"
    if not path.exists():
        return 0
    with h5py.File(path, "r") as h5f:
        return int((h5f["status"][()] == 1).sum())


def test_status_and_resume_of_a_killed_run(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "ACME_20261130-120000-000000"
    proc = subprocess.Popen([sys.executable, str(script), str(out)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while _done(out) < 5:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)  # polling the record for the moment to kill (noqa: sleep-ok)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    status = acme_cmd("status", "--json", cwd=tmp_path)  # finds the ACME_* directory
    assert status.returncode == 1, status.stderr
    [run] = json.loads(status.stdout)
    assert run["function"] == "work" and run["state"] == "running"
    assert run["driver_alive"] is False and run["n_calls"] == N_CALLS
    assert 5 <= run["done"] < N_CALLS and run["done"] + run["not_run"] == N_CALLS
    assert run["mean_call_seconds"] >= 0.1
    resumed = acme_cmd("resume", str(out), "--workers", "2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    status = acme_cmd("status", str(out), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert f"{N_CALLS} done, 0 failed, 0 pickled, 0 not run" in status.stdout
    with h5py.File(out / "work.h5", "r") as h5f:
        assert [h5f[f"comp_{i}/result_0"][0] for i in range(N_CALLS)] == \
            [i + 100 for i in range(N_CALLS)]


def test_status_lists_failed_calls(tmp_path, client):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    with pytest.raises(ParallelMapError):
        with ParallelMap(fails_first_time, list(range(10)), str(marks), output_dir=str(out),
                         verbose=False) as pmap:
            pmap.compute()
    status = acme_cmd("status", "-v", str(out), cwd=tmp_path)
    assert status.returncode == 1
    assert "9 done, 1 failed, 0 pickled, 0 not run (of 10)" in status.stdout
    assert "task 3: OSError: transient failure of call 3" in status.stdout
    inspected = acme_cmd("inspect", str(out), "--call", "3", "--json", cwd=tmp_path)
    assert inspected.returncode == 0, inspected.stderr
    call = json.loads(inspected.stdout)
    assert (call["status"], call["attempts"], call["failure_kind"]) == \
        ("failed", 1, "exception")
    assert call["arguments"] == {"x": "3", "marks": repr(str(marks))[:57] + "..."}
    assert call["traceback"].rstrip().endswith("OSError: transient failure of call 3")
    assert call["duration"] >= 0 and call["host"]
    run = acme_cmd("inspect", str(out), cwd=tmp_path)
    assert run.returncode == 0
    assert "function: fails_first_time" in run.stdout and "state: failed" in run.stdout
    assert acme_cmd("inspect", str(out), "--call", "10", cwd=tmp_path).returncode == 2
    missing = acme_cmd("status", str(tmp_path / "nothing"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "no ACME run found in" in missing.stderr
    for command in ("status", "inspect", "resume"):
        helped = acme_cmd(command, "--help", cwd=tmp_path)
        assert helped.returncode == 0 and f"usage: acme {command}" in helped.stdout
