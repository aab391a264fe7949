"""Durable runs: a driver killed with SIGKILL at three moments, in every storage mode.

After each kill the container (a complete HDF5 file) holds every call the record lists
as done, with its value; ``resume=True`` finishes the run; the values equal a serial
loop; and no call that the record held as done ran again (each execution leaves a
side-effect file).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

N_CALLS = 200

DRIVER = textwrap.dedent("""
    import json, sys, time, uuid
    from pathlib import Path
    import distributed
    import numpy as np
    import acme.checkpoint
    from acme import ParallelMap

    acme.checkpoint.MIN_INTERVAL = 0.3   # checkpoint often: a short run gets killed

    def work(x, marks):
        Path(marks, f"{x}.{uuid.uuid4().hex}").touch()   # counts executions
        time.sleep(0.04)  # the run must last long enough to be killed (noqa: sleep-ok)
        return np.arange(3.0) + x

    if __name__ == "__main__":
        out, marks, mode, resume = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), \\
            sys.argv[4] == "resume"
        with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                                dashboard_address=":0"):
            with ParallelMap(work, list(range(N_CALLS)), marks, output_dir=out, resume=resume,
                             verbose=False, **mode) as pmap:
                pmap.compute()
        print("ALL DONE", flush=True)
""").replace("N_CALLS", str(N_CALLS))

MODES = {
    "hdf5": {},
    "hdf5-shape": {"result_shape": [3, None]},
    "single": {"single_file": True},
    "single-shape": {"single_file": True, "result_shape": [3, None]},
    "pickle": {"write_pickle": True},
}


def expected(i: int) -> np.ndarray:
    return np.arange(3.0) + i


def record_state(out: Path) -> tuple[str, np.ndarray] | None:
    """State and status column of the record (None before it exists)."""
    path = out / "acme_run_work.h5"
    if not path.exists():
        return None
    with h5py.File(path, "r") as h5f:
        return str(h5f.attrs["state"]), h5f["status"][()]


def executions(marks: Path) -> np.ndarray:
    counts = np.zeros(N_CALLS, dtype=int)
    for mark in os.listdir(marks):
        counts[int(mark.split(".")[0])] += 1
    return counts


def stored_values(out: Path, mode: dict) -> dict[int, np.ndarray]:
    """Every result the container lists (pickles in pickle mode), read with h5py."""
    if mode.get("write_pickle"):
        values = {}
        for path in out.glob("work_*.pickle"):
            with open(path, "rb") as fh:
                values[int(path.stem.split("_")[1])] = pickle.load(fh)
        return values
    with h5py.File(out / "work.h5", "r") as h5f:
        if "result_shape" not in mode:
            return {int(name.split("_")[1]): h5f[name]["result_0"][()] for name in h5f}
        data = h5f["result_0"]
        if data.is_virtual:
            listed = [int(Path(src.file_name).stem.split("_")[1])
                      for src in data.virtual_sources()]
        else:  # single file: the slots of the calls that were written
            listed = [i for i in range(N_CALLS) if np.any(data[:, i] != 0)]
        array = data[()]
        return {i: array[:, i] for i in listed}


def drive(script: Path, out: Path, marks: Path, mode: dict, resume: bool
          ) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(out), str(marks), json.dumps(mode),
         "resume" if resume else "new"], cwd=script.parent, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(proc: subprocess.Popen, out: Path, min_done: int) -> np.ndarray:
    """SIGKILL the driver once its record shows ``min_done`` calls done; the status."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = record_state(out)
        if state is not None and (state[1] != 0).sum() >= min_done:
            break
        assert proc.poll() is None, f"the driver ended early:\n{proc.communicate()[0]}"
        time.sleep(0.02)  # polling the record for the moment to kill (noqa: sleep-ok)
    else:
        pytest.fail(f"no record with {min_done} calls done within 90 s")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    final = record_state(out)
    assert final is not None
    return final[1]


@pytest.mark.parametrize("name", list(MODES))
def test_sigkill_three_times_then_resume(tmp_path, name):
    mode = MODES[name]
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    done_before: list[tuple[np.ndarray, np.ndarray]] = []
    for k, min_done in enumerate((1, 80, 150)):
        proc = drive(script, out, marks, mode, resume=k > 0)
        status = kill_when(proc, out, min_done)
        done = np.flatnonzero(status == 1)
        # The container opens, holds every call the record lists as done, and every
        # result it lists has its value.
        values = stored_values(out, mode)
        assert set(done) <= set(values)
        for i, value in values.items():
            np.testing.assert_array_equal(value, expected(i))
        done_before.append((done, executions(marks)))
    proc = drive(script, out, marks, mode, resume=True)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, output
    assert "ALL DONE" in output
    values = stored_values(out, mode)
    assert sorted(values) == list(range(N_CALLS))
    for i in range(N_CALLS):
        np.testing.assert_array_equal(values[i], expected(i))
    counts = executions(marks)
    assert counts.min() >= 1
    for done, counted in done_before:
        np.testing.assert_array_equal(counts[done], counted[done])
    assert sorted(p.name for p in out.rglob("*.tmp")) == []   # stale ones removed
    state, status = record_state(out)
    assert state == "finished"
    assert (status == 1).all()
