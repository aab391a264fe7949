"""Exceptions raised by :mod:`acme`.

They subclass the builtins that ACME users already catch, so existing
``except RuntimeError`` clauses keep working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ParallelMapError", "ArgumentError"]

#: How many failed task ids the error message lists before summarising the rest.
_SHOWN_IDS = 10


class ArgumentError(TypeError, ValueError):
    """A bad argument where Python's convention and ACME's disagree on the exception type
    (an unexpected keyword, an unknown dtype name, a ``stop_client`` string other than
    ``"auto"``): both ``except TypeError`` and ``except ValueError`` catch it."""


class ParallelMapError(RuntimeError):
    """Some calls of a :class:`~acme.ParallelMap` run raised an exception.

    Everything that succeeded is on disk (or in :attr:`results`) before this is raised.

    Attributes
    ----------
    failed : dict[int, str]
        Task id (0-based call index) -> formatted traceback of that call's exception.
    results : list
        What :meth:`ParallelMap.compute` would have returned, with ``None`` at the
        positions of failed calls (for ``result_shape`` in memory: the array or
        ``[array, extras]``, whose failed slots hold zeros and ``None``).
    """

    def __init__(self, failed: dict[int, str], n_calls: int, results: Any,
                 first_error: str) -> None:
        self.failed = dict(sorted(failed.items()))
        self.results = results
        self.n_calls = n_calls
        ids = list(self.failed)
        shown = ", ".join(str(i) for i in ids[:_SHOWN_IDS])
        if len(ids) > _SHOWN_IDS:
            shown += f" and {len(ids) - _SHOWN_IDS} more"
        first = ids[0]
        msg = (f"Parallel computation failed: {len(ids)}/{n_calls} tasks failed "
               f"(task ids: {shown}). First failure, task {first}: {first_error}\n"
               f"{self.failed[first]}")
        super().__init__(msg)

    def __reduce__(self):  # keep pickling (e.g. across processes) working
        return (_rebuild, (self.failed, self.n_calls, self.results, self.args[0]))


def _rebuild(failed, n_calls, results, message):
    err = ParallelMapError.__new__(ParallelMapError)
    RuntimeError.__init__(err, message)
    err.failed, err.n_calls, err.results = failed, n_calls, results
    return err
