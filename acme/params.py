"""Parameter spaces: the ``Param`` algebra (after psyrun's user guide).

A space is an ordered list of *assignments* (dicts from parameter name to value), built
from :class:`Param` leaves with three operators:

* ``a * b``: every assignment of ``a`` combined with every assignment of ``b`` (``a``'s
  index varies slowest, as in nested loops);
* ``a + b``: the assignments of ``a``, then those of ``b``; a key one side lacks is
  ``nan`` there;
* ``a - b``: the assignments of ``a`` that match no assignment of ``b`` on ``b``'s keys.

Spaces are lazy: each node stores only its operands, so ``len``, indexing and
:meth:`ParamSpace.iterate` never build the whole space. Only a difference keeps the
positions of its surviving assignments, computed on first indexing or ``len``.
Pure: no I/O, no dask.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .errors import AmbiguousOperationError

__all__ = ["ParamSpace", "Param", "missing", "grid_axes", "as_columns"]

#: The value of a key an assignment does not have (in sums of spaces).
MISSING = math.nan


class ParamSpace:
    """An ordered, lazily evaluated set of parameter assignments.

    Not instantiated directly: build spaces from :class:`Param` and the operators
    ``*`` (Cartesian product), ``+`` (concatenation) and ``-`` (removal).
    """

    _keys: tuple[str, ...]

    # -- what every node provides --------------------------------------------------
    @property
    def size(self) -> int:
        """The number of assignments (also beyond what ``len()`` can return)."""
        raise NotImplementedError

    def _row(self, index: int) -> tuple[Any, ...]:
        """Values of assignment ``index`` (0 <= index < size), in :meth:`keys` order."""
        raise NotImplementedError

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        """Values of every assignment in order, without building the space."""
        raise NotImplementedError

    # -- public --------------------------------------------------------------------
    def keys(self) -> list[str]:
        """The parameter names, in the order assignments list them."""
        return list(self._keys)

    def __len__(self) -> int:
        size = self.size
        if size > np.iinfo(np.intp).max:
            raise OverflowError(f"this parameter space has {size} assignments, more than "
                                "len() can return; use `space.size`")
        return size

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Assignment ``index`` as a dict (negative indices count from the end)."""
        return dict(zip(self._keys, self.values_at(index), strict=True))

    def values_at(self, index: int) -> tuple[Any, ...]:
        """Values of assignment ``index``, in :meth:`keys` order."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"a parameter space is indexed by an integer, not {type(index)}")
        size = self.size
        i = int(index) + size if index < 0 else int(index)
        if not 0 <= i < size:
            raise IndexError(f"assignment {index} out of range for a space of {size}")
        return self._row(i)

    def iterate(self) -> Iterator[dict[str, Any]]:
        """Yield one dict per assignment, in order, without building the whole space."""
        keys = self._keys
        for row in self._rows():
            yield dict(zip(keys, row, strict=True))

    def build(self) -> dict[str, list[Any]]:
        """Every assignment, as one list of values per parameter name."""
        if not self.size:
            return {key: [] for key in self._keys}
        columns = zip(*self._rows(), strict=True)
        return {key: list(values) for key, values in zip(self._keys, columns, strict=True)}

    def __mul__(self, other: Any) -> ParamSpace:
        if not isinstance(other, ParamSpace):
            return NotImplemented
        return _Product(self, other)

    def __add__(self, other: Any) -> ParamSpace:
        if not isinstance(other, ParamSpace):
            return NotImplemented
        return _Sum(self, other)

    def __sub__(self, other: Any) -> ParamSpace:
        if not isinstance(other, ParamSpace):
            return NotImplemented
        absent = [key for key in other._keys if key not in self._keys]
        if absent:
            raise AmbiguousOperationError(f"Key `{absent[0]}` not existent in minuend.")
        return _Difference(self, other, other._keys)


class Param(ParamSpace):
    """A parameter space from sequences of values, zipped, and scalars, replicated.

    Parameters
    ----------
    **values
        Parameter name -> its values. Lists, tuples, ranges and NumPy arrays (along
        their first axis) are sequences, all of one length; anything else (numbers,
        strings, dicts, ...) is one value given to every assignment. Without any
        sequence, the space holds one assignment.

    Raises
    ------
    ValueError
        If two sequences differ in length.

    Examples
    --------
    >>> Param(a=[1, 2, 3], b=[4, 5, 6], c=7).build()
    {'a': [1, 2, 3], 'b': [4, 5, 6], 'c': [7, 7, 7]}
    """

    def __init__(self, **values: Any) -> None:
        self._keys = tuple(values)
        self._values = dict(values)
        self._sequences = {key: value for key, value in values.items() if _is_sequence(value)}
        lengths = [(key, len(value)) for key, value in self._sequences.items()]
        for key, n in lengths[1:]:
            if n != lengths[0][1]:
                raise ValueError(
                    f"Param: the sequences `{lengths[0][0]}` ({lengths[0][1]} values) and "
                    f"`{key}` ({n} values) differ in length; give sequences of one length "
                    "(scalars are replicated)")
        if lengths:
            self._size = lengths[0][1]
        else:
            self._size = 1 if values else 0

    @property
    def size(self) -> int:
        return self._size

    def _row(self, index: int) -> tuple[Any, ...]:
        return tuple(value[index] if key in self._sequences else value
                     for key, value in self._values.items())

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        return zip(*(value if key in self._sequences else itertools.repeat(value, self._size)
                     for key, value in self._values.items()), strict=True)

    def __repr__(self) -> str:
        return "Param(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


class _Product(ParamSpace):
    """The Cartesian product of its factors (nested products are flattened)."""

    _factors: list[ParamSpace]

    def __init__(self, left: ParamSpace, right: ParamSpace) -> None:
        shared = [key for key in right._keys if key in left._keys]
        if shared:
            raise AmbiguousOperationError(
                f"Key `{shared[0]}` in both factors of the product.")
        self.left, self.right = left, right
        self._keys = left._keys + right._keys
        self._factors = [f for side in (left, right)
                         for f in (side._factors if isinstance(side, _Product) else [side])]

    @property
    def size(self) -> int:
        return math.prod(f.size for f in self._factors)

    def _row(self, index: int) -> tuple[Any, ...]:
        parts = []
        for factor in reversed(self._factors):  # the last factor varies fastest
            index, inner = divmod(index, factor.size)
            parts.append(factor._row(inner))
        return tuple(itertools.chain.from_iterable(reversed(parts)))

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        return self._nested(0)

    def _nested(self, start: int) -> Iterator[tuple[Any, ...]]:
        # nested loops, the inner factors iterated again for each outer row: no factor
        # is ever listed, so memory does not grow with any size
        if start == len(self._factors) - 1:
            yield from self._factors[start]._rows()
            return
        for outer in self._factors[start]._rows():
            for inner in self._nested(start + 1):
                yield outer + inner

    def __repr__(self) -> str:
        return f"({self.left!r} * {self.right!r})"


class _Sum(ParamSpace):
    def __init__(self, left: ParamSpace, right: ParamSpace) -> None:
        self.left, self.right = left, right
        self._keys = left._keys + tuple(key for key in right._keys if key not in left._keys)
        # where each key of an operand's row goes in this space's row
        self._left_at = [self._keys.index(key) for key in left._keys]
        self._right_at = [self._keys.index(key) for key in right._keys]
        self._identity = list(range(len(self._keys)))

    @property
    def size(self) -> int:
        return self.left.size + self.right.size

    def _fill(self, row: tuple[Any, ...], at: list[int]) -> tuple[Any, ...]:
        if at == self._identity:
            return row
        out = [MISSING] * len(self._keys)
        for j, value in zip(at, row, strict=True):
            out[j] = value
        return tuple(out)

    def _row(self, index: int) -> tuple[Any, ...]:
        n_left = self.left.size
        if index < n_left:
            return self._fill(self.left._row(index), self._left_at)
        return self._fill(self.right._row(index - n_left), self._right_at)

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        for row in self.left._rows():
            yield self._fill(row, self._left_at)
        for row in self.right._rows():
            yield self._fill(row, self._right_at)

    def __repr__(self) -> str:
        return f"({self.left!r} + {self.right!r})"


class _Difference(ParamSpace):
    """The assignments of ``minuend`` whose values on ``on`` match no assignment of
    ``subtrahend`` (whose assignments are read once, projected on ``on``)."""

    def __init__(self, minuend: ParamSpace, subtrahend: ParamSpace,
                 on: tuple[str, ...]) -> None:
        self.minuend, self.subtrahend = minuend, subtrahend
        self._keys = minuend._keys
        self._on_minuend = [minuend._keys.index(key) for key in on]
        self._on_subtrahend = [subtrahend._keys.index(key) for key in on]
        self._removed: set[tuple[Any, ...]] | None = None  # read on first use
        self._kept: np.ndarray | None = None

    def _keeps(self, row: tuple[Any, ...]) -> bool:
        if self._removed is None:
            self._removed = {tuple(_match_key(r[j]) for j in self._on_subtrahend)
                             for r in self.subtrahend._rows()}
        return tuple(_match_key(row[j]) for j in self._on_minuend) not in self._removed

    def _kept_positions(self) -> np.ndarray:
        if self._kept is None:
            self._kept = np.fromiter(
                (i for i, row in enumerate(self.minuend._rows()) if self._keeps(row)),
                dtype=np.int64)
        return self._kept

    @property
    def size(self) -> int:
        return len(self._kept_positions())

    def _row(self, index: int) -> tuple[Any, ...]:
        return self.minuend._row(int(self._kept_positions()[index]))

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        return (row for row in self.minuend._rows() if self._keeps(row))

    def __repr__(self) -> str:
        return f"({self.minuend!r} - {self.subtrahend!r})"


def missing(space: ParamSpace, done: ParamSpace) -> ParamSpace:
    """The assignments of ``space`` not in ``done``.

    An assignment of ``space`` is done if an assignment of ``done`` has the same values
    for every key both spaces have (keys only ``done`` has are ignored, unlike with
    ``space - done``; ``nan`` matches ``nan``).

    Raises
    ------
    TypeError
        If either argument is not a parameter space.
    AmbiguousOperationError
        If ``done`` has assignments but no key in common with ``space``.

    Examples
    --------
    >>> missing(Param(a=[1, 2, 3]), Param(a=[2], c=[4])).build()
    {'a': [1, 3]}
    """
    for name, value in (("space", space), ("done", done)):
        if not isinstance(value, ParamSpace):
            raise TypeError(f"`{name}` has to be a parameter space (acme.Param), "
                            f"not {type(value)}")
    common = tuple(key for key in space._keys if key in done._keys)
    if not common and done.size:
        raise AmbiguousOperationError("`done` has no key in common with `space`.")
    return _Difference(space, done, common)


def grid_axes(space: ParamSpace) -> list[tuple[str, list[Any]]] | None:
    """``[(name, values), ...]``, one per axis, if ``space`` is a pure product grid.

    A pure product is a :class:`Param` of one key or a product of such; its assignment
    ``i`` sits at ``numpy.unravel_index(i, [len(values) for each axis])``. Anything else
    (zipped keys, sums, differences) returns ``None``.
    """
    if isinstance(space, Param):
        if len(space._keys) != 1:
            return None
        key = space._keys[0]
        return [(key, [row[0] for row in space._rows()])]
    if isinstance(space, _Product):
        left, right = grid_axes(space.left), grid_axes(space.right)
        return None if left is None or right is None else left + right
    return None


def as_columns(space: ParamSpace, results: Sequence[Any]) -> dict[str, list[Any]]:
    """The parameters and results of a run over ``space`` as columns.

    Parameters
    ----------
    space : ParamSpace
        The space the run mapped.
    results : sequence
        One return value per assignment, in order, as :meth:`ParallelMap.compute`
        returns them in memory (``write_worker_results=False``, no ``result_shape``);
        ``None`` for a failed call.

    Returns
    -------
    dict
        ``{name: [...] for each parameter}`` followed by ``result_0``, ``result_1``, ...:
        a tuple return value is spread over one column per element, any other value is
        ``result_0``; a failed call (``None``) is ``None`` in every result column.

    Examples
    --------
    >>> as_columns(Param(a=[1, 2]), [10, 20])
    {'a': [1, 2], 'result_0': [10, 20]}
    """
    if not isinstance(space, ParamSpace):
        raise TypeError(f"`space` has to be a parameter space (acme.Param), not {type(space)}")
    if len(results) != space.size:
        raise ValueError(f"`results` has to hold one value per assignment of the space "
                         f"({space.size}), not {len(results)}")
    out: dict[str, list[Any]] = space.build()
    width = max((len(r) if isinstance(r, tuple) else 1 for r in results if r is not None),
                default=1)
    for k in range(width):
        name = f"result_{k}"
        if name in out:
            raise ValueError(f"the parameter `{name}` has the name of a result column")
        out[name] = [None if r is None else (r[k] if isinstance(r, tuple) and k < len(r)
                                             else (r if k == 0 else None))
                     for r in results]
    return out


def _is_sequence(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim >= 1
    return isinstance(value, (list, tuple, range))


_NAN_KEY = ("acme.params", "nan")


def _match_key(value: Any) -> Any:
    """A hashable stand-in for ``value`` under which equal values are equal (nan too)."""
    if type(value) in (int, str):  # the common case, first
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return _NAN_KEY
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__,) + tuple(_match_key(v) for v in value)
    if isinstance(value, dict):
        return ("dict", frozenset((k, _match_key(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value

