"""Ctrl-C (SIGINT to a driver process) mid-run, then resume from another process with
the line the log ends with; the function is defined in the driver's ``__main__``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import psutil
from helpers import done_calls

N_CALLS = 60

DRIVER = textwrap.dedent("""
    import sys, time, uuid
    from pathlib import Path
    import acme.checkpoint, acme.clusters.detect
    from acme import ParallelMap
    acme.clusters.detect.slurm_available = lambda: False   # a local run
    acme.checkpoint.MIN_INTERVAL = 0.3

    def work(x, marks):
        Path(marks, f"{x}.{uuid.uuid4().hex}").touch()
        time.sleep(0.1)  # must last long enough to be interrupted (noqa: sleep-ok)
        return x + 0.5

    if __name__ == "__main__":
        with ParallelMap(work, list(range(N_CALLS)), sys.argv[2], output_dir=sys.argv[1],
                         n_workers=2, single_file=True) as pmap:
            pmap.compute()
""").replace("N_CALLS", str(N_CALLS))

LOCAL_ONLY = "import acme.clusters.detect as d; d.slurm_available = lambda: False; "


def test_ctrl_c_then_resume_from_the_log_line(tmp_path):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(marks)], cwd=tmp_path,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    workers = set()
    deadline = time.monotonic() + 90
    while done_calls(out) < 10:
        assert proc.poll() is None and time.monotonic() < deadline, "no 10 calls done"
        workers |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        time.sleep(0.02)  # polling the record for the moment to interrupt (noqa: sleep-ok)
    os.kill(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in output
    assert "The run was interrupted with" in output
    gone, alive = psutil.wait_procs([psutil.Process(p) for p in workers
                                     if psutil.pid_exists(p)], timeout=20)
    assert alive == []
    logfile = next(out.glob("ACME_work_*.log"))
    last = logfile.read_text().strip().splitlines()[-1]
    line = f"import acme; acme.resume_run({str(out)!r})"
    assert last.endswith(f"To resume this run: {line}")
    import acme
    status = acme.run_status(out)
    assert status.state == "interrupted" and status.driver_alive is False
    assert 10 <= len(status.done) < N_CALLS
    with h5py.File(out / "work.h5", "r") as h5f:   # the checkpointed container
        for i in status.done:
            assert h5f[f"comp_{i}/result_0"][()].tolist() == [i + 0.5]
    done_counts = {i: len(list(marks.glob(f"{i}.*"))) for i in status.done}
    resumed = subprocess.run([sys.executable, "-c", LOCAL_ONLY + line], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    status = acme.run_status(out)
    assert status.state == "finished" and status.complete
    with h5py.File(out / "work.h5", "r") as h5f:
        assert [h5f[f"comp_{i}/result_0"][0] for i in range(N_CALLS)] == \
            [i + 0.5 for i in range(N_CALLS)]
    assert {i: len(list(marks.glob(f"{i}.*"))) for i in status.done if i in done_counts} \
        == done_counts

