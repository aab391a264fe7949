"""ParallelMap end to end on a real LocalCluster: ACME user-guide examples, failures,
client reuse and hygiene."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import distributed
import h5py
import numpy as np
import pytest
from funcs import f, fails_at, ident, no_positional, rand1

import acme
from acme import ParallelMap, ParallelMapError


def test_walkthrough_default_storage(in_tmp, client):
    with ParallelMap(f, [2, 4, 6, 8], 4) as pmap:
        results = pmap.compute()
    out = in_tmp / os.listdir(in_tmp)[0]
    assert acme.storage.paths.AUTO_DIR_PATTERN.match(out.name)
    assert results == [str(out / "f_payload" / f"f_{i}.h5") for i in range(4)]
    assert pmap.results_container == str(out / "f.h5")
    entries = sorted(os.listdir(out))
    assert len(entries) == 5 and entries[1:] == ["acme_inputs_f.h5", "acme_run_f.h5", "f.h5",
                                                 "f_payload"]
    assert re.fullmatch(r"ACME_f_\d{8}-\d{6}\.log", entries[0])
    assert sorted(os.listdir(out / "f_payload")) == [f"f_{i}.h5" for i in range(4)]
    with h5py.File(pmap.results_container, "r") as h5f:
        assert sorted(h5f.keys()) == [f"comp_{i}" for i in range(4)]
        values = [h5f[f"comp_{i}"]["result_0"][()] for i in range(4)]
        link = h5f.get("comp_0", getlink=True)
        assert isinstance(link, h5py.ExternalLink) and link.filename == "f_payload/f_0.h5"
    assert [v.tolist() for v in values] == [[18], [24], [30], [36]]


def test_n_inputs_override(in_tmp, client):
    y = np.ones((3,)) * 4
    with pytest.raises(ValueError, match="found 2 objects containing 3 to 4 elements"):
        ParallelMap(f, [2, 4, 6, 8], y)
    with ParallelMap(f, [2, 4, 6, 8], y, n_inputs=4, write_worker_results=False) as pmap:
        results = pmap.compute()
    assert [r.tolist() for r in results] == [[v] * 3 for v in (18.0, 24.0, 30.0, 36.0)]


def test_repetition(in_tmp, client):
    with ParallelMap(f, 2, 3, n_inputs=4, write_worker_results=False) as pmap:
        assert pmap.compute() == [15, 15, 15, 15]


def test_identical_calls_all_run(in_tmp, client):
    with ParallelMap(rand1, 3.0, n_inputs=10, write_worker_results=False) as pmap:
        results = pmap.compute()
    assert len(set(results)) == 10  # ten executions, not one deduplicated task


def test_function_without_positional_parameters(in_tmp, client):
    with ParallelMap(no_positional, n_inputs=3, scale=5, write_worker_results=False) as pmap:
        assert pmap.compute() == [5, 5, 5]


def test_back_to_back_runs_on_one_client_with_broadcast_arrays(in_tmp, client):
    arr = np.arange(1000.0).reshape(10, 100)  # 2-D: broadcast
    for _ in range(20):
        with ParallelMap(acme_sum, list(range(8)), arr, write_worker_results=False,
                         verbose=False) as pmap:
            assert pmap.compute() == [float(x + arr.sum()) for x in range(8)]
    assert client.status == "running"


def acme_sum(x, arr):
    return float(x + arr.sum())


def test_failing_calls_do_not_sink_the_run(in_tmp, client):
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(fails_at, list(range(100)), verbose=False) as pmap:
            pmap.compute()
    err = info.value
    assert isinstance(err, RuntimeError)
    msg = str(err)
    assert msg.startswith("Parallel computation failed: 2/100 tasks failed")
    assert "task ids: 3, 57" in msg
    assert "ValueError: boom 3" in msg and "raise ValueError" in msg  # original traceback
    assert sorted(err.failed) == [3, 57]
    assert "boom 57" in err.failed[57]
    payload = os.path.join(os.path.dirname(pmap.results_container), "fails_at_payload")
    files = sorted(os.listdir(payload))
    assert len(files) == 98 and "fails_at_3.h5" not in files and "fails_at_57.h5" not in files
    assert err.results[3] is None and err.results[57] is None
    assert err.results[4] == os.path.join(payload, "fails_at_4.h5")
    with h5py.File(pmap.results_container, "r") as h5f:
        assert len(h5f.keys()) == 98
        assert all(h5f[f"comp_{i}/result_0"][()][0] == i for i in range(100) if i not in (3, 57))


def test_many_failures_are_summarised(in_tmp, client):
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(fails_at, list(range(30)), bad=list(range(20)), n_inputs=30,
                         write_worker_results=False, verbose=False) as pmap:
            pmap.compute()
    assert "task ids: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 10 more" in str(info.value)
    assert info.value.results[20:] == list(range(20, 30))


def test_failure_traceback_goes_to_the_log_file(in_tmp, client):
    with pytest.raises(ParallelMapError):
        with ParallelMap(fails_at, list(range(6)), verbose=False) as pmap:
            pmap.compute()
    out = os.path.dirname(pmap.results_container)
    [logname] = [n for n in os.listdir(out) if n.endswith(".log")]
    text = open(os.path.join(out, logname)).read()
    assert "Task 3 failed: ValueError: boom 3" in text
    assert 'raise ValueError(f"boom {x}")' in text


def test_attached_client_stays_running(in_tmp, client, acme_log):
    with ParallelMap(ident, [1, 2], write_worker_results=False) as pmap:
        pmap.compute()
    assert client.status == "running"
    assert any(m.startswith("Attaching to parallel computing client") for m in acme_log.messages())


def test_compute_without_with(in_tmp, client):
    pmap = ParallelMap(f, [2, 4], 1, write_worker_results=False)
    assert pmap.compute() == [9, 15]
    with pytest.raises(RuntimeError, match="compute\\(\\) already ran"):
        pmap.compute()


@pytest.fixture
def no_slurm(monkeypatch):
    """This machine may run a test SLURM; these tests are about machines without one."""
    monkeypatch.setattr("acme.clusters.detect.slurm_available", lambda: False)


def _assert_no_default_client():
    with pytest.raises(ValueError):
        distributed.get_client()


def test_starts_and_stops_a_local_cluster(in_tmp, no_slurm, acme_log):
    with ParallelMap(ident, [1, 2, 3], n_workers=2, write_worker_results=False) as pmap:
        assert pmap.compute() == [1, 2, 3]
        started = distributed.get_client()
        assert len(started.nthreads()) == 2
    assert started.status == "closed"
    _assert_no_default_client()
    assert any("dashboard accessible at http" in m for m in acme_log.messages())


def test_stop_client_false_keeps_the_cluster_for_the_next_run(in_tmp, no_slurm):
    with ParallelMap(ident, [1, 2], n_workers=1, stop_client=False,
                     write_worker_results=False) as pmap:
        pmap.compute()
    kept = distributed.get_client()
    try:
        with ParallelMap(ident, [3, 4], write_worker_results=False) as pmap:
            assert pmap.compute() == [3, 4]
        assert kept.status == "running"
    finally:
        cluster = kept.cluster
        kept.close()
        cluster.close()


def test_exception_inside_with_stops_the_cluster_it_started(in_tmp, no_slurm):
    with pytest.raises(KeyError):
        with ParallelMap(ident, [1, 2], n_workers=1, stop_client=False,
                         write_worker_results=False) as pmap:
            pmap.compute()
            started = distributed.get_client()
            raise KeyError("user code failed")
    assert started.status == "closed"
    _assert_no_default_client()


def test_client_without_workers_is_not_reused(in_tmp):
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as dead:
        with pytest.raises(RuntimeError, match="no active workers found"):
            with ParallelMap(ident, [1, 2], write_worker_results=False) as pmap:
                pmap.compute()
        assert dead.status == "running"  # not ours to close


def test_import_changes_nothing_global():
    code = ("import sys, logging; hook = sys.excepthook; import acme; "
            "assert sys.excepthook is hook; "
            "hs = logging.getLogger('ACME').handlers; "
            "assert [type(h).__name__ for h in hs] == ['NullHandler'], hs; "
            "assert logging.getLogger().handlers == []; "
            "assert 'dask_jobqueue' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_logger_is_restored_after_a_run(in_tmp, client):
    import logging
    logger = logging.getLogger("ACME")
    before = (logger.level, list(logger.handlers), logger.propagate)
    with ParallelMap(ident, [1, 2], verbose=True, write_worker_results=False) as pmap:
        assert logger.level == logging.DEBUG
        pmap.compute()
    assert (logger.level, list(logger.handlers), logger.propagate) == before


def test_large_argument_warning(in_tmp, client, acme_log, monkeypatch):
    # the real limit is 1 GB: an argument that large costs more than the rule it tests
    monkeypatch.setattr(ParallelMap, "_maxArgSize", 1)
    big = np.zeros((2, 200_000))  # 3.2 MB, broadcast
    with ParallelMap(f, [1, 2], big, write_worker_results=False, verbose=False) as pmap:
        pmap.compute()
    assert any("argument size 3.20 MB exceeds recommended limit of 1 MB" in m
               for m in acme_log.messages())


def test_existing_logfile_is_appended_with_a_warning(in_tmp, client):
    logfile = in_tmp / "my_log.txt"
    logfile.write_text("earlier run\n")
    with pytest.warns(UserWarning, match="ACME log-file .*my_log.txt already exists, "
                                         "appending to it"):
        with ParallelMap(f, [1, 2], 3, logfile=str(logfile),
                         write_worker_results=False) as pmap:
            pmap.compute()
    text = logfile.read_text()
    assert text.startswith("earlier run\n") and "This is ACME v." in text


def test_a_call_that_kills_its_worker_fails_alone(in_tmp):
    from funcs import dies_at_3

    # dask retries a task whose worker died (on restarted workers) and then gives up
    # with KilledWorker; acme then reruns that chunk call by call, so the other calls of
    # the chunk still deliver their results.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        with pytest.raises(ParallelMapError) as info:
            with ParallelMap(dies_at_3, list(range(8)), write_worker_results=False,
                             verbose=False) as pmap:
                pmap.compute(chunk_size=4)
    err = info.value
    why = {i: tb[-400:] for i, tb in err.failed.items()}   # shown if an assertion fails
    # Calls queued behind call 3 on a dying worker may be failed by dask too (it counts
    # them as suspects); acme runs them again on their own, so only call 3 fails.
    assert list(err.failed) == [3], why
    assert "KilledWorker" in err.failed[3]
    assert err.results == [0, 1, 2, None, 4, 5, 6, 7]


def test_results_lost_with_a_dying_worker_are_computed_again(in_tmp):
    from funcs import slow_first_dies_at_2

    # One worker, one call per task. While the driver unpickles call 0's value (1 s),
    # the worker finishes call 1 and then dies on call 2: call 1's finished result is
    # lost with it before the driver has read it. The scheduler computes call 1 again;
    # it must deliver its value, not be reported as failed. (Whether the driver sees
    # call 1 as "lost" or, if the restarted worker was quick, as finished again depends
    # on timing; both must give the same outcome.)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        with pytest.raises(ParallelMapError) as info:
            with ParallelMap(slow_first_dies_at_2, list(range(6)),
                             write_worker_results=False, verbose=False) as pmap:
                pmap.compute(chunk_size=1)
    err = info.value
    why = {i: tb[-400:] for i, tb in err.failed.items()}
    assert list(err.failed) == [2], why
    assert "KilledWorker" in err.failed[2]
    assert err.results == [0, 1, None, 3, 4, 5]


def test_a_value_the_driver_cannot_unpickle_fails_only_its_call(in_tmp, client):
    from funcs import unloadable_at_2

    # Reading chunk [0, 1, 2] raises in the driver; its calls run again one by one, so
    # calls 0 and 1 deliver their values and call 2 fails with the unpickling error.
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(unloadable_at_2, list(range(6)), write_worker_results=False,
                         verbose=False) as pmap:
            pmap.compute(chunk_size=3)
    err = info.value
    assert list(err.failed) == [2]
    assert err.failed[2].rstrip().endswith(
        "ValueError: the value of call 2 cannot be rebuilt in the driver")
    assert err.results == [0, 1, None, 3, 4, 5]
