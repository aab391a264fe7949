"""Argument distribution: pure planning, no cluster."""

from __future__ import annotations

import numpy as np
import pytest
from funcs import f, kwonly, no_positional, star, with_task_id

from acme import Param
from acme.arguments import plan_calls


def calls(plan):
    return [plan.arguments(i) for i in range(plan.n_calls)]


def test_walkthrough_split_and_broadcast():
    plan = plan_calls(f, ([2, 4, 6, 8], 4), {})
    assert plan.n_calls == 4
    assert calls(plan) == [([x, 4], {}) for x in (2, 4, 6, 8)]


def test_positional_given_by_name_moves_to_its_slot():
    plan = plan_calls(f, ([2, 4],), {"y": 1})
    assert calls(plan) == [([2, 1], {}), ([4, 1], {})]


def test_defaulted_parameter_given_positionally():
    plan = plan_calls(f, ([1, 2], 3, [10, 20]), {})
    assert calls(plan) == [([1, 3, 10], {}), ([2, 3, 20], {})]


def test_keyword_list_is_split():
    plan = plan_calls(f, (1, 2), {"z": [5, 6, 7]})
    assert [c[1]["z"] for c in calls(plan)] == [5, 6, 7]


def test_too_few_positional_arguments():
    with pytest.raises(ValueError, match=r"<ParallelMap> f expects 2 positional arguments "
                                         r"\('x', 'y'\), found 1"):
        plan_calls(f, ([1, 2],), {})


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError) as err:
        plan_calls(f, ([1, 2], 3), {"z": 1, "w": 2})
    assert "accepts at maximum 1 keyword arguments ('z'), found 2" in str(err.value)
    assert "'w'" in str(err.value)


def test_too_many_positional_arguments():
    with pytest.raises(ValueError, match="expects at most 3 positional arguments"):
        plan_calls(f, ([1, 2], 3, 4, 5), {})


def test_ambiguous_distribution_message():
    with pytest.raises(ValueError) as err:
        plan_calls(f, ([2, 4, 6, 8], np.ones(3)), {})
    assert ("automatic input distribution failed: found 2 objects containing 3 to 4 "
            "elements. Please specify `n_inputs` manually.") in str(err.value)


def test_scalars_only_need_n_inputs():
    with pytest.raises(ValueError, match="found 0 objects containing 0 to 0 elements"):
        plan_calls(f, (1, 2), {})


def test_n_inputs_not_matching_any_argument():
    with pytest.raises(ValueError, match="No object has required length of 3 matching "
                                         "`n_inputs`"):
        plan_calls(f, ([1, 2], [1, 2, 3, 4]), {}, n_inputs=3)


def test_n_inputs_override_broadcasts_other_lengths():
    y = np.ones(3) * 4
    plan = plan_calls(f, ([2, 4, 6, 8], y), {}, n_inputs=4)
    assert plan.n_calls == 4
    for i, (args, _) in enumerate(calls(plan)):
        assert args[0] == [2, 4, 6, 8][i]
        assert args[1] is y


def test_repetition_with_n_inputs():
    plan = plan_calls(f, (2, 3), {}, n_inputs=4)
    assert calls(plan) == [([2, 3], {})] * 4


@pytest.mark.parametrize("shape", [(5,), (5, 1), (1, 5)])
def test_column_and_row_vectors_split_alike(shape):
    arr = np.arange(5.0).reshape(shape)
    plan = plan_calls(f, (arr, 1), {})
    assert plan.n_calls == 5
    values = [np.ravel(c[0][0]) for c in calls(plan)]
    assert [v.tolist() for v in values] == [[float(i)] for i in range(5)]


def test_strings_dicts_and_2d_arrays_are_broadcast():
    d = {"a": 1}
    arr = np.ones((3, 3))
    plan = plan_calls(star, ([1, 2], "abc", d, arr), {})
    for args, _ in calls(plan):
        assert args[1] == "abc" and args[2] is d and args[3] is arr


def test_var_positional_and_var_keyword_functions():
    plan = plan_calls(star, ([1, 2], 10), {"extra": 5, "more": [1, 2]})
    assert plan.n_calls == 2
    assert [star(*a, **k) for a, k in calls(plan)] == [17, 19]


def test_keyword_only_parameter():
    plan = plan_calls(kwonly, ([1, 2, 3],), {"k": 2})
    assert [kwonly(*a, **k) for a, k in calls(plan)] == [2, 4, 6]
    with pytest.raises(ValueError, match=r"keyword-only argument\(s\) \('k'\)"):
        plan_calls(kwonly, ([1, 2, 3],), {})


def test_function_without_positional_parameters_runs_n_inputs_times():
    plan = plan_calls(no_positional, (), {}, n_inputs=3)
    assert plan.n_calls == 3


def test_task_id_is_detected_and_reserved():
    assert plan_calls(with_task_id, ([1, 2],), {}).pass_task_id
    assert not plan_calls(f, ([1, 2], 3), {}).pass_task_id
    with pytest.raises(ValueError, match="`taskID` is set by ParallelMap"):
        plan_calls(with_task_id, ([1, 2],), {"taskID": [0, 1]})


def test_range_is_split():
    plan = plan_calls(f, (range(3), 1), {})
    assert [c[0][0] for c in calls(plan)] == [0, 1, 2]


