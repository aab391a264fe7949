"""``assemble_results``: what ``compute()`` returns in each storage mode, built from call
outcomes without running anything."""

from __future__ import annotations

import numpy as np
import pytest

from acme.options import RunOptions
from acme.results import assemble_results
from acme.tasks import CallOutcome


def ok(index, value=None, path=None, n_values=1):
    return CallOutcome(index=index, path=path, value=value, error=None, summary=None,
                       warning=None, n_values=n_values)


def failed(index):
    return CallOutcome(index=index, path=None, value=None, error="Traceback ...",
                       summary="ValueError: x", warning=None)


@pytest.mark.parametrize("opts", [RunOptions(), RunOptions(write_pickle=True)],
                         ids=["hdf5", "pickle"])
def test_files_give_each_calls_path_and_none_for_the_others(opts):
    outcomes = [ok(0, path="/o/f_0.h5"), failed(1), None, ok(3, path="/o/f_3.pickle")]
    assert assemble_results(outcomes, opts, "/o/f.h5") == ["/o/f_0.h5", None, None,
                                                            "/o/f_3.pickle"]


def test_single_file_gives_the_container():
    outcomes = [ok(0), failed(1)]
    assert assemble_results(outcomes, RunOptions(single_file=True), "/o/f.h5") == ["/o/f.h5"]


def test_in_memory_gives_the_values_in_call_order():
    values = [(1, "a"), {"b": 2}, None]  # None: a call may return None itself
    outcomes = [ok(i, value=v) for i, v in enumerate(values)] + [failed(3)]
    result = assemble_results(outcomes, RunOptions(write_worker_results=False), None)
    assert result == [(1, "a"), {"b": 2}, None, None]


def test_in_memory_with_result_shape_stacks_along_the_none_dimension():
    opts = RunOptions(write_worker_results=False, result_shape=(2, None))
    outcomes = [ok(0, value=np.array([1.0, 2.0])), failed(1), ok(2, value=[5, 6])]
    result = assemble_results(outcomes, opts, None)
    assert isinstance(result, np.ndarray) and result.dtype == np.float64
    np.testing.assert_array_equal(result, [[1, 0, 5], [2, 0, 6]])  # failed slot: zeros


def test_in_memory_with_result_shape_and_further_values_gives_array_and_extras():
    opts = RunOptions(write_worker_results=False, result_shape=(None, 2),
                      result_dtype="complex")
    outcomes = [ok(0, value=(np.array([1j, 2]), "x", 3), n_values=3), failed(1)]
    array, extras = assemble_results(outcomes, opts, None)
    assert array.dtype == np.complex128
    np.testing.assert_array_equal(array, [[1j, 2], [0, 0]])
    assert extras == [("x", 3), None]


def test_in_memory_on_a_grid_puts_calls_in_c_order():
    opts = RunOptions(write_worker_results=False, result_shape=(None,))
    outcomes = [ok(i, value=float(i)) for i in range(6)]
    result = assemble_results(outcomes, opts, None, grid=(2, 3))
    np.testing.assert_array_equal(result, [[0, 1, 2], [3, 4, 5]])
