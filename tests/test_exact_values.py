"""Every value kept exactly: a value HDF5 can store reads back unchanged, anything else
is pickled (with the per-task warning), a value that does not fit ``result_dtype`` fails
its own call, and pickles work for classes defined in the user's script (``__main__``).
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from acme import ParallelMap, ParallelMapError

ROOT = Path(__file__).resolve().parents[1]

# -- a class defined in the user's script ---------------------------------------------------
SCRIPT = textwrap.dedent('''
    import pickle
    import sys

    import distributed

    from acme import ParallelMap


    class PointMain:
        def __init__(self, x, scale):
            self.x = x
            self.scale = scale      # a function of this script, too


    def double(x):
        return 2 * x


    def make(x):
        return PointMain(x, double)


    def load(path):
        with open(path, "rb") as fh:
            return pickle.load(fh)


    if __name__ == "__main__":
        out = sys.argv[1]
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as cluster, \\
                distributed.Client(cluster):
            for name, keywords in [("hdf5", {}), ("pickle", {"write_pickle": True}),
                                   ("single", {"single_file": True}),
                                   ("memory", {"write_worker_results": False})]:
                with ParallelMap(make, [1, 2, 3], output_dir=f"{out}/{name}", verbose=False,
                                 **keywords) as pmap:
                    results = pmap.compute()
                if name == "memory":
                    values = results
                elif name == "single":
                    values = [load(f"{out}/single/make_{i}.pickle") for i in range(3)]
                else:
                    values = [load(path) for path in results]
                # the very class of this script, not a look-alike
                assert all(type(v) is PointMain for v in values), (name, values)
                print(name, [v.scale(v.x) for v in values], flush=True)
''')


def test_class_defined_in_the_users_script_is_pickled_in_every_mode(tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [f"{mode} [2, 4, 6]" for mode in
                                        ("hdf5", "pickle", "single", "memory")]
    # A pickle written on a worker holds the class by value: it loads in a process
    # that has never seen the script.
    load = ("import pickle, sys; v = pickle.load(open(sys.argv[1], 'rb')); "
            "print(type(v).__name__, v.scale(v.x))")
    path = tmp_path / "out" / "pickle" / "make_2.pickle"
    proc = subprocess.run([sys.executable, "-c", load, str(path)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["PointMain", "6"]


# -- strings and bytes ----------------------------------------------------------------------
#: value -> whether HDF5 holds it exactly (else it is pickled)
TEXT = [
    (b"ab\x00\x00", False),    # trailing NUL bytes: dropped by fixed-length bytes
    ("a\x00b", False),         # NUL character: HDF5 strings end there
    (np.array(["x", "y\x00z"]), False),
    (b"a\x00b", True),         # NUL inside bytes: kept
    (b"", True),
    ("plain", True),
]


def text(i):
    return TEXT[i][0]


def _equal(actual, expected):
    if isinstance(expected, np.ndarray):
        return isinstance(actual, np.ndarray) and np.array_equal(actual, expected)
    return type(actual) is type(expected) and actual == expected


def _load(path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize("mode", ["hdf5", "single", "memory"])
def test_strings_and_bytes_read_back_exactly(tmp_path, mode, acme_log):
    keywords = {"hdf5": {}, "single": {"single_file": True},
                "memory": {"write_worker_results": False}}[mode]
    out = tmp_path / "out"
    with ParallelMap(text, list(range(len(TEXT))), output_dir=str(out), verbose=False,
                     **keywords) as pmap:
        results = pmap.compute()
    warnings = [m for m in acme_log.messages(logging.WARNING) if "has been pickled" in m]
    pickled = [i for i, (_, exact) in enumerate(TEXT) if not exact]
    for i, (value, exact) in enumerate(TEXT):
        if mode == "memory":
            assert _equal(results[i], value)
            continue
        if not exact:
            path = results[i] if mode == "hdf5" else out / f"text_{i}.pickle"
            assert str(path).endswith(f"text_{i}.pickle")
            assert _equal(_load(path), value)
            [msg] = [m for m in warnings if f"result of task {i} " in m]
            assert "NUL" in msg
            continue
        with h5py.File(out / "text.h5", "r") as h5f:
            stored = h5f[f"comp_{i}/result_0"][()]
        expected = value.encode() if isinstance(value, str) else value
        assert stored.tolist() in (expected, [expected]), (i, stored)
    assert len(warnings) == (0 if mode == "memory" else len(pickled))


# -- result_dtype ---------------------------------------------------------------------------
def real(x):
    return np.arange(3.0) * x


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize("keywords", [{}, {"single_file": True},
                                      {"write_worker_results": False}],
                         ids=["hdf5", "single", "memory"])
def test_real_results_in_a_complex_dataset_read_back_exactly(tmp_path, keywords):
    out = tmp_path / "out"
    with ParallelMap(real, [1, 2, 3, 4], output_dir=str(out), verbose=False,
                     result_shape=(None, 3), result_dtype="complex", **keywords) as pmap:
        results = pmap.compute()
    expected = np.stack([real(x) for x in [1, 2, 3, 4]]).astype(complex)
    if keywords.get("write_worker_results") is False:
        data = results  # one return value: the stacked array itself (as ACME)
    else:
        assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
        with h5py.File(out / "real.h5", "r") as h5f:
            data = h5f["result_0"][()]
    assert data.dtype == np.complex128
    np.testing.assert_array_equal(data, expected)


def grows(x):
    return np.full(2, 100 * x)


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize("keywords", [{}, {"single_file": True},
                                      {"write_worker_results": False}],
                         ids=["hdf5", "single", "memory"])
def test_values_outside_the_dtype_fail_their_call(tmp_path, keywords):
    out = tmp_path / "out"
    with pytest.raises(ParallelMapError) as err:
        with ParallelMap(grows, [0, 1, 2], output_dir=str(out), verbose=False,
                         result_shape=(None, 2), result_dtype="int8", **keywords) as pmap:
            pmap.compute()
    assert sorted(err.value.failed) == [2]
    assert ("ResultTypeError: result of type ndarray (dtype int64) cannot be stored in the "
            "`result_shape` dataset of `result_dtype` 'int8': its values do not fit that "
            "type") in str(err.value)
    if keywords.get("write_worker_results") is False:
        data = err.value.results  # the stacked array itself
    else:
        with h5py.File(out / "grows.h5", "r") as h5f:
            data = h5f["result_0"][()]
            assert list(h5f.attrs["failed_tasks"]) == [2]
    np.testing.assert_array_equal(data, [[0, 0], [100, 100], [0, 0]])


@pytest.mark.parametrize("dtype", ["U5", "object", "datetime64[s]", "S3"])
def test_non_numeric_result_dtype_is_rejected_at_construction(tmp_path, dtype):
    with pytest.raises(ValueError) as err:
        ParallelMap(real, [1, 2], result_shape=(None, 3), result_dtype=dtype,
                    output_dir=str(tmp_path / "out"))
    assert str(err.value) == ("`result_dtype` has to be a numeric NumPy datatype (bool, "
                              f"integer, float or complex, e.g. 'float32'), not '{dtype}'")
    assert not (tmp_path / "out").exists()


def with_extra(x):
    return [x, 2 * x, 3 * x], {"call": x}   # the dict has no HDF5 form


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize("keywords", [{}, {"single_file": True}], ids=["hdf5", "single"])
def test_a_pickled_call_keeps_its_first_value_as_returned(tmp_path, keywords):
    out = tmp_path / "out"
    with ParallelMap(with_extra, [1, 2], output_dir=str(out), verbose=False,
                     result_shape=(None, 3), result_dtype="complex", **keywords) as pmap:
        pmap.compute()
    folder = out / "with_extra_payload" if not keywords else out
    for x, i in [(1, 0), (2, 1)]:
        assert _load(folder / f"with_extra_{i}.pickle") == ([x, 2 * x, 3 * x], {"call": x})
