"""Storage modes: every layout read back and compared with a plain serial loop.

The matrix is {default, result_shape, result_shape with np.inf, single_file, single_file
with result_shape, pickle, in memory, in memory with result_shape} x {one, three return
values} x {scalar, 1-D array, 2-D array, string}; further tests cover float16, a
three-dimensional ``result_shape``, stacking dimensions that are not the first, moving
an output directory, wrong-shaped results and write errors of the single-file container.
"""

from __future__ import annotations

import errno
import logging
import os
import pickle
import shutil
import signal

import h5py
import numpy as np
import pytest

from acme import ParallelMap, ParallelMapError

pytestmark = pytest.mark.usefixtures("client")

INPUTS = [0.5, 1.5, 2.5, 3.5]
N = len(INPUTS)


# -- mapped functions (module level, so the workers can import them) ----------------------
def value(x, kind):
    if kind == "scalar":
        return x * 1.5
    if kind == "1d":
        return np.arange(4) * x
    if kind == "2d":
        return np.arange(6.0).reshape(2, 3) * x
    return f"v{x}"


def one(x, kind):
    return value(x, kind)


def three(x, kind):
    return value(x, kind), value(x + 10, kind), value(x + 20, kind)


def cube(x):
    return np.arange(9.0).reshape(3, 3) / 3 + x


def ragged(x):
    """1-D results whose length differs per call (for an np.inf dimension)."""
    return np.arange(int(2 * x) + 1) * 0.25


def tenths(x):
    """Values not representable in float16, so the rounding is visible."""
    return np.arange(4) * x / 3


def wrong_at_1(x):
    """Call 1 returns 5 values where ``result_shape`` expects 4."""
    return np.zeros(5) if x == INPUTS[1] else np.full(4, x)


def bad_ndim_at_1(x):
    """Call 1 returns a 2-D array where ``result_shape`` expects 1-D results."""
    return np.zeros((2, 2)) if x == INPUTS[1] else np.full(4, x)


# -- what the serial loop gives, and what HDF5 gives back ------------------------------------
SHAPES = {"scalar": (None,), "1d": (None, 4), "2d": (None, 2, 3), "string": (None,)}
INF_SHAPES = {"scalar": (None, np.inf), "1d": (None, np.inf), "2d": (None, 2, np.inf),
              "string": (None, np.inf)}
MODES = {
    "default": {},
    "shape": {"result_shape": SHAPES},
    "shape_inf": {"result_shape": INF_SHAPES},
    "single": {"single_file": True},
    "single_shape": {"single_file": True, "result_shape": SHAPES},
    "pickle": {"write_pickle": True},
    "memory": {"write_worker_results": False},
    "memory_shape": {"write_worker_results": False, "result_shape": SHAPES},
}


def _stored(v):
    """How HDF5 gives a value back: strings as bytes."""
    return v.encode() if isinstance(v, str) else v


def unshaped_layout(ret):
    """The documented write rule without ``result_shape`` (ACME's): all numbers or all
    strings -> one vector ``result_0``; otherwise one dataset per return value."""
    values = list(ret) if isinstance(ret, (tuple, list)) else [ret]
    if all(isinstance(v, float) for v in values):
        return {"result_0": np.array(values)}
    if all(isinstance(v, str) for v in values):
        return {"result_0": np.array([v.encode() for v in values], dtype=object)}
    return {f"result_{k}": _stored(v) for k, v in enumerate(values)}


def read_group(group):
    return {name: group[name][()] for name in group}


def assert_datasets(actual, expected):
    assert sorted(actual) == sorted(expected)
    for name, data in expected.items():
        np.testing.assert_array_equal(actual[name], data, err_msg=name)
        assert np.shape(actual[name]) == np.shape(data), name