def test_not_callable():
    with pytest.raises(TypeError, match="first input has to be a callable function"):
        plan_calls(3, ([1],), {})


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), ("all", ValueError),
                                      (2.5, ValueError), (True, TypeError), ([3], TypeError)])
def test_bad_n_inputs(bad, exc):
    with pytest.raises(exc, match="n_inputs"):
        plan_calls(f, ([1, 2], 3), {}, n_inputs=bad)


# -- what cannot travel to the workers, or cannot be split ----------------------------------
def test_unpicklable_arguments_are_named_before_anything_exists(tmp_path, monkeypatch):
    import os
    import threading

    from acme import ParallelMap

    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError) as err:
        ParallelMap(f, [1, 2], threading.Lock())
    assert str(err.value).startswith(
        "<ParallelMap> positional argument 1 ('y'), of type lock, cannot be sent to the "
        "workers because it cannot be pickled (TypeError: cannot pickle '_thread.lock' "
        "object)")
    with open(tmp_path / "data.txt", "w") as handle, pytest.raises(TypeError) as err:
        ParallelMap(f, [1, 2], 3, z=handle, output_dir=str(tmp_path / "out"))
    assert str(err.value).startswith(
        "<ParallelMap> keyword argument 'z', of type TextIOWrapper, cannot be sent to the "
        "workers because it cannot be pickled")
    with pytest.raises(TypeError, match=r"positional argument 0 \('x'\), of type list, cannot "
                                        r"be sent .* cannot pickle '_thread.lock' object"):
        ParallelMap(f, [1, threading.Lock()], 3)   # one element of a split list
    assert os.listdir(tmp_path) == ["data.txt"]   # no directory, no log


def test_large_arrays_are_not_copied_by_the_check():
    import tracemalloc

    big = np.ones((5000, 10_000), dtype=np.uint8)   # 50 MB, broadcast
    tracemalloc.start()
    try:
        plan = plan_calls(f, ([1, 2], big), {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.args[1] is big
    assert peak < 5_000_000   # bytes: the 50 MB buffer was not pickled in band


def test_an_iterator_without_n_inputs_is_refused_with_the_reason():
    for iterator, kind in [((x for x in [1, 2]), "generator"), (iter([1, 2]), "list_iterator"),
                           (map(abs, [1, 2]), "map")]:
        with pytest.raises(TypeError) as err:
            plan_calls(f, (iterator, 3), {})
        assert str(err.value) == (
            f"<ParallelMap> positional argument 0 ('x') is a {kind}: an iterator has no "
            "length, so `n_inputs` has to be given to split it across the calls (its items "
            "are then read as the calls are sent); or pass a list, e.g. `list(...)`")


def test_a_set_as_the_only_input_says_why_nothing_is_split():
    with pytest.raises(ValueError) as err:
        plan_calls(f, ({1, 2, 3}, 3), {})
    assert str(err.value) == (
        "<ParallelMap> automatic input distribution failed: found 0 objects containing 0 to "
        "0 elements. Please specify `n_inputs` manually. Only lists, tuples, ranges and 1-D "
        "arrays are split into calls; positional argument 0 ('x') is a set, which has no "
        "order and is therefore passed whole; to split it, pass a list, e.g. `sorted(...)`")
    # beside a list, a set is passed whole to every call, as documented
    plan = plan_calls(f, ([1, 2], {3}), {})
    assert calls(plan) == [([1, {3}], {}), ([2, {3}], {})]


# -- the rules not covered above --------------------------------------------------------
KERNEL = np.ones(3)


def with_defaults(x, weights=(1, 2, 3), kernel=KERNEL):
    return x


def test_keyword_like_its_default_is_passed_whole():
    """A list/tuple of its default's length, or an array for an array default, is meant
    whole (ACME's exemption): it is neither split nor counted for ``n_inputs``."""
    kernel = np.arange(3.0)
    plan = plan_calls(with_defaults, ([1, 2, 3],), {"weights": [4, 5, 6], "kernel": kernel})
    assert plan.split_pos == (0,) and plan.split_kw == ()
    for _, kwargs in calls(plan):
        assert kwargs["weights"] == [4, 5, 6] and kwargs["kernel"] is kernel


def test_a_value_given_twice_is_a_type_error():
    with pytest.raises(TypeError, match="<ParallelMap> f got multiple values for argument 'x'"):
        plan_calls(f, ([1, 2], 3), {"x": [5, 6]})


def test_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="automatic input distribution failed: the objects "
                                         "to split are empty"):
        plan_calls(f, ([], []), {})


def test_a_parameter_space_must_be_the_only_positional_argument():
    with pytest.raises(TypeError, match=r"a parameter space \(acme.Param\) has to be the "
                                        r"only positional argument"):
        plan_calls(f, (Param(x=[1, 2]), 3), {})


def test_a_parameter_space_plans_one_call_per_assignment():
    plan = plan_calls(f, (Param(x=[1, 2]) * Param(y=[10, 20]),), {"z": [7, 8]})
    assert plan.n_calls == 4 and plan.split_kw == ("x", "y")
    assert calls(plan) == [([], {"x": x, "y": y, "z": [7, 8]})
                           for x in (1, 2) for y in (10, 20)]  # z is passed whole
