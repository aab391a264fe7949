"""Split arguments read lazily from iterators (generators, ``map``, files of records...).

An argument without a length (an iterator, or any iterable without ``len()``) is split
across the calls when ``n_inputs`` is given: call ``i`` gets its ``i``-th item. The items
are read in call order, only as the driver sends calls, and each is dropped once its
call's outcome is final, so the driver holds the items of the calls in flight only: at
most ``(IN_FLIGHT * worker threads + 1) * CHUNK_MAX_CALLS`` (see :mod:`acme.execution`;
the chunks in flight and one being read back; ``chunk_size`` bounds it further).

Rules:

* reading past the end (fewer items than ``n_inputs``) raises :class:`LazyInputError`
  (a ``ValueError`` naming ``n_inputs`` and the argument): no further call is sent, the
  calls already sent finish and keep their results, then the error is raised; one more
  item after the ``n_inputs``-th sets :attr:`LazyInputs.excess`, raised after all
  ``n_inputs`` calls have run (the item is read, nothing further);
* with ``hashing`` on, each item's hash is computed as it is read (the run record's
  ``argument_hash``); ``expected`` hashes (a resumed run) are checked as the items
  are read again: a differing item raises :class:`LazyInputError`;
* items of calls not ``wanted`` (done in a resumed run) are read, checked and dropped.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .errors import LazyInputError

__all__ = ["LazyInputError", "LazyInputs", "LazyCosts", "is_lazy", "LAZY_WINDOW"]

#: With ``call_cost``, the calls of a run with a lazy argument are ordered by cost
#: within consecutive blocks of this many calls (their items are read a block ahead).
LAZY_WINDOW = 1000


def is_lazy(value: Any) -> bool:
    """Whether ``value`` is split lazily: an iterable without a length (not a file)."""
    if isinstance(value, (str, bytes, dict, io.IOBase, np.ndarray)):
        return False
    return isinstance(value, Iterable) and not hasattr(value, "__len__")


_END = object()


class LazyInputs:
    """The split values of ``n_calls`` calls, some read lazily from iterators.

    Parameters
    ----------
    n_calls : int
        ``n_inputs``.
    sources : tuple
        One entry per split argument (in ``split_pos + split_kw`` order): a sequence
        (indexed) or an iterable read lazily (``lazy[k]`` True).
    lazy : tuple of bool
        Which sources are read lazily.
    names : tuple of str
        How to name each argument in messages.
    """

    def __init__(self, n_calls: int, sources: tuple[Any, ...], lazy: tuple[bool, ...],
                 names: tuple[str, ...]) -> None:
        self.n_calls = n_calls
        self.names = names
        self._sources = sources
        self._lazy = lazy
        self._iters: list[Iterator[Any] | None] = [None] * len(sources)
        self._held: dict[int, tuple[Any, ...]] = {}
        self._lock = threading.Lock()
        #: Number of calls whose items have been read.
        self.consumed = 0
        #: Most calls whose items were held at once.
        self.peak = 0
        self._wanted: np.ndarray | None = None
        self._hash: Callable[[tuple[Any, ...]], str] | None = None
        #: Per call, the hash of its split values once read ("" before): the record's.
        self.hashes: np.ndarray | None = None
        self._expected: np.ndarray | None = None
        self._folder = ""
        #: Set once the last call's items are read if an iterator yields more.
        self.excess: LazyInputError | None = None

    @property
    def lazy_names(self) -> tuple[str, ...]:
        """The arguments read lazily."""
        return tuple(n for n, lazy in zip(self.names, self._lazy, strict=True) if lazy)

    def hashing(self, digest: Callable[[tuple[Any, ...]], str],
                expected: np.ndarray | None = None, folder: str = "") -> np.ndarray:
        """Hash each call's values with ``digest`` as they are read; check them against
        ``expected`` (non-empty entries; a resumed run in ``folder``). Returns the
        array the hashes go to (shared, filled as items are read)."""
        self._hash = digest
        self.hashes = (np.array(expected, dtype="S32") if expected is not None
                       else np.zeros(self.n_calls, dtype="S32"))
        self._expected = None if expected is None else np.array(expected, dtype="S32")
        self._folder = folder
        return self.hashes

    def want_only(self, calls: Iterable[int]) -> None:
        """Hold the items of ``calls`` only (the others are read and dropped)."""
        wanted = np.zeros(self.n_calls, dtype=bool)
        wanted[list(calls)] = True
        self._wanted = wanted
        for index in [i for i in self._held if not wanted[i]]:
            del self._held[index]

    def values(self, index: int) -> tuple[Any, ...]:
        """The split values of call ``index`` (reading forward up to it if needed)."""
        with self._lock:
            while self.consumed <= index:
                self._read_next()
            try:
                return self._held[index]
            except KeyError:
                raise RuntimeError(f"the items of call {index} were already dropped: "
                                   "a lazy argument is read once, in call order") from None

    def release(self, index: int) -> None:
        """Drop the values of call ``index`` (its outcome is final)."""
        with self._lock:
            self._held.pop(index, None)

    def _read_next(self) -> None:
        index = self.consumed
        if index >= self.n_calls:
            raise IndexError(f"call {index} of {self.n_calls}")
        values = []
        for k, source in enumerate(self._sources):
            if not self._lazy[k]:
                values.append(source[index])
                continue
            it = self._iters[k]
            if it is None:
                it = self._iters[k] = iter(source)
            item = next(it, _END)
            if item is _END:
                raise LazyInputError(
                    f"`n_inputs` is {self.n_calls}, but {self.names[k]} yielded only "
                    f"{index} items; give `n_inputs={index}` or an iterable of "
                    f"{self.n_calls} items")
            values.append(item)
        row = tuple(values)
        self.consumed = index + 1
        if self._hash is not None and self.hashes is not None:
            digest = self._hash(row)
            recorded = b"" if self._expected is None else self._expected[index]
            if recorded and recorded.decode() != digest:
                raise LazyInputError(
                    f"cannot resume the run in {self._folder}: the items of call {index} "
                    f"({', '.join(self.lazy_names)}) differ from the recorded ones; give "
                    "the same items in the same order again")
            self.hashes[index] = digest.encode()
        if self._wanted is None or self._wanted[index]:
            self._held[index] = row
            self.peak = max(self.peak, len(self._held))
        if index == self.n_calls - 1:  # the last call: nothing may follow
            for k, it in enumerate(self._iters):
                if it is not None and next(it, _END) is not _END:
                    # All n_inputs calls still run: the error is raised once they have.
                    self.excess = LazyInputError(
                        f"`n_inputs` is {self.n_calls}, but {self.names[k]} yields more "
                        f"items; its first {self.n_calls} items were computed, the rest "
                        "was not read: give the number of items as `n_inputs`")
                    break

    @property
    def held(self) -> int:
        """Number of calls whose items are held now."""
        return len(self._held)


class LazyCosts:
    """``call_cost`` given as a function with a lazy argument: evaluated on a call's
    arguments when the driver orders that call (its items are read then, not before)."""

    def __init__(self, func: Callable[..., Any],
                 arguments: Callable[[int], tuple[list[Any], dict[str, Any]]]) -> None:
        self._func = func
        self._arguments = arguments

    def __getitem__(self, index: int) -> float:
        args, kwargs = self._arguments(index)
        value = self._func(*args, **kwargs)
        try:
            cost = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"`call_cost` must give numbers, got {type(value).__name__} "
                            f"for call {index}") from None
        if not 0 <= cost < np.inf:
            raise ValueError(f"`call_cost` must give non-negative finite numbers, got "
                             f"{cost} for call {index}")
        return cost