def assert_same(actual, expected):
    """Python values (in memory, pickles): equal, type by type."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same(a, e)
    elif isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray) and actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)
    else:
        assert type(actual) is type(expected) and actual == expected


def stacked(firsts, result_shape, dtype="float"):
    return np.stack([np.asarray(v) for v in firsts],
                    axis=result_shape.index(None)).astype(dtype)


def run(func, tmp_path, **kw):
    """Run ``func`` over INPUTS; return (pmap, compute's result, output dir or None)."""
    out = None
    if kw.get("write_worker_results", True):
        out = tmp_path / "out"
        kw["output_dir"] = str(out)
    with ParallelMap(func, INPUTS, verbose=False, **kw) as pmap:
        results = pmap.compute()
    return pmap, results, out


def entries(out):
    """The output directory's entries besides the log file (of which there is one) and
    the run record (its two files)."""
    names = sorted(p.name for p in out.iterdir())
    logs = [n for n in names if n.startswith("ACME_") and n.endswith(".log")]
    assert len(logs) == 1
    record = [n for n in names if n.startswith(("acme_run_", "acme_inputs_"))]
    assert len(record) == 2 and record[0].endswith(".h5") and record[1].endswith(".h5")
    return [n for n in names if n not in logs + record]


def check_vds(container, n_sources):
    ds = container["result_0"]
    assert ds.is_virtual
    sources = ds.virtual_sources()
    assert len(sources) == n_sources
    # relative to the container, so the output directory can move (ACME: absolute)
    assert all(not os.path.isabs(src.file_name) for src in sources)


def check_links(container, name, n):
    for i in range(n):
        link = container.get(f"comp_{i}", getlink=True)
        assert isinstance(link, h5py.ExternalLink)
        assert link.filename == f"{name}_payload/{name}_{i}.h5"


# -- the matrix -----------------------------------------------------------------------------
CASES = [(mode, nvals, kind) for mode in MODES for nvals in (1, 3)
         for kind in ("scalar", "1d", "2d", "string")]


def _failure(mode, kind):
    """The message of the combinations that cannot work (None: they must work)."""
    if kind == "string" and "shape" in mode:
        return ("ResultTypeError: result of type str cannot be stored in the numeric "
                "`result_shape` dataset")
    if kind == "scalar" and mode == "shape_inf":
        return ("ResultShapeError: result has shape (), but `result_shape` (None, np.inf) "
                "expects each result to have shape (np.inf,)")
    return None


@pytest.mark.parametrize("mode, nvals, kind", CASES,
                         ids=[f"{m}-{n}val-{k}" for m, n, k in CASES])
def test_matrix(tmp_path, in_tmp, mode, nvals, kind):
    func = one if nvals == 1 else three
    kwargs = {k: (v[kind] if isinstance(v, dict) else v) for k, v in MODES[mode].items()}
    serial = [func(x, kind) for x in INPUTS]
    firsts = [ret[0] for ret in serial] if nvals == 3 else serial
    name = func.__name__

    failure = _failure(mode, kind)
    if failure is not None:
        with pytest.raises(ParallelMapError) as err:
            run(func, tmp_path, kind=kind, **kwargs)
        assert sorted(err.value.failed) == list(range(N))
        assert failure in str(err.value)
        assert all(failure.split(": ", 1)[1] in tb for tb in err.value.failed.values())
        return

    pmap, results, out = run(func, tmp_path, kind=kind, **kwargs)

    if mode in ("default", "shape", "shape_inf"):
        assert results == [str(out / f"{name}_payload" / f"{name}_{i}.h5") for i in range(N)]
        assert sorted(os.listdir(out / f"{name}_payload")) == \
            sorted(f"{name}_{i}.h5" for i in range(N))
        assert entries(out) == [f"{name}.h5", f"{name}_payload"]
    if mode in ("single", "single_shape"):
        assert results == [str(out / f"{name}.h5")]
        assert entries(out) == [f"{name}.h5"]  # no payload folder
    if mode == "pickle":
        assert pmap.results_container is None
        assert results == [str(out / f"{name}_{i}.pickle") for i in range(N)]
        assert entries(out) == sorted(f"{name}_{i}.pickle" for i in range(N))
        for path, ret in zip(results, serial, strict=True):
            with open(path, "rb") as fh:
                assert_same(pickle.load(fh), ret)
        return
    if mode == "memory":
        assert len(results) == N
        for res, ret in zip(results, serial, strict=True):
            assert_same(res, ret)
        assert os.listdir(in_tmp) == []  # in memory: no file at all
        return
    result_shape = kwargs.get("result_shape")
    if mode == "memory_shape":
        array = results if nvals == 1 else results[0]  # the array, or [array, extras]
        assert isinstance(array, np.ndarray) and (nvals == 1 or len(results) == 2)
        np.testing.assert_array_equal(array, stacked(firsts, result_shape))
        assert array.dtype == np.float64
        if nvals == 3:
            assert len(results[1]) == N
            for extras, ret in zip(results[1], serial, strict=True):
                assert_same(extras, ret[1:])
        return

    with h5py.File(pmap.results_container, "r") as h5f:
        if result_shape is None:                               # default, single
            assert sorted(h5f) == sorted(f"comp_{i}" for i in range(N))
            if mode == "default":
                check_links(h5f, name, N)
            for i, ret in enumerate(serial):
                assert_datasets(read_group(h5f[f"comp_{i}"]), unshaped_layout(ret))
            return
        extra_groups = [f"comp_{i}" for i in range(N)] if nvals == 3 else []
        assert sorted(h5f) == sorted(["result_0"] + extra_groups)
        expected = stacked(firsts, result_shape)
        data = h5f["result_0"]
        assert data.dtype == np.float64
        np.testing.assert_array_equal(data[()], expected)
        if mode == "single_shape":
            assert not data.is_virtual
        else:
            check_vds(h5f, N)
            if mode == "shape_inf":
                assert data.maxshape == tuple(None if d == np.inf else s
                                              for d, s in zip(result_shape, expected.shape,
                                                              strict=True))
        for i in range(N if nvals == 3 else 0):
            assert_datasets(read_group(h5f[f"comp_{i}"]),
                            {"result_1": _stored(serial[i][1]),
                             "result_2": _stored(serial[i][2])})


# -- dtype, dimensions, np.inf --------------------------------------------------------------
SHAPED_MODES = {
    "shape": {},
    "single_shape": {"single_file": True},
    "memory_shape": {"write_worker_results": False},
}


def read_stacked(pmap, results, mode):
    if mode == "memory_shape":
        assert isinstance(results, np.ndarray)
        return results
    with h5py.File(pmap.results_container, "r") as h5f:
        assert h5f["result_0"].is_virtual == (mode == "shape")
        return h5f["result_0"][()]


@pytest.mark.parametrize("mode", SHAPED_MODES)
def test_float16(tmp_path, mode):
    pmap, results, _ = run(tenths, tmp_path, result_shape=(None, 4), result_dtype="float16",
                           **SHAPED_MODES[mode])
    data = read_stacked(pmap, results, mode)
    assert data.dtype == np.float16
    np.testing.assert_array_equal(data, np.stack([tenths(x) for x in INPUTS]).astype("float16"))


SHAPE_CASES = [
    (cube, (3, None, 3), 1),          # three-dimensional, stacking in the middle
    (one, (4, None), 1),              # 1-D results stacked as columns
    (one, (2, 3, None), 2),           # 2-D results stacked along the last dimension
]


@pytest.mark.parametrize("mode", SHAPED_MODES)
@pytest.mark.parametrize("func, result_shape, kind", SHAPE_CASES,
                         ids=["(3,None,3)", "(4,None)", "(2,3,None)"])
def test_stacking_dimension(tmp_path, mode, func, result_shape, kind):
    kw = {} if func is cube else {"kind": {1: "1d", 2: "2d"}[kind]}
    pmap, results, _ = run(func, tmp_path, result_shape=result_shape, **kw,
                           **SHAPED_MODES[mode])
    data = read_stacked(pmap, results, mode)
    expected = stacked([func(x, **kw) for x in INPUTS], result_shape)
    assert data.shape == tuple(N if d is None else d for d in result_shape)
    np.testing.assert_array_equal(data, expected)


@pytest.mark.parametrize("single_file", [False, True], ids=["vds", "single"])
@pytest.mark.parametrize("result_shape", [(None, np.inf), (np.inf, None)])
def test_inf_takes_the_largest_extent(tmp_path, single_file, result_shape):
    """An np.inf dimension ends at the longest result; shorter ones read the fill value 0."""
    pmap, _, _ = run(ragged, tmp_path, result_shape=result_shape, single_file=single_file)
    serial = [ragged(x) for x in INPUTS]
    longest = max(len(r) for r in serial)
    expected = np.zeros((N, longest))
    for i, r in enumerate(serial):
        expected[i, :len(r)] = r
    if result_shape[0] == np.inf:
        expected = expected.T
    with h5py.File(pmap.results_container, "r") as h5f:
        data = h5f["result_0"]
        assert data.is_virtual != single_file
        assert data.maxshape == tuple(None if d == np.inf else N for d in result_shape)
        np.testing.assert_array_equal(data[()], expected)


# -- moving the output directory ------------------------------------------------------------
@pytest.mark.parametrize("shape", [None, (None, 4), (None, np.inf)], ids=["links", "vds", "inf"])
def test_moved_output_directory_reads_completely(tmp_path, monkeypatch, shape):
    pmap, _, out = run(three, tmp_path / "first", kind="1d", result_shape=shape)
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(out, moved)
    shutil.rmtree(tmp_path / "first")
    monkeypatch.chdir(tmp_path)  # neither the old nor the new directory
    serial = [three(x, "1d") for x in INPUTS]
    with h5py.File(moved / "three.h5", "r") as h5f:
        if shape is None:
            for i, ret in enumerate(serial):
                assert_datasets(read_group(h5f[f"comp_{i}"]), unshaped_layout(ret))
            return
        np.testing.assert_array_equal(h5f["result_0"][()], np.stack([r[0] for r in serial]))
        for i, ret in enumerate(serial):
            assert_datasets(read_group(h5f[f"comp_{i}"]),
                            {"result_1": ret[1], "result_2": ret[2]})


# -- wrong shapes fail their task, never truncated or padded --------------------------------
@pytest.mark.parametrize("mode", ["shape", "shape_inf", "single_shape", "memory_shape"])
def test_wrong_shape_fails_that_task(tmp_path, mode):
    kw = {"result_shape": (None, np.inf) if mode == "shape_inf" else (None, 4)}
    if mode == "single_shape":
        kw["single_file"] = True
    if mode == "memory_shape":
        kw["write_worker_results"] = False
    else:
        kw["output_dir"] = str(tmp_path / "out")
    func = bad_ndim_at_1 if mode == "shape_inf" else wrong_at_1
    with pytest.raises(ParallelMapError) as err:
        with ParallelMap(func, INPUTS, verbose=False, **kw) as pmap:
            pmap.compute()
    assert list(err.value.failed) == [1]
    if mode == "shape_inf":
        expected_msg = ("result has shape (2, 2), but `result_shape` (None, np.inf) expects "
                        "each result to have shape (np.inf,)")
    else:
        expected_msg = ("result has shape (5,), but `result_shape` (None, 4) expects each "
                        "result to have shape (4,)")
    assert f"ResultShapeError: {expected_msg}" in str(err.value)
    assert expected_msg in err.value.failed[1]
    good = np.array([np.full(4, x) for x in INPUTS])
    good[1] = 0  # the failed call's slot holds the fill value
    if mode == "memory_shape":
        np.testing.assert_array_equal(err.value.results, good)
        return
    with h5py.File(pmap.results_container, "r") as h5f:
        np.testing.assert_array_equal(h5f["result_0"][()], good)
    if mode != "single_shape":
        assert err.value.results[1] is None
        assert not (tmp_path / "out" / f"{func.__name__}_payload" / f"{func.__name__}_1.h5"
                    ).exists()


# -- options of the storage modes -----------------------------------------------------------
def test_pickle_ignores_result_shape_with_a_warning(tmp_path, acme_log):
    pmap, results, out = run(one, tmp_path, kind="1d", write_pickle=True,
                             result_shape=(None, 4))
    assert pmap.results_container is None
    assert results == [str(out / f"one_{i}.pickle") for i in range(N)]
    assert "Pickling of results does not support output array shape specification. " \
           "Ignoring `result_shape`." in acme_log.messages(logging.WARNING)


@pytest.mark.parametrize("option, message", [
    ("single_file", "Generating a single output file only possible if `write_worker_results` "
                    "is `True`. Ignoring `single_file`."),
    ("write_pickle", "Pickling of results only possible if `write_worker_results` is `True`. "
                     "Ignoring `write_pickle`."),
])
def test_file_options_in_memory_mode_are_ignored_with_a_warning(in_tmp, acme_log, option,
                                                                message):
    with ParallelMap(one, INPUTS, kind="scalar", write_worker_results=False, verbose=False,
                     **{option: True}) as pmap:
        results = pmap.compute()
    assert results == [x * 1.5 for x in INPUTS]
    assert message in acme_log.messages(logging.WARNING)
    assert os.listdir(in_tmp) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"write_pickle": True, "single_file": True},
     "Pickling of results does not support single output file creation."),
    ({"write_worker_results": False, "result_shape": (None, np.inf)},
     "using `np.inf` in `result_shape` is only valid if `write_worker_results` is `True`"),
], ids=["pickle+single_file", "memory+inf"])
def test_invalid_storage_combinations(in_tmp, kwargs, message):
    with pytest.raises(ValueError) as err:
        ParallelMap(one, INPUTS, kind="1d", **kwargs)
    assert message in str(err.value)
    assert os.listdir(in_tmp) == []


