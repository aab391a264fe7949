"""ParallelMap over a parameter space: calls, every storage mode, and the parameters in
the container (``params`` group, dimension scales, ``result_grid`` read by xarray).

Every value is read back from the files a run wrote and compared with a serial loop
over the space.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr  # with h5netcdf: the test extras

from acme import ParallelMap, ParallelMapError, Param, as_columns


# -- mapped functions (module level, so the workers can import them) ----------------------
def wave(a, b, scale=1.0):
    return np.array([a, b, a * b]) * scale


def labelled(a, b=0.0, label="none", taskID=None):
    b = 0.0 if math.isnan(b) else b
    return float(a * 10 + b), f"{label}:{taskID}"


def fails_on_b(a, b):
    if b == 20:
        raise ValueError(f"no b=20 (a={a})")
    return np.array([a, b, 0.0])


GRID = Param(a=[1.0, 2.0, 3.0]) * Param(b=[10, 20, 30, 40])
SUM = Param(a=[1, 2]) + Param(a=[3], b=[0.5], label="x")


def _serial(func, space, **kwargs):
    return [func(**assignment, **kwargs) for assignment in space.iterate()]


def _params(container):
    with h5py.File(container, "r") as h5f:
        return {name: h5f["params"][name][()] for name in h5f["params"]}


def _same_column(stored, values):
    stored = [v.decode() if isinstance(v, bytes) else v for v in np.asarray(stored).tolist()]
    return len(stored) == len(values) and all(
        s == v or (isinstance(v, float) and math.isnan(v) and math.isnan(s))
        for s, v in zip(stored, values, strict=True))


# -- calls -----------------------------------------------------------------------------
def test_one_call_per_assignment_with_other_kwargs_and_task_id(client):
    space = Param(a=[1, 2]) + Param(a=[3], b=[0.5])
    with ParallelMap(labelled, space, label="L", write_worker_results=False) as pmap:
        values = pmap.compute()
    assert pmap.n_inputs == 3
    assert values == [(10.0, "L:0"), (20.0, "L:1"), (30.5, "L:2")]


def test_space_values_are_never_split_or_broadcast(client):
    space = Param(a=[[1.0, 2.0], [3.0, 4.0]], b=[np.arange(2.0), np.arange(3.0)])
    with ParallelMap(_sizes, space, write_worker_results=False) as pmap:
        assert pmap.compute() == [(2, 2), (2, 3)]


def _sizes(a, b):
    return len(a), len(b)


# (HDF5 payloads without result_shape: test_backends.py's param_space case)
STORAGE = {
    "hdf5-shape": {"result_shape": (None, 3)},
    "single": {"single_file": True},
    "single-shape": {"single_file": True, "result_shape": (None, 3)},
    "pickle": {"write_pickle": True},
}


@pytest.mark.parametrize("mode", list(STORAGE))
def test_every_storage_mode_keeps_values_and_parameters(client, tmp_path, mode):
    space = GRID - Param(b=[30])
    with ParallelMap(wave, space, scale=0.5, output_dir=tmp_path / "out",
                     **STORAGE[mode]) as pmap:
        paths = pmap.compute()
    expected = _serial(wave, space, scale=0.5)
    if mode == "pickle":
        got = [pickle.loads(Path(p).read_bytes()) for p in paths]
        assert pmap.results_container is None
    else:
        with h5py.File(pmap.results_container, "r") as h5f:
            if "shape" in mode:
                got = list(h5f["result_0"][()])
            else:
                got = [h5f[f"comp_{i}"]["result_0"][()] for i in range(len(space))]
        columns = _params(pmap.results_container)
        assert list(columns) == ["a", "b"]
        for name, values in space.build().items():
            assert _same_column(columns[name], values)
    assert len(got) == len(expected) == 9
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_in_memory_with_result_shape_and_as_columns(client):
    with ParallelMap(wave, GRID, result_shape=(None, 3), write_worker_results=False) as pmap:
        stacked = pmap.compute()  # one return value: the array itself
    np.testing.assert_array_equal(stacked, np.array(_serial(wave, GRID)))
    with ParallelMap(labelled, SUM, write_worker_results=False) as pmap:
        values = pmap.compute()
    table = as_columns(SUM, values)
    assert list(table) == ["a", "b", "label", "result_0", "result_1"]
    assert table["result_0"] == [10.0, 20.0, 30.5]
    # a key the sum left out reaches the function as nan, as iterate() lists it
    assert table["result_1"] == ["nan:0", "nan:1", "x:2"]


def test_debug_and_dry_run(in_tmp, acme_log):
    with ParallelMap(wave, GRID, single_file=True, result_shape=(None, 3), dryrun=True,
                     setup_interactive=False) as pmap:
        pmap.compute(debug=True)
    assert any(m.startswith("Dry-run completed.") for m in acme_log.messages())
    with h5py.File(pmap.results_container, "r") as h5f:
        np.testing.assert_array_equal(h5f["result_0"][()], np.array(_serial(wave, GRID)))
        assert h5f["params/b"][()].tolist() == GRID.build()["b"]


# -- the container ----------------------------------------------------------------------
def test_concatenated_space_container_holds_columns_with_nan(client, tmp_path):
    with ParallelMap(labelled, SUM, output_dir=tmp_path / "out") as pmap:
        pmap.compute()
    columns = _params(pmap.results_container)
    assert list(columns) == ["a", "b", "label"]
    assert columns["a"].tolist() == [1, 2, 3]
    assert np.isnan(columns["b"][:2]).all() and columns["b"][2] == 0.5
    with h5py.File(pmap.results_container, "r") as h5f:
        assert [v.decode() for v in h5f["params/label"][()]] == ["", "", "x"]
        assert h5f["params/label"].attrs["missing_calls"].tolist() == [0, 1]
        assert h5f["comp_2"]["result_0"][()] == 30.5


def test_stacked_result_shape_has_parameter_scales_and_opens_in_xarray(client, tmp_path):
    space = GRID + Param(a=[9.0], b=[-1])
    with ParallelMap(wave, space, result_shape=(None, 3), output_dir=tmp_path / "out") as pmap:
        pmap.compute()
    with h5py.File(pmap.results_container, "r") as h5f:
        scales = [h5f[s.name].name for s in h5f["result_0"].dims[0].values()]
        assert scales == ["/params/a", "/params/b", "/call"]
    with xr.open_dataset(pmap.results_container, engine="h5netcdf") as ds:
        assert ds.result_0.dims == ("call", "result_0_dim_1")
        assert ds.call.values.tolist() == list(range(13))
        np.testing.assert_array_equal(ds.result_0.values, np.array(_serial(wave, space)))


@pytest.mark.parametrize("mode", ["hdf5", "single"])
def test_grid_opens_in_xarray_with_named_labelled_dims(client, tmp_path, mode):
    with ParallelMap(wave, GRID, result_shape=(None, 3), result_grid=True,
                     single_file=mode == "single", output_dir=tmp_path / "out") as pmap:
        pmap.compute()
    serial = np.array(_serial(wave, GRID)).reshape(3, 4, 3)
    with xr.open_dataset(pmap.results_container, engine="h5netcdf") as ds:
        result = ds.result_0
        assert result.dims == ("a", "b", "result_0_dim_2")
        assert result.shape == (3, 4, 3)
        assert ds.a.values.tolist() == [1.0, 2.0, 3.0]
        assert ds.b.values.tolist() == [10, 20, 30, 40]
        np.testing.assert_array_equal(result.values, serial)
        for assignment in GRID.iterate():
            np.testing.assert_array_equal(result.sel(**assignment).values, wave(**assignment))
    columns = _params(pmap.results_container)
    assert columns["a"].tolist() == GRID.build()["a"]


def test_grid_in_memory_and_with_a_failed_call(client, tmp_path):
    with ParallelMap(wave, GRID, result_shape=(3, None), result_grid=True,
                     write_worker_results=False) as pmap:
        stacked = pmap.compute()  # one return value: the array itself
    assert stacked.shape == (3, 3, 4)
    np.testing.assert_array_equal(stacked, np.moveaxis(
        np.array(_serial(wave, GRID)).reshape(3, 4, 3), -1, 0))
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(fails_on_b, GRID, result_shape=(None, 3), result_grid=True,
                         output_dir=tmp_path / "out") as pmap:
            pmap.compute()
    assert sorted(info.value.failed) == [1, 5, 9]
    with xr.open_dataset(pmap.results_container, engine="h5netcdf") as ds:
        assert ds.attrs["failed_tasks"].tolist() == [1, 5, 9]
        assert (ds.result_0.sel(b=20).values == 0).all()
        np.testing.assert_array_equal(ds.result_0.sel(a=2.0, b=40).values, [2.0, 40.0, 0.0])


# -- bad input: clear errors before anything exists ---------------------------------------
@pytest.mark.parametrize("call, error, message", [
    (lambda: ParallelMap(wave, GRID, [1, 2]), TypeError, "only positional argument"),
    (lambda: ParallelMap(wave, [1, 2], b=GRID), TypeError, "only positional argument"),
    (lambda: ParallelMap(wave, GRID, a=1), TypeError, "got multiple values for argument 'a'"),
    (lambda: ParallelMap(wave, GRID * Param(c=[1])), TypeError, "has no parameter 'c'"),
    (lambda: ParallelMap(wave, Param(a=[1])), ValueError, r"expects the argument\(s\) \('b'\)"),
    (lambda: ParallelMap(wave, Param(a=[], b=[])), ValueError, "the parameter space is empty"),
    (lambda: ParallelMap(wave, GRID, n_inputs=5), ValueError, r"size of the parameter space \(12\)"),
    (lambda: ParallelMap(wave, GRID, result_grid=True), ValueError, "needs `result_shape`"),
    (lambda: ParallelMap(wave, [1], b=2, result_shape=(None,), result_grid=True), ValueError,
     "needs a parameter space"),
    (lambda: ParallelMap(wave, GRID - Param(a=[1.0]), result_shape=(None,), result_grid=True),
     ValueError, "needs a pure product space"),
    (lambda: ParallelMap(wave, GRID, result_shape=(None,), result_grid=1), TypeError,
     "`result_grid` has to be `True` or `False`"),
    (lambda: ParallelMap(_call, Param(call=[1]), result_shape=(None,), result_grid=True),
     ValueError, "`call` would clash"),
    (lambda: ParallelMap(_anything, Param(**{"a/b": [1]})), ValueError,
     "the parameter name 'a/b' cannot name a dataset"),
])
def test_bad_input(in_tmp, call, error, message):
    with pytest.raises(error, match=message):
        call()
    assert list(in_tmp.iterdir()) == []


def _call(call):
    return call


def _anything(**kwargs):
    return len(kwargs)
