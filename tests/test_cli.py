"""The installed ``acme`` command on real runs: killed, failed, finished."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
from funcs import f, fails_first_time
from helpers import done_calls

from acme import ParallelMap, ParallelMapError

N_CALLS = 40

DRIVER = textwrap.dedent("""
    import sys, time
    import distributed
    import acme.checkpoint
    from acme import ParallelMap
    acme.checkpoint.MIN_INTERVAL = 0.3

    def work(x):
        time.sleep(0.2)  # must last long enough to be killed (noqa: sleep-ok)
        return x + 100

    if __name__ == "__main__":
        with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                                dashboard_address=":0"):
            with ParallelMap(work, list(range(N_CALLS)), output_dir=sys.argv[1]) as pmap:
                pmap.compute()
""").replace("N_CALLS", str(N_CALLS))


#: The console script the package installs (the README's test command installs it);
#: ``python -m acme`` where it is not on PATH (e.g. a tree run through PYTHONPATH).
ACME = [shutil.which("acme") or ""] if os.environ.get("CI") or shutil.which("acme") \
    else [sys.executable, "-m", "acme"]


def acme_cmd(*args, cwd):
    """Run ``acme ARGS`` (``funcs`` of the tests importable, as the function of a run must
    be where it is inspected)."""
    path = os.pathsep.join([os.environ.get("PYTHONPATH", ""), os.path.dirname(__file__)])
    return subprocess.run([*ACME, *args], cwd=cwd, text=True,
                          capture_output=True, timeout=180, env={**os.environ, "PYTHONPATH": path})


def test_the_installed_command_and_the_module_agree(tmp_path):
    """``acme`` and ``python -m acme`` are the same program."""
    assert ACME[0], "the `acme` command is not installed (pip install the package)"
    by_script = subprocess.run([*ACME, "--help"], capture_output=True, text=True, timeout=60)
    by_module = subprocess.run([sys.executable, "-m", "acme", "--help"], capture_output=True,
                               text=True, timeout=60)
    assert by_script.returncode == by_module.returncode == 0
    for command in ("status", "inspect", "resume", "merge", "clean"):
        assert command in by_script.stdout
    assert by_script.stdout.split("\n", 1)[1] == by_module.stdout.split("\n", 1)[1]


def test_status_and_resume_of_a_killed_run(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "ACME_20261130-120000-000000"
    proc = subprocess.Popen([sys.executable, str(script), str(out)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while done_calls(out) < 5:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)  # polling the record for the moment to kill (noqa: sleep-ok)
    during = acme_cmd("status", "--json", str(out), cwd=tmp_path)
    assert proc.poll() is None, "the run ended before its status was read"
    [run] = json.loads(during.stdout)
    assert run["state"] == "running" and run["driver_alive"] is True
    assert run["seconds_left"] > 0 and during.returncode == 1
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


def _values(group, prefix=""):
    """Every dataset of an HDF5 group, external links followed, as lists by path."""
    found = {}
    for name in group:
        item = group[name]
        if isinstance(item, h5py.Group):
            found.update(_values(item, f"{prefix}{name}/"))
        else:
            found[prefix + name] = np.asarray(item[()]).tolist()
    return found


@pytest.mark.parametrize("mode", ["hdf5", "hdf5-shape", "single", "single-shape"])
def test_merge_makes_one_self_contained_file(tmp_path, client, mode):
    from funcs import three_values
    from helpers import STORAGE_MODES

    out = tmp_path / "out"
    with ParallelMap(three_values, list(range(5)), output_dir=str(out), verbose=False,
                     **STORAGE_MODES[mode]) as pmap:
        pmap.compute()
    with h5py.File(out / "three_values.h5", "r") as h5f:
        expected = _values(h5f)
    merged = tmp_path / "merged.h5"
    done = acme_cmd("merge", str(out), "-o", str(merged), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["bytes"] == merged.stat().st_size
    again = acme_cmd("merge", str(out), "-o", str(merged), cwd=tmp_path)
    assert again.returncode == 2 and "never overwritten" in again.stderr
    import shutil
    shutil.rmtree(out)
    with h5py.File(merged, "r") as h5f:
        values = {k: v for k, v in _values(h5f).items() if not k.startswith("acme_run")}
        assert values == expected
        assert h5f["acme_run/status"][()].tolist() == [1] * 5
        assert h5f["acme_run"].attrs["func_name"] == "three_values"
        assert h5f["acme_run/inputs/function"].shape[0] > 0


def test_merge_of_pickles(tmp_path, client):
    import pickle

    out = tmp_path / "out"
    with ParallelMap(f, [1, 2, 3], 4, output_dir=str(out), write_pickle=True,
                     verbose=False) as pmap:
        pmap.compute()
    merged = tmp_path / "merged.h5"
    refused = acme_cmd("merge", str(out), "-o", str(merged), cwd=tmp_path)
    assert refused.returncode == 1
    assert "holds 3 pickled results (e.g. task 0)" in refused.stderr and "--pickles" in \
        refused.stderr
    assert not merged.exists()
    done = acme_cmd("merge", str(out), "-o", str(merged), "--pickles", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with h5py.File(merged, "r") as h5f:
        assert [pickle.loads(h5f[f"comp_{i}/pickle"][()].tobytes()) for i in range(3)] == \
            [15, 18, 21]


def test_clean_removes_only_old_runs_without_a_live_driver(tmp_path):
    import psutil

    from acme.record import CallTable, RecordWriter

    old = tmp_path / "ACME_20200101-000000-000000"
    live = tmp_path / "ACME_20200102-000000-000000"
    other = tmp_path / "ACME_not_a_run"
    for folder in (old, live, other):
        folder.mkdir()
    (old / "f.h5").write_bytes(b"")
    me = psutil.Process()
    RecordWriter(live, "f", {"driver_host": __import__("socket").gethostname(),
                             "driver_pid": me.pid, "driver_started": me.create_time()}
                 ).publish(CallTable.empty(3), "running")
    listed = acme_cmd("clean", str(tmp_path), "--dry-run", cwd=tmp_path)
    assert listed.returncode == 0
    assert f"would remove {old} (" in listed.stdout
    assert f"keeping {live}: its driver is running" in listed.stdout
    assert str(other) not in listed.stdout
    refused = acme_cmd("clean", str(tmp_path), cwd=tmp_path)   # no terminal, no --yes
    assert refused.returncode == 1 and old.exists()
    recent = acme_cmd("clean", str(tmp_path), "--older-than", "100000", "--yes", cwd=tmp_path)
    assert recent.returncode == 0 and "nothing to remove" in recent.stdout and old.exists()
    done = acme_cmd("clean", str(tmp_path), "--yes", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"removed": [str(old)], "kept_running": [str(live)],
                                       "candidates": [str(old)]}
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, other.name]