# -- single_file: the one real write error there is ----------------------------------------
def big(x):
    return np.full(50_000, float(x))  # 400 kB per result


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
def test_single_file_write_error_surfaces_as_itself(tmp_path, acme_log):
    """The client is the only writer, so the errors left are the file system's: disk full,
    quota, file-size limit. A file-size limit on this process (the workers are other
    processes) makes the container's write fail with EFBIG; that error, not a follow-up
    one of closing the broken file, must reach the caller."""
    import resource

    out = tmp_path / "out"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, hard))
    try:
        with pytest.raises(OSError) as err:
            with ParallelMap(big, list(range(8)), output_dir=str(out), single_file=True,
                             verbose=False) as pmap:
                pmap.compute()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert type(err.value) is OSError and not isinstance(err.value, ParallelMapError)
    assert err.value.errno == errno.EFBIG
    # the incomplete (here: truncated) working file is neither published nor deleted;
    # the container is the last checkpoint, complete, with the values it lists
    with h5py.File(out / "big.h5", "r") as h5f:
        for name in h5f:
            index = int(name.split("_")[1])
            np.testing.assert_array_equal(h5f[name]["result_0"][()], big(index))
    [partial] = list(out.glob("big.h5.*.tmp"))
    assert any(str(partial) in m for m in acme_log.messages(logging.WARNING))


