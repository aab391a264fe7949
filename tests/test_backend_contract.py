"""The backend contract: ``run(calls, collect)`` hands each call's outcome to ``collect``.

Held alike for the sequential (debug) backend and the dask backend on the session's real
LocalCluster; then what only one of them promises.
"""

from __future__ import annotations

import logging

import cloudpickle
import h5py
import pytest
from funcs import f, fails_at

from acme import clients
from acme.arguments import plan_calls
from acme.backends import DaskBackend, SequentialBackend
from acme.options import RunOptions
from acme.pipeline import run_calls
from acme.storage.paths import RunPaths, StorageMode
from acme.storage.store import ResultStore
from acme.tasks import shared_call

LOG = logging.getLogger("ACME")


def _backend(kind, func, args, storage_spec, client=None, acquired=None):
    plan = plan_calls(func, args, {}, "auto")
    if kind == "sequential":
        return plan, SequentialBackend(func, plan, shared_call(plan, storage_spec, b""), LOG)
    shared = shared_call(plan, storage_spec, cloudpickle.dumps(func))

    def acquire():
        acquired.append(True)
        return clients.ClientHandle(client, owned=False,
                                    expected_workers=len(client.nthreads()))
    return plan, DaskBackend(plan, shared, acquire, setup_timeout=30, log=LOG,
                             show_progress=False)


def _store(tmp_path, storage, func_name):
    opts = RunOptions(write_worker_results=storage != StorageMode.MEMORY,
                      write_pickle=storage == StorageMode.PICKLE)
    paths = RunPaths(tmp_path, func_name, storage) if storage != StorageMode.MEMORY else None
    if paths is not None and storage == StorageMode.HDF5:
        paths.payload_dir.mkdir()
    return ResultStore(paths, opts, func_name, n_calls=6)


@pytest.mark.parametrize("kind", ["sequential", "dask"])
@pytest.mark.parametrize("storage", [StorageMode.MEMORY, StorageMode.HDF5])
def test_every_backend_runs_exactly_the_given_calls(kind, storage, request, tmp_path,
                                                    acme_log):
    client = request.getfixturevalue("client") if kind == "dask" else None
    store = _store(tmp_path, storage, "f")
    plan, backend = _backend(kind, f, ([0, 1, 2, 3, 4, 5], 10), store.spec, client, [])
    got = []
    backend.run([1, 3, 4], got.append)
    assert sorted(o.index for o in got) == [1, 3, 4]
    assert all(o.ok for o in got)
    started = ("Preparing 3 parallel calls of `f` using 2 workers" if kind == "dask" else
               "Running in debug mode: 3 calls of `f` one after the other in this process")
    assert started in acme_log.messages()
    if storage == StorageMode.MEMORY:
        assert {o.index: o.value for o in got} == {1: 33, 3: 39, 4: 42}
    else:  # the call wrote its own payload, whichever backend ran it
        for o in got:
            with h5py.File(o.path, "r") as h5:
                assert h5["result_0"][()].tolist() == [(o.index + 10) * 3]
        assert sorted(p.name for p in (tmp_path / "f_payload").iterdir()) == \
            ["f_1.h5", "f_3.h5", "f_4.h5"]


def test_dask_backend_reports_failures_as_outcomes(client):
    spec = ResultStore(None, RunOptions(write_worker_results=False), "fails_at", 3).spec
    plan, backend = _backend("dask", fails_at, ([1, 3, 5],), spec, client, [])
    got = []
    backend.run([0, 1, 2], got.append)
    by_index = {o.index: o for o in got}
    assert [by_index[i].ok for i in range(3)] == [True, False, True]
    assert by_index[1].summary == "ValueError: boom 3"
    assert "raise ValueError" in by_index[1].error


def test_sequential_backend_raises_the_users_exception_unchanged(acme_log):
    plan = plan_calls(fails_at, ([1, 3, 5],), {}, "auto")
    spec = ResultStore(None, RunOptions(write_worker_results=False), "fails_at", 3).spec
    got = []
    with pytest.raises(ValueError, match="^boom 3$") as info:
        SequentialBackend(fails_at, plan, shared_call(plan, spec, b""), LOG).run(
            [0, 1, 2], got.append)
    assert type(info.value) is ValueError  # not wrapped
    assert info.value.__cause__ is None
    assert [o.index for o in got] == [0]  # call 2 never ran
    assert "Task 1 failed: ValueError: boom 3" in acme_log.messages(logging.ERROR)


def test_a_run_with_nothing_to_do_starts_no_client(tmp_path):
    acquired = []
    store = _store(tmp_path, StorageMode.MEMORY, "f")
    plan, backend = _backend("dask", f, ([0, 1], 10), store.spec, None, acquired)
    outcomes = [None, None]
    end = run_calls(backend, [], store, None, outcomes, LOG)
    assert (end.state, end.n_failed, end.container_error) == ("finished", 0, None)
    assert acquired == []
