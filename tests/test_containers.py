"""The client-side container writers without a cluster: ``build_link_container`` over
payloads written by the worker-side writer, and ``SingleFileWriter`` fed outcomes one by
one, both read back from real HDF5 files in ``tmp_path``."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from acme.storage.containers import SingleFileWriter, build_link_container
from acme.storage.payloads import ResultShapeError, StorageSpec, write_result
from acme.tasks import CallOutcome


def ok(index, value=None, path=None, shape=None, n_values=1):
    return CallOutcome(index=index, path=path, value=value, error=None, summary=None,
                       warning=None, shape=shape, n_values=n_values)


def failed(index):
    return CallOutcome(index=index, path=None, value=None, error="Traceback ...\nValueError: x",
                       summary="ValueError: x", warning=None)


def payloads(tmp_path, values, result_shape=None):
    """Write ``values`` as the workers do; return their outcomes (paths, no values)."""
    spec = StorageSpec("hdf5", str(tmp_path / "f_payload"), "f", result_shape, "float")
    (tmp_path / "f_payload").mkdir()
    outcomes = []
    for i, value in enumerate(values):
        path, _ = write_result(value, i, spec)
        first = value[0] if isinstance(value, tuple) else value
        outcomes.append(ok(i, path=path, shape=np.shape(first),
                           n_values=len(value) if isinstance(value, tuple) else 1))
    return outcomes


def test_links_every_payload_relative_to_the_container(tmp_path):
    outcomes = payloads(tmp_path, [np.arange(3.0) + i for i in range(3)])
    container = tmp_path / "f.h5"
    build_link_container(container, tmp_path / "f_payload", outcomes, None, "float")
    with h5py.File(container, "r") as h5f:
        assert sorted(h5f) == ["comp_0", "comp_1", "comp_2"]
        for i in range(3):
            link = h5f.get(f"comp_{i}", getlink=True)
            assert (link.filename, link.path) == (f"f_payload/f_{i}.h5", "/")
            assert h5f[f"comp_{i}/result_0"][()].tolist() == [i, i + 1.0, i + 2.0]
        assert h5f.attrs["failed_tasks"].tolist() == []
        assert h5f.attrs["pickled_tasks"].tolist() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5", "f_payload"]  # no tmp file


def test_failed_pickled_and_missing_calls_are_not_linked(tmp_path):
    outcomes = payloads(tmp_path, [np.zeros(2), {"not": "hdf5"}, np.ones(2), np.ones(2)])
    assert outcomes[1].path.endswith("f_1.pickle")
    outcomes[2] = failed(2)
    outcomes[3] = None  # not run (yet)
    container = tmp_path / "f.h5"
    build_link_container(container, tmp_path / "f_payload", outcomes, None, "float")
    with h5py.File(container, "r") as h5f:
        assert sorted(h5f) == ["comp_0"]  # never a link to a missing file
        assert h5f.attrs["failed_tasks"].tolist() == [2]
        assert h5f.attrs["pickled_tasks"].tolist() == [1]


def test_virtual_dataset_stacks_first_values_and_links_the_others(tmp_path):
    values = [(np.arange(3.0) * i, f"call {i}") for i in range(4)]
    outcomes = payloads(tmp_path, values, result_shape=(3, None))
    outcomes[2] = failed(2)
    container = tmp_path / "f.h5"
    build_link_container(container, tmp_path / "f_payload", outcomes, (3, None), "float")
    with h5py.File(container, "r") as h5f:
        data = h5f["result_0"]
        assert data.is_virtual and data.shape == (3, 4)
        assert {s.file_name for s in data.virtual_sources()} == {
            "f_payload/f_0.h5", "f_payload/f_1.h5", "f_payload/f_3.h5"}
        expected = np.stack([v[0] for v in values], axis=1)
        expected[:, 2] = 0  # the failed call's slot holds the fill value
        np.testing.assert_array_equal(data[()], expected)
        assert sorted(h5f) == ["comp_0", "comp_1", "comp_3", "result_0"]
        link = h5f["comp_3"].get("result_1", getlink=True)
        assert (link.filename, link.path) == ("f_payload/f_3.h5", "/result_1")
        assert h5f["comp_3/result_1"][()] == b"call 3"


def test_inf_dimension_ends_at_the_longest_result(tmp_path):
    values = [np.arange(n, dtype=float) + 1 for n in (2, 5, 3)]
    outcomes = payloads(tmp_path, values, result_shape=(None, np.inf))
    container = tmp_path / "f.h5"
    build_link_container(container, tmp_path / "f_payload", outcomes, (None, np.inf), "float")
    with h5py.File(container, "r") as h5f:
        assert h5f["result_0"].shape == (3, 5) and h5f["result_0"].maxshape == (3, None)
        np.testing.assert_array_equal(h5f["result_0"][()], [[1, 2, 0, 0, 0], [1, 2, 3, 4, 5],
                                                             [1, 2, 3, 0, 0]])


def test_a_failing_build_leaves_no_container(tmp_path):
    outcomes = payloads(tmp_path, [np.zeros(2)])

    def broken(h5f):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        build_link_container(tmp_path / "f.h5", tmp_path / "f_payload", outcomes, None,
                             "float", extra=broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f_payload"]


# -- SingleFileWriter -------------------------------------------------------------------------
def test_single_file_holds_each_value_and_is_published_on_close(tmp_path):
    container = tmp_path / "f.h5"
    writer = SingleFileWriter(container, 3, None, "float")
    outcomes = [ok(2, value=(np.arange(2.0), "two")), failed(1), ok(0, value=7.5)]
    for outcome in outcomes:
        if outcome.ok:
            writer.write(outcome)
    assert not container.exists()  # nothing published before a checkpoint or close
    writer.close(sorted(outcomes, key=lambda o: o.index))
    with h5py.File(container, "r") as h5f:
        assert sorted(h5f) == ["comp_0", "comp_2"]
        assert h5f["comp_0/result_0"][()].tolist() == [7.5]
        assert h5f["comp_2/result_0"][()].tolist() == [0.0, 1.0]
        assert h5f["comp_2/result_1"][()] == b"two"
        assert h5f.attrs["failed_tasks"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["f.h5"]


def test_single_file_with_result_shape_stacks_into_a_real_dataset(tmp_path):
    container = tmp_path / "f.h5"
    writer = SingleFileWriter(container, 3, (None, 2), "float")
    outcomes = [ok(0, value=(np.array([1.0, 2.0]), 5)), None, ok(2, value=np.array([3, 4]))]
    writer.write(outcomes[0])
    writer.write(outcomes[2])
    writer.close(outcomes)
    with h5py.File(container, "r") as h5f:
        assert not h5f["result_0"].is_virtual
        np.testing.assert_array_equal(h5f["result_0"][()], [[1, 2], [0, 0], [3, 4]])
        assert sorted(h5f) == ["comp_0", "result_0"]  # only call 0 has a further value
        assert h5f["comp_0/result_1"][()] == 5


def test_single_file_checkpoint_publishes_a_complete_copy(tmp_path):
    container = tmp_path / "f.h5"
    writer = SingleFileWriter(container, 2, None, "float")
    first = ok(0, value=1.0)
    writer.write(first)
    writer.checkpoint([first, None])
    with h5py.File(container, "r") as h5f:  # readable while the run goes on
        assert sorted(h5f) == ["comp_0"]
    second = ok(1, value=2.0)
    writer.write(second)
    writer.close([first, second])
    with h5py.File(container, "r") as h5f:
        assert sorted(h5f) == ["comp_0", "comp_1"]


def test_single_file_resume_continues_from_the_container(tmp_path):
    container = tmp_path / "f.h5"
    writer = SingleFileWriter(container, 2, (None, 2), "float")
    first = ok(0, value=np.array([1.0, 2.0]))
    writer.write(first)
    writer.close([first, None])
    writer = SingleFileWriter(container, 2, (None, 2), "float", resume=True)
    second = ok(1, value=np.array([3.0, 4.0]))
    writer.write(second)
    writer.close([first, second])
    with h5py.File(container, "r") as h5f:
        np.testing.assert_array_equal(h5f["result_0"][()], [[1, 2], [3, 4]])


def test_single_file_value_that_does_not_fit_leaves_the_file_untouched(tmp_path):
    container = tmp_path / "f.h5"
    writer = SingleFileWriter(container, 2, (None, 2), "float")
    with pytest.raises(ResultShapeError, match=r"result has shape \(3,\), but `result_shape` "
                                               r"\(None, 2\) expects each result to have "
                                               r"shape \(2,\)"):
        writer.write(ok(0, value=np.zeros(3)))
    with pytest.raises(TypeError, match="has no HDF5 equivalent"):
        writer.write(ok(0, value=(np.zeros(2), {"a": 1})))
    good = ok(1, value=np.ones(2))
    writer.write(good)
    writer.close([None, good])
    with h5py.File(container, "r") as h5f:
        assert sorted(h5f) == ["result_0"]
        np.testing.assert_array_equal(h5f["result_0"][()], [[0, 0], [1, 1]])


def test_single_file_discard_removes_the_working_copy(tmp_path):
    writer = SingleFileWriter(tmp_path / "f.h5", 2, None, "float")
    writer.discard()
    assert list(tmp_path.iterdir()) == []