def test_single_file_failed_tasks_leave_a_complete_container(tmp_path):
    with pytest.raises(ParallelMapError) as err:
        run(wrong_at_1, tmp_path, single_file=True, result_shape=(None, 4))
    container = tmp_path / "out" / "wrong_at_1.h5"
    assert list(err.value.failed) == [1] and err.value.results == [str(container)]
    with h5py.File(container, "r") as h5f:
        assert sorted(h5f) == ["result_0"]
        np.testing.assert_array_equal(h5f["result_0"][()],
                                      [np.full(4, x) if i != 1 else np.zeros(4)
                                       for i, x in enumerate(INPUTS)])


# -- the collapse recipe of doc/source/results.rst ------------------------------------------
def collapse(container, target):
    """Write ``target``: every result of ``container`` as real data, no links."""
    with h5py.File(container, "r") as src, h5py.File(target, "w") as dst:
        for name, item in src.items():
            if isinstance(item, h5py.Dataset) and item.is_virtual:
                dst.create_dataset(name, data=item[()])   # materialise the VDS
            else:
                src.copy(item, dst, name=name, expand_external=True)


@pytest.mark.parametrize("shape", [None, (None, 4), (None, np.inf)], ids=["links", "vds", "inf"])
def test_collapsed_container_is_self_contained(tmp_path, shape):
    pmap, _, out = run(three, tmp_path, kind="1d", result_shape=shape)
    target = tmp_path / "all.h5"
    collapse(pmap.results_container, target)
    shutil.rmtree(out)
    serial = [three(x, "1d") for x in INPUTS]
    with h5py.File(target, "r") as h5f:
        def no_links_or_vds(name):
            assert not isinstance(h5f.get(name, getlink=True), h5py.ExternalLink), name
            assert not getattr(h5f[name], "is_virtual", False), name
        h5f.visit(no_links_or_vds)
        if shape is None:
            for i, ret in enumerate(serial):
                assert_datasets(read_group(h5f[f"comp_{i}"]), unshaped_layout(ret))
        else:
            np.testing.assert_array_equal(h5f["result_0"][()],
                                          np.stack([r[0] for r in serial]))
            for i, ret in enumerate(serial):
                assert_datasets(read_group(h5f[f"comp_{i}"]),
                                {"result_1": ret[1], "result_2": ret[2]})


