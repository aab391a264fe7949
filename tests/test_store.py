"""The storage home without a cluster: file names, directories, and the driver-side
``ResultStore`` (single file, emergency pickles, values dropped or kept)."""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pytest

import acme
from acme import availability, errors, lazy, merge
from acme.clusters import detect
from acme.options import RunOptions
from acme.storage import payloads
from acme.storage.paths import RunPaths, StorageMode
from acme.storage.payloads import StorageSpec
from acme.storage.store import ResultStore, create_output_dirs
from acme.tasks import CallOutcome


@pytest.mark.parametrize("mode", [StorageMode.HDF5, StorageMode.SINGLE, StorageMode.PICKLE])
def test_workers_and_driver_derive_the_same_file_names(tmp_path, mode):
    paths = RunPaths(tmp_path, "f", mode)
    spec = StorageSpec.for_run(mode, paths, "f")
    assert spec.payload(7) == str(paths.payload(7))
    assert spec.pickle(7) == str(paths.pickle(7))
    # ACME's layout: payloads in <func>_payload, every other per-call file beside the
    # container
    expected = tmp_path / "f_payload" if mode == StorageMode.HDF5 else tmp_path
    assert paths.pickle(7) == expected / "f_7.pickle"
    assert paths.container == (None if mode == StorageMode.PICKLE else tmp_path / "f.h5")


def test_storage_modes_are_the_strings_records_hold():
    assert json.dumps([StorageMode.SINGLE]) == '["single"]'
    assert f"{StorageMode.PICKLE}" == "pickle" and StorageMode("hdf5") is StorageMode.HDF5
    assert RunOptions(single_file=True).storage == "single"
    assert RunOptions(write_worker_results=False).storage is StorageMode.MEMORY


def test_create_output_dirs(tmp_path):
    created = create_output_dirs(RunPaths(tmp_path / "a" / "b", "f", StorageMode.HDF5),
                                 exist_ok=False)
    assert created == [tmp_path / "a", tmp_path / "a" / "b" / "f_payload"]
    assert (tmp_path / "a" / "b" / "f_payload").is_dir()
    assert create_output_dirs(RunPaths(tmp_path / "p", "f", StorageMode.PICKLE),
                              exist_ok=False) == [tmp_path / "p"]
    assert not (tmp_path / "p" / "f_payload").exists()


def test_create_output_dirs_fails_naming_the_directory_and_leaves_nothing(tmp_path):
    (tmp_path / "file").write_text("")
    target = tmp_path / "new" / "file" / "out"
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "file").write_text("")
    with pytest.raises(OSError, match=f"automatic creation of output folder {target} failed"):
        create_output_dirs(RunPaths(target, "f", StorageMode.HDF5), exist_ok=False)
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["file"]


def _single(tmp_path, **options):
    opts = RunOptions(single_file=True, **options)
    paths = RunPaths(tmp_path, "f", opts.storage)
    return paths, ResultStore(paths, opts, "f", n_calls=3)


def test_single_file_store_writes_rows_and_pickles_what_hdf5_cannot_hold(tmp_path):
    paths, store = _single(tmp_path)
    outcomes = [CallOutcome(index=0, value=1.5), CallOutcome(index=1, value={"a": 1}),
                CallOutcome(index=2, error="tb", summary="ValueError: x")]
    for outcome in outcomes:
        store.keep(outcome)
    assert all(o.value is None for o in outcomes)  # stored, not kept in memory
    assert outcomes[1].path == str(tmp_path / "f_1.pickle")
    assert "Could not write the result of task 1 to HDF5" in outcomes[1].warning
    with open(tmp_path / "f_1.pickle", "rb") as fh:
        assert pickle.load(fh) == {"a": 1}
    store.finish(outcomes)
    with h5py.File(paths.container, "r") as h5:
        assert h5["comp_0/result_0"][()].tolist() == [1.5]
        assert "comp_1" not in h5 and "comp_2" not in h5
        assert h5.attrs["pickled_tasks"].tolist() == [1]
        assert h5.attrs["failed_tasks"].tolist() == [2]


def test_single_file_store_fails_a_result_that_does_not_fit_result_shape(tmp_path):
    paths, store = _single(tmp_path, result_shape=(None, 2))
    good, bad = CallOutcome(index=0, value=np.ones(2)), CallOutcome(index=1, value=np.ones(3))
    store.keep(good)
    store.keep(bad)
    assert good.ok and not bad.ok
    assert bad.summary == ("ResultShapeError: result has shape (3,), but `result_shape` "
                           "(None, 2) expects each result to have shape (2,)")
    store.finish([good, bad, None])
    with h5py.File(paths.container, "r") as h5:
        assert h5["result_0"][()].tolist() == [[1, 1], [0, 0], [0, 0]]


def test_memory_store_keeps_values_and_writes_nothing(tmp_path):
    store = ResultStore(None, RunOptions(write_worker_results=False), "f", n_calls=1)
    outcome = CallOutcome(index=0, value={"a": 1})
    store.keep(outcome)
    assert outcome.value == {"a": 1}
    assert store.publish is None and store.finish is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, base, old_home", [
    ("ResultShapeError", ValueError, payloads), ("ResultTypeError", TypeError, payloads),
    ("NoWorkerError", TimeoutError, availability), ("MergeError", ValueError, merge),
    ("SLURMCommandError", OSError, detect), ("LazyInputError", ValueError, lazy)])
def test_public_exceptions_live_in_errors(name, base, old_home):
    cls = getattr(errors, name)
    assert issubclass(cls, base) and cls.__module__ == "acme.errors"
    assert getattr(acme, name) is cls and getattr(old_home, name) is cls
