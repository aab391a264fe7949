"""Resume, retries and the run record, on the session's LocalCluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import dask
import distributed
import h5py
import numpy as np
import pytest
from funcs import dies_at_3, f, fails_first_time, fails_twice

import acme
from acme import ParallelMap, ParallelMapError


def test_calls_failing_on_first_execution_then_resume(tmp_path, client):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(fails_first_time, list(range(100)), str(marks), output_dir=str(out),
                         verbose=False) as pmap:
            pmap.compute()
    assert sorted(info.value.failed) == [3, 57]
    status = acme.run_status(out)
    assert status.state == "failed"
    assert status.failed == {3: "OSError: transient failure of call 3",
                             57: "OSError: transient failure of call 57"}
    assert len(status.done) == 98 and status.missing == ()
    assert status.driver_alive is True   # this process drove it
    with ParallelMap(fails_first_time, list(range(100)), str(marks), output_dir=str(out),
                     resume=True, verbose=False) as pmap:
        paths = pmap.compute()
    assert paths == [str(out / "fails_first_time_payload" / f"fails_first_time_{i}.h5")
                     for i in range(100)]
    with h5py.File(out / "fails_first_time.h5", "r") as h5f:
        assert [h5f[f"comp_{i}"]["result_0"][0] for i in range(100)] == \
            [10 * i for i in range(100)]
    status = acme.run_status(out)
    assert status.state == "finished" and status.complete and status.failed == {}
    attempts = np.array(status.attempts)
    assert attempts[[3, 57]].tolist() == [2, 2]
    assert (np.delete(attempts, [3, 57]) == 1).all()


def test_retries_until_success(tmp_path, client):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    with ParallelMap(fails_twice, list(range(6)), str(marks), output_dir=str(out),
                     retries=2, single_file=True, verbose=False) as pmap:
        pmap.compute()
    status = acme.run_status(out)
    assert status.complete
    assert status.attempts == (1, 1, 3, 1, 1, 1)
    with h5py.File(out / "fails_twice.h5", "r") as h5f:
        assert h5f["comp_2/result_0"][()].tolist() == [20]


def test_retries_exhausted(tmp_path, client):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(fails_twice, list(range(4)), str(marks), output_dir=str(out),
                         retries=1, verbose=False) as pmap:
            pmap.compute()
    assert list(info.value.failed) == [2] and info.value.worker_died == []
    status = acme.run_status(out)
    assert status.failed == {2: "OSError: failure 2 of call 2"}
    assert status.attempts[2] == 2


def test_resume_refuses_a_changed_argument_before_any_work(tmp_path, client):
    out = tmp_path / "out"
    with ParallelMap(f, list(range(10)), 4, z=[1] * 10, output_dir=str(out),
                     verbose=False) as pmap:
        pmap.compute()
    before = sorted(os.listdir(out))
    changed = list(range(10))
    changed[4] = 40
    with pytest.raises(ValueError, match=r"cannot resume the run in .*: argument 'x' of "
                                         r"call 4 differs: recorded 4, given 40"):
        ParallelMap(f, changed, 4, z=[1] * 10, output_dir=str(out), resume=True)
    with pytest.raises(ValueError, match=r"argument 'y' of call 0 differs: recorded 4, "
                                         r"given 5"):
        ParallelMap(f, list(range(10)), 5, z=[1] * 10, output_dir=str(out), resume=True)
    with pytest.raises(ValueError, match=r"argument 'z' of call 7 differs: recorded 1, "
                                         r"given 2"):
        ParallelMap(f, list(range(10)), 4, z=[1] * 7 + [2] * 3, output_dir=str(out),
                    resume=True)
    def f_changed(x, y, z=3):
        return (x + y) * z + 1
    f_changed.__name__ = "f"
    with pytest.raises(ValueError, match=r"the function f differs from the recorded one"):
        ParallelMap(f_changed, list(range(10)), 4, z=[1] * 10, output_dir=str(out),
                    resume=True)
    with pytest.raises(ValueError, match=r"`single_file` was False, now True"):
        ParallelMap(f, list(range(10)), 4, z=[1] * 10, output_dir=str(out), resume=True,
                    single_file=True)
    assert sorted(os.listdir(out)) == before
    # A finished run resumes to the same results without running anything.
    with ParallelMap(f, list(range(10)), 4, z=[1] * 10, output_dir=str(out), resume=True,
                     verbose=False) as pmap:
        assert len(pmap.compute()) == 10
    assert acme.run_status(out).attempts == (1,) * 10


def test_resume_without_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no run of f to resume in .*empty: its "
                                                r"run record acme_run_f.h5 does not exist"):
        ParallelMap(f, [1, 2], 3, output_dir=str(tmp_path / "empty"), resume=True)
    with pytest.raises(ValueError, match=r"`resume=True` needs `output_dir`"):
        ParallelMap(f, [1, 2], 3, resume=True)
    with pytest.raises(ValueError, match=r"`resume=True` does not take `dryrun=True`"):
        ParallelMap(f, [1, 2], 3, output_dir=str(tmp_path), resume=True, dryrun=True)
    with pytest.raises(TypeError, match=r"`resume` has to be `True` or `False`"):
        ParallelMap(f, [1, 2], 3, output_dir=str(tmp_path), resume="yes")
    with pytest.raises(ValueError, match=r"`retries` has to be an integer between 0"):
        ParallelMap(f, [1, 2], 3, retries=-1)
    with pytest.raises(FileNotFoundError, match="no ACME run found in"):
        acme.run_status(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_worker_death_is_told_apart(tmp_path):
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        with pytest.raises(ParallelMapError) as info:
            with ParallelMap(dies_at_3, list(range(6)), output_dir=str(out),
                             verbose=False) as pmap:
                pmap.compute(chunk_size=3)
    assert list(info.value.failed) == [3] and info.value.worker_died == [3]
    assert "1 of them killed their worker process (task ids: 3)" in str(info.value)
    status = acme.run_status(out)
    assert status.worker_died == (3,)
    assert status.failed[3].startswith("KilledWorker:")


READER = textwrap.dedent("""
    import json, sys
    import h5py
    with h5py.File(sys.argv[1], "r") as h5f:
        status = h5f["status"][()]
        report = {"state": h5f.attrs["state"], "n_calls": int(h5f.attrs["n_calls"]),
                  "func_name": h5f.attrs["func_name"],
                  "done": int((status == 1).sum()), "failed": int((status == 2).sum()),
                  "errors": [e.decode() for e in h5f["error"][()] if e],
                  "hosts": json.loads(h5f.attrs["hosts"]),
                  "function_bytes": int(h5f["function"].shape[0]),
                  "versions": json.loads(h5f.attrs["versions"])}
    assert "acme" not in sys.modules
    print(json.dumps(report))