# -- complex results ------------------------------------------------------------------------
def spectrum(x):
    return np.fft.fft(np.arange(4.0) * x)


@pytest.mark.parametrize("mode", SHAPED_MODES)
def test_complex_results_with_complex_dtype(tmp_path, mode):
    pmap, results, _ = run(spectrum, tmp_path, result_shape=(None, 4), result_dtype="complex",
                           **SHAPED_MODES[mode])
    data = read_stacked(pmap, results, mode)
    assert data.dtype == np.complex128
    np.testing.assert_array_equal(data, np.stack([spectrum(x) for x in INPUTS]))


COMPLEX_INTO_REAL = ("ResultTypeError: result of dtype complex128 cannot be stored in the "
                     "`result_shape` dataset of `result_dtype` 'float' without losing its "
                     "imaginary part")


@pytest.mark.parametrize("mode", ["shape", "single_shape", "memory_shape"])
def test_complex_results_into_a_real_dtype_fail_their_task(tmp_path, mode):
    with pytest.raises(ParallelMapError) as err:
        run(spectrum, tmp_path, result_shape=(None, 4), **SHAPED_MODES[mode])
    assert sorted(err.value.failed) == list(range(N))
    assert COMPLEX_INTO_REAL in str(err.value)
    if mode == "single_shape":
        with h5py.File(tmp_path / "out" / "spectrum.h5", "r") as h5f:
            np.testing.assert_array_equal(h5f["result_0"][()], np.zeros((N, 4)))


