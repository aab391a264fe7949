"""Exceptions raised by :mod:`acme`.

They subclass the builtins that ACME users already catch, so existing
``except RuntimeError`` clauses keep working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ParallelMapError"]

#: How many failed task ids the error message lists before summarising the rest.
_SHOWN_IDS = 10


class ParallelMapError(RuntimeError):
    """Some calls of a :class:`~acme.ParallelMap` run raised an exception.

    Everything that succeeded is on disk (or in :attr:`results`) before this is raised.

    Attributes
    ----------
    failed : dict[int, str]
        Task id (0-based call index) -> formatted traceback of that call's exception.
    results : list
        What :meth:`ParallelMap.compute` would have returned, with ``None`` at the
        positions of failed calls (for ``result_shape`` in memory: ``[array]`` or
        ``[array, extras]``, whose failed slots hold zeros and ``None``).
    worker_died : list of int
        The failed task ids whose worker process died (a segfault, out of memory,
        ``os._exit``) rather than raising a Python exception.
    """

    def __init__(self, failed: dict[int, str], n_calls: int, results: Any,
                 first_error: str, worker_died: list[int] | None = None) -> None:
        self.failed = dict(sorted(failed.items()))
        self.worker_died = sorted(worker_died or [])
        self.results = results
        self.n_calls = n_calls
        ids = list(self.failed)
        shown = ", ".join(str(i) for i in ids[:_SHOWN_IDS])
        if len(ids) > _SHOWN_IDS:
            shown += f" and {len(ids) - _SHOWN_IDS} more"
        first = ids[0]
        died = ""
        if self.worker_died:
            died = (f"; {len(self.worker_died)} of them killed their worker process "
                    f"(task ids: {', '.join(str(i) for i in self.worker_died[:_SHOWN_IDS])})")
        msg = (f"Parallel computation failed: {len(ids)}/{n_calls} tasks failed "
               f"(task ids: {shown}){died}. First failure, task {first}: {first_error}\n"
               f"{self.failed[first]}")
        super().__init__(msg)

    def __reduce__(self):  # keep pickling (e.g. across processes) working
        return (_rebuild, (self.failed, self.n_calls, self.results, self.args[0],
                           self.worker_died))


def _rebuild(failed, n_calls, results, message, worker_died=()):
    err = ParallelMapError.__new__(ParallelMapError)
    RuntimeError.__init__(err, message)
    err.failed, err.n_calls, err.results = failed, n_calls, results
    err.worker_died = list(worker_died)
    return err
