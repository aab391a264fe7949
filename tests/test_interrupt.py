"""Ctrl-C inside ``with ParallelMap(...)``: the run's tasks are cancelled and the cluster
it started is shut down, worker processes included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

SCRIPT = textwrap.dedent("""
    import os, sys, time
    import acme.clusters.detect
    from acme import ParallelMap
    acme.clusters.detect.slurm_available = lambda: False   # this test is about local runs

    def slow(x):
        print("STARTED", os.getpid(), flush=True)
        time.sleep(60)  # noqa: sleep-ok (the call that Ctrl-C interrupts)
        return x

    if __name__ == "__main__":
        with ParallelMap(slow, list(range(8)), n_workers=2, write_worker_results=False) as pmap:
            pmap.compute()
        print("ALL DONE", flush=True)
""")


def test_ctrl_c_stops_the_run_and_its_cluster(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    worker_pids = set()
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until a worker has started a call
        lines.append(line)
        if line.startswith("STARTED"):
            worker_pids.add(int(line.split()[1]))
            break
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=50)
    output = "".join(lines) + rest
    assert time.monotonic() - started < 50
    assert "ALL DONE" not in output
    assert "KeyboardInterrupt" in output
    assert proc.returncode != 0
    gone, alive = psutil.wait_procs([psutil.Process(p) for p in worker_pids
                                     if psutil.pid_exists(p)], timeout=20)
    assert alive == [], f"worker processes survived: {alive}"
