"""The parameter-space algebra (``acme.Param``): pure, no cluster, no files.

The examples of psyrun's user guide with the values it shows, laziness (a space of
10**20 assignments), indexing against iteration, and the doctests of the docs page.
"""

from __future__ import annotations

import doctest
import itertools
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import acme
import acme.params
from acme import AmbiguousOperationError, Param, as_columns, missing

DOC_PAGE = Path(__file__).resolve().parents[1] / "doc" / "source" / "params.rst"


def _same(a, b):
    """Equal, with nan equal to nan."""
    return a == b or (isinstance(a, float) and isinstance(b, float)
                      and math.isnan(a) and math.isnan(b))


def _columns_equal(built, expected):
    return list(built) == list(expected) and all(
        len(built[k]) == len(v) and all(_same(x, y) for x, y in zip(built[k], v, strict=True))
        for k, v in expected.items())


# -- the examples of the issue (psyrun's user guide) ---------------------------------------
def test_zip_and_replicate():
    assert Param(a=[1, 2, 3], b=[4, 5, 6], c=7).build() == \
        {"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 7, 7]}


def test_sequences_of_different_lengths_name_them():
    with pytest.raises(ValueError, match=r"^Param: the sequences `a` \(3 values\) and `b` "
                                         r"\(2 values\) differ in length"):
        Param(a=[1, 2, 3], b=[4, 5], c=7)


def test_product():
    space = Param(a=[1, 2, 3], b=[4, 5, 6]) * Param(c=[7, 8])
    assert space.build() == {"a": [1, 1, 2, 2, 3, 3], "b": [4, 4, 5, 5, 6, 6],
                             "c": [7, 8, 7, 8, 7, 8]}


def test_sum_fills_missing_keys_with_nan():
    built = (Param(a=[1, 2]) + Param(a=[2, 3], b=[4, 4])).build()
    assert _columns_equal(built, {"a": [1, 2, 2, 3], "b": [math.nan, math.nan, 4, 4]})


def test_difference():
    space = Param(a=[1, 2, 3], b=[1, 2, 3]) - Param(a=[2])
    assert space.build() == {"a": [1, 3], "b": [1, 3]}


def test_difference_with_a_key_the_minuend_lacks_is_ambiguous():
    with pytest.raises(AmbiguousOperationError) as info:
        Param(a=[1, 2, 3]) - Param(a=[2], c=[4])
    assert str(info.value) == "Key `c` not existent in minuend."
    assert acme.AmbiguousOperationError is acme.errors.AmbiguousOperationError
    assert isinstance(info.value, ValueError)


def test_missing():
    assert missing(Param(a=[1, 2, 3]), Param(a=[2], c=[4])).build() == {"a": [1, 3]}


def test_iterate_yields_one_dict_per_assignment():
    space = Param(a=[1, 2]) * Param(b=[3, 4])
    assert list(space.iterate()) == [{"a": 1, "b": 3}, {"a": 1, "b": 4},
                                     {"a": 2, "b": 3}, {"a": 2, "b": 4}]
    assert len(space) == 4 and space.keys() == ["a", "b"]


# -- more of the algebra ---------------------------------------------------------------
def test_scalars_only_make_one_assignment_and_nothing_makes_none():
    assert Param(a=1, b="x").build() == {"a": [1], "b": ["x"]}
    assert len(Param()) == 0 and Param().build() == {}


def test_strings_dicts_and_arrays():
    space = Param(name="abc", opts={"k": 1}, x=np.arange(6).reshape(3, 2))
    assert len(space) == 3
    assert space[0]["name"] == "abc" and space[2]["opts"] == {"k": 1}
    assert space[1]["x"].tolist() == [2, 3]


def test_product_with_a_shared_key_is_ambiguous():
    with pytest.raises(AmbiguousOperationError, match="Key `a` in both factors"):
        Param(a=[1, 2]) * Param(a=[3], b=[4])


def test_operators_reject_other_types():
    with pytest.raises(TypeError):
        Param(a=[1]) * [1, 2]
    with pytest.raises(TypeError, match="`done` has to be a parameter space"):
        missing(Param(a=[1]), {"a": [1]})


def test_missing_matches_on_common_keys_and_nan():
    space = (Param(a=[1, 2]) + Param(b=[5, 6])) * Param(c=["x", "y"])
    done = Param(a=[1, math.nan], b=[math.nan, 6], c=["y", "x"], result=[0.1, 0.2])
    left = missing(space, done)
    assert _columns_equal(left.build(), {
        "a": [1, 2, 2, math.nan, math.nan, math.nan],
        "b": [math.nan, math.nan, math.nan, 5, 5, 6],
        "c": ["x", "x", "y", "x", "y", "y"]})
    assert len(missing(space, Param())) == len(space)
    with pytest.raises(AmbiguousOperationError, match="no key in common"):
        missing(space, Param(d=[1]))


def test_indexing_agrees_with_iteration_for_every_operator():
    space = ((Param(a=range(4), s="k") * Param(b=[10, 20, 30]) + Param(a=[7, 8], c=[1, 2]))
             - Param(b=[20])) * Param(d=["u", "v"])
    rows = list(space.iterate())
    assert len(space) == len(rows) == (4 * 2 + 2) * 2
    for i, row in enumerate(rows):
        assert all(_same(space[i][k], v) for k, v in row.items())
    assert all(_same(space[-1][k], v) for k, v in rows[-1].items())
    with pytest.raises(IndexError):
        space[len(rows)]
    assert all(_same(x, y) for k in space.keys()
               for x, y in zip(space.build()[k], [r[k] for r in rows], strict=True))


def test_a_product_of_ten_100_value_axes_is_lazy():
    tracemalloc.start()
    try:
        space = Param(p0=list(range(100)))
        for k in range(1, 10):
            space = space * Param(**{f"p{k}": list(range(100))})
        first = list(itertools.islice(space.iterate(), 1000))
        last = space[space.size - 1]
        # a difference or a sum with it is lazy too (only indexing one lists positions)
        rest = space - Param(p9=[0]) + Param(p0=[-1])
        first_rest = next(rest.iterate())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert space.size == 100**10
    assert first[0] == {f"p{k}": 0 for k in range(10)}
    assert first[999] == {**{f"p{k}": 0 for k in range(8)}, "p8": 9, "p9": 99}
    assert last == {f"p{k}": 99 for k in range(10)}
    assert first_rest == {**{f"p{k}": 0 for k in range(9)}, "p9": 1}
    # building it would take ~10**20 dicts: the first thousand and the last one take
    # memory that does not depend on its size (timings: benchmarks/params.py)
    assert peak < 5_000_000
    with pytest.raises(OverflowError, match="use `space.size`"):
        len(space)


def test_as_columns():
    space = Param(a=[1, 2]) + Param(b=["x"])
    table = as_columns(space, [(1, "one"), None, (3, "three")])
    assert _columns_equal(table, {"a": [1, 2, math.nan], "b": [math.nan, math.nan, "x"],
                                  "result_0": [1, None, 3], "result_1": ["one", None, "three"]})
    with pytest.raises(ValueError, match=r"one value per assignment of the space \(3\), not 2"):
        as_columns(space, [1, 2])


# -- the docs ------------------------------------------------------------------------------
def test_doc_page_doctests():
    result = doctest.testfile(str(DOC_PAGE), module_relative=False,
                              optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 15
    assert result.failed == 0


def test_module_doctests():
    result = doctest.testmod(acme.params)
    assert result.attempted >= 3 and result.failed == 0
