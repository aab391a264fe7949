"""Emergency pickling: a return value HDF5 cannot hold is pickled for its own task only.

ACME derived the pickle's name with ``str.rstrip(".h5")``, which strips characters, so
``f_15.h5`` became ``f_1.pickle`` (overwriting task 1) and ``f_5.h5`` became
``f_.pickle``. Calls 0, 5, ..., 25 of a function named ``f`` hit exactly those names.
"""

from __future__ import annotations

import logging
import os
import pickle

import h5py
import numpy as np
import pytest

from acme import ParallelMap
from acme.storage.payloads import StorageSpec, hdf5_datasets, to_dataset, write_result

N = 30
PICKLED = list(range(0, N, 5))
STORED = [i for i in range(N) if i not in PICKLED]


def f(x):
    """Every 5th call returns a dict, the others an array."""
    if x % 5 == 0:
        return {"task": x, "values": [x] * 3}
    return np.full(3, float(x))


def g(x):
    """Two return values; the second one is a dict in every 5th call."""
    return np.full(3, float(x)), ({"task": x} if x % 5 == 0 else x * 10)


def load(path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def pickle_warnings(acme_log):
    return [m for m in acme_log.messages(logging.WARNING) if "has been pickled" in m]


def check_warnings(acme_log, name):
    warnings = pickle_warnings(acme_log)
    assert len(warnings) == len(PICKLED)
    for i in PICKLED:
        [msg] = [m for m in warnings if f"result of task {i} " in m]
        assert f"pickled to {name}_{i}.pickle" in msg
        assert "(a return value of type dict has no HDF5 equivalent: NumPy makes it an " \
               "object array)" in msg


def assert_links_stored_calls(container):
    """The container holds every call with HDF5 output, and only those."""
    with h5py.File(container, "r") as h5f:
        assert sorted(h5f) == sorted(f"comp_{i}" for i in STORED)
        for i in STORED:
            np.testing.assert_array_equal(h5f[f"comp_{i}/result_0"][()], f(i))


@pytest.mark.usefixtures("client")
def test_every_fifth_call_pickled_under_its_own_name(tmp_path, acme_log):
    out = tmp_path / "out"
    with ParallelMap(f, list(range(N)), output_dir=str(out), verbose=False) as pmap:
        results = pmap.compute()
    payload = out / "f_payload"
    # compute() returns each task's real file
    assert results == [str(payload / (f"f_{i}.pickle" if i in PICKLED else f"f_{i}.h5"))
                       for i in range(N)]
    assert sorted(os.listdir(payload)) == sorted(
        [f"f_{i}.h5" for i in STORED] + [f"f_{i}.pickle" for i in PICKLED])
    # nothing overwritten: every pickle holds its own task's value
    for i in PICKLED:
        assert load(payload / f"f_{i}.pickle") == f(i)
    # the container stays and links every task with HDF5 output, and only those
    assert (out / "f.h5").exists()
    assert_links_stored_calls(out / "f.h5")
    check_warnings(acme_log, "f")


@pytest.mark.usefixtures("client")
def test_single_file_pickles_next_to_the_container(tmp_path, acme_log):
    out = tmp_path / "out"
    with ParallelMap(f, list(range(N)), output_dir=str(out), single_file=True,
                     verbose=False) as pmap:
        results = pmap.compute()
    assert results == [str(out / "f.h5")]
    names = sorted(os.listdir(out))
    assert [n for n in names if n.endswith(".pickle")] == sorted(f"f_{i}.pickle" for i in PICKLED)
    for i in PICKLED:
        assert load(out / f"f_{i}.pickle") == f(i)
    assert_links_stored_calls(out / "f.h5")
    check_warnings(acme_log, "f")


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize("single_file", [False, True], ids=["vds", "single"])
def test_unstorable_further_value_with_result_shape(tmp_path, acme_log, single_file):
    """The whole return value of such a call is pickled; its slot of ``result_0`` holds
    the fill value 0 and it has no ``comp_<i>`` group (nothing half-written)."""
    out = tmp_path / "out"
    with ParallelMap(g, list(range(N)), output_dir=str(out), result_shape=(None, 3),
                     single_file=single_file, verbose=False) as pmap:
        pmap.compute()
    where = out if single_file else out / "g_payload"
    for i in PICKLED:
        value = load(where / f"g_{i}.pickle")
        np.testing.assert_array_equal(value[0], np.full(3, float(i)))
        assert value[1] == {"task": i}
    expected = np.array([np.full(3, float(i)) for i in range(N)])
    expected[PICKLED] = 0
    with h5py.File(out / "g.h5", "r") as h5f:
        assert h5f["result_0"].is_virtual != single_file
        np.testing.assert_array_equal(h5f["result_0"][()], expected)
        assert sorted(h5f) == sorted(["result_0"] + [f"comp_{i}" for i in STORED])
        for i in STORED:
            assert h5f[f"comp_{i}/result_1"][()] == i * 10
    check_warnings(acme_log, "g")


# -- the worker-side writer, in-process ---------------------------------------------------
class Opaque:
    pass


UNSTORABLE = {
    "dict": {"a": 1},
    "None in a tuple": (np.arange(3), None),
    "object array": np.array([1, "a", None], dtype=object),
    "ragged": [[1, 2], [3]],
    "custom class": Opaque(),
    "set": {1, 2},
    "datetime64": np.datetime64("2024-01-01"),
    "huge int": 2**80,
}
try:
    import scipy.sparse
    UNSTORABLE["sparse matrix"] = scipy.sparse.eye(3, format="csr")
except ImportError:  # scipy is not a dependency
    pass


@pytest.mark.parametrize("value", UNSTORABLE.values(), ids=UNSTORABLE)
def test_unstorable_values_are_named(value):
    with pytest.raises(TypeError, match="has no HDF5 equivalent"):
        hdf5_datasets((value,) if isinstance(value, list) else value, shaped=False)


@pytest.mark.parametrize("value, expected", [
    ("abc", b"abc"),
    (["a", "bc"], [b"a", b"bc"]),
    (np.array(["x", "yz"]), [b"x", b"yz"]),
    (np.array(["x", "yz"], dtype=object), [b"x", b"yz"]),
    (np.arange(3, dtype="float16"), np.arange(3, dtype="float16")),
    (True, True),
])
def test_storable_values(tmp_path, value, expected):
    data = to_dataset(value)
    with h5py.File(tmp_path / "t.h5", "w") as h5f:
        h5f.create_dataset("d", data=data)
        np.testing.assert_array_equal(h5f["d"][()], expected)


@pytest.mark.parametrize("index", [0, 1, 5, 15, 25, 105])
def test_write_result_pickles_under_the_call_index(tmp_path, index):
    spec = StorageSpec("hdf5", str(tmp_path), "f")
    path, warning = write_result({"task": index}, index, spec)
    assert path == str(tmp_path / f"f_{index}.pickle")
    assert f"task {index} " in warning and f"f_{index}.pickle" in warning
    assert os.listdir(tmp_path) == [f"f_{index}.pickle"]  # no .h5, no temporary file
    assert load(path) == {"task": index}


def test_write_result_hdf5_leaves_only_the_payload(tmp_path):
    spec = StorageSpec("hdf5", str(tmp_path), "f")
    path, warning = write_result((np.arange(3), "s"), 15, spec)
    assert warning is None and os.listdir(tmp_path) == ["f_15.h5"]
    with h5py.File(path, "r") as h5f:
        np.testing.assert_array_equal(h5f["result_0"][()], np.arange(3))
        assert h5f["result_1"][()] == b"s"


def _dict_or_fail(x):
    if x == 1:
        raise ValueError("boom 1")
    # call 2's second value cannot go to HDF5: that call is pickled whole
    return np.full(3, float(x)), ({"x": x} if x == 2 else x)


@pytest.mark.parametrize("single_file", [False, True])
def test_container_records_calls_without_hdf5_result(tmp_path, client, single_file):
    """Stacked slots of failed or pickled calls read 0: the container says which they are."""
    from acme import ParallelMapError

    with pytest.raises(ParallelMapError):
        with ParallelMap(_dict_or_fail, [0, 1, 2, 3], result_shape=(None, 3),
                         single_file=single_file, output_dir=str(tmp_path / "out"),
                         verbose=False) as pmap:
            pmap.compute()
    with h5py.File(pmap.results_container, "r") as h5f:
        assert h5f.attrs["failed_tasks"].tolist() == [1]
        assert h5f.attrs["pickled_tasks"].tolist() == [2]
        data = h5f["result_0"][()]
    np.testing.assert_array_equal(data[[0, 3]], [[0.0] * 3, [3.0] * 3])
    np.testing.assert_array_equal(data[[1, 2]], np.zeros((2, 3)))