""")


def test_the_record_reads_with_plain_h5py(tmp_path, client):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    with pytest.raises(ParallelMapError):
        with ParallelMap(fails_first_time, list(range(10)), str(marks), output_dir=str(out),
                         verbose=False) as pmap:
            pmap.compute()
    proc = subprocess.run([sys.executable, "-c", READER, str(out / "acme_run_fails_first_time.h5")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["state"] == "failed" and report["n_calls"] == 10
    assert report["func_name"] == "fails_first_time"
    assert (report["done"], report["failed"]) == (9, 1)
    assert report["errors"] == ["OSError: transient failure of call 3"]
    assert report["hosts"] and report["function_bytes"] > 0
    assert report["versions"]["acme"] == acme.__version__


def test_retries_of_a_call_that_kills_its_worker(tmp_path):
    from funcs import dies_twice

    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    # dask gives up on a task at the first worker death: the test needs few deaths
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        with ParallelMap(dies_twice, list(range(6)), str(marks), output_dir=str(out),
                         retries=1, verbose=False) as pmap:
            pmap.compute(chunk_size=3)
    status = acme.run_status(out)
    assert status.complete
    # the chunk's failure counts for no call; then call 3 died once on its own, and
    # its retry succeeded
    assert status.attempts == (1, 1, 1, 2, 1, 1)
    assert sorted(os.listdir(marks)) == ["died_3_0", "died_3_1"]


def test_resume_refuses_while_the_driver_runs(tmp_path):
    import socket

    import psutil

    from acme.record import CallTable, RecordWriter

    me = psutil.Process()
    RecordWriter(tmp_path, "f", {"driver_host": socket.gethostname(), "driver_pid": me.pid,
                                 "driver_started": me.create_time()}
                 ).publish(CallTable.empty(2), "running")
    with pytest.raises(RuntimeError, match=rf"the run in {tmp_path} is still going on "
                                           rf"\(driver process {me.pid} on "):
        ParallelMap(f, [1, 2], 3, output_dir=str(tmp_path), resume=True)