def test_check_shape_rules():
    from acme.storage.payloads import ResultShapeError, ResultTypeError, check_shape

    check_shape(np.zeros(4), (None, 4))
    check_shape(np.zeros(7), (None, np.inf))
    check_shape(3, (None,))
    check_shape(np.ones(2, dtype=bool), (2, None), "float")
    check_shape(np.ones(4) * 1j, (None, 4), "complex64")
    check_shape(np.ones(4) * 1j, (None, 4))  # dtype unknown: not checked
    with pytest.raises(ResultTypeError, match="without losing its imaginary part"):
        check_shape(np.ones(4) * 1j, (None, 4), "float32")
    for bad in ("s", {"a": 1}, None, [[1, 2], [3]], np.array([1, None], dtype=object)):
        with pytest.raises(ResultTypeError, match="cannot be stored in the numeric"):
            check_shape(bad, (None,))
    with pytest.raises(ResultShapeError, match=r"result has shape \(3, 3\), but `result_shape` "
                                               r"\(3, None, 4\) expects each result to have "
                                               r"shape \(3, 4\)"):
        check_shape(np.zeros((3, 3)), (3, None, 4))


def test_atomic_write_publishes_whole_files_only(tmp_path):
    from acme.storage.paths import atomic_write

    final = tmp_path / "f_0.h5"
    with pytest.raises(OSError, match="disk full"), atomic_write(final) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []          # neither the final nor the temporary
    with atomic_write(final) as tmp, open(tmp, "wb") as fh:
        fh.write(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["f_0.h5"]
    assert final.read_bytes() == b"whole"


# -- a tuple of numbers filling one row (ACME's classifier tutorial) -------------------------
def three_scores(seed):
    rng = np.random.default_rng(int(seed * 10))
    return float(rng.random()), float(rng.random()), float(rng.random())


@pytest.mark.parametrize("mode", ["shape", "single_shape", "memory_shape"])
def test_tuple_of_numbers_filling_the_row_is_the_row(tmp_path, mode):
    pmap, results, _ = run(three_scores, tmp_path, result_shape=(None, 3),
                           **SHAPED_MODES[mode])
    expected = np.array([three_scores(x) for x in INPUTS])
    array = read_stacked(pmap, results, mode)
    np.testing.assert_array_equal(array, expected)
    if mode == "memory_shape":
        assert results[:, 2].shape == (N,)  # as the tutorial indexes it


def test_tuple_of_numbers_not_filling_the_row_is_several_values():
    from acme.storage.payloads import as_row

    assert as_row((1.0, 2.0), (None, 3)) == (1.0, 2.0)
    assert as_row((1.0, "a", 2.0), (None, 3)) == (1.0, "a", 2.0)
    assert as_row((1.0, 2.0, 3.0), (None, np.inf)) == (1.0, 2.0, 3.0)
    np.testing.assert_array_equal(as_row((1, 2, 3), (3, None)), [1, 2, 3])
