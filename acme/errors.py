"""Exceptions raised by :mod:`acme`.

They subclass the builtins that ACME users already catch, so existing
``except RuntimeError`` clauses keep working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ParallelMapError", "AmbiguousOperationError", "ArgumentError", "ResultShapeError",
           "ResultTypeError", "NoWorkerError", "MergeError", "SLURMCommandError",
           "LazyInputError"]

#: How many failed task ids the error message lists before summarising the rest.
_SHOWN_IDS = 10


class ArgumentError(TypeError, ValueError):
    """A bad argument where Python's convention and ACME's disagree on the exception type
    (an unexpected keyword, an unknown dtype name, a ``stop_client`` string other than
    ``"auto"``): both ``except TypeError`` and ``except ValueError`` catch it."""


class ParallelMapError(RuntimeError):
    """Some calls of a :class:`~acme.ParallelMap` run raised an exception, or the results
    container could not be written.

    Everything that succeeded is on disk (or in :attr:`results`) before this is raised.

    Attributes
    ----------
    failed : dict[int, str]
        Task id (0-based call index) -> formatted traceback of that call's exception
        (empty if all calls succeeded and only the container failed).
    results : list
        What :meth:`ParallelMap.compute` would have returned, with ``None`` at the
        positions of failed calls (for ``result_shape`` in memory: the array or
        ``[array, extras]``, whose failed slots hold zeros and ``None``).
    container_error : str or None
        Why the results container could not be written (e.g. ``"OSError: [Errno 28]
        ..."``), or ``None``. The payload files in :attr:`results` hold the results.
    worker_died : list of int
        The failed task ids whose worker process died (a segfault, out of memory,
        ``os._exit``) rather than raising a Python exception.
    """

    def __init__(self, failed: dict[int, str], n_calls: int, results: Any,
                 first_error: str, container_error: str | None = None,
                 worker_died: list[int] | None = None) -> None:
        self.failed = dict(sorted(failed.items()))
        self.worker_died = sorted(worker_died or [])
        self.results = results
        self.n_calls = n_calls
        self.container_error = container_error
        ids = list(self.failed)
        parts = []
        if ids:
            shown = ", ".join(str(i) for i in ids[:_SHOWN_IDS])
            if len(ids) > _SHOWN_IDS:
                shown += f" and {len(ids) - _SHOWN_IDS} more"
            died = ""
            if self.worker_died:
                died = (f"; {len(self.worker_died)} of them killed their worker process "
                        f"(task ids: "
                        f"{', '.join(str(i) for i in self.worker_died[:_SHOWN_IDS])})")
            parts.append(f"{len(ids)}/{n_calls} tasks failed (task ids: {shown}){died}")
        if container_error is not None:
            parts.append(f"the results container could not be written ({container_error}); "
                         "the container on disk is its last checkpoint, and `.results` "
                         f"lists the results of the {n_calls - len(ids)} successful calls")
        msg = "Parallel computation failed: " + "; ".join(parts)
        if ids:
            first = ids[0]
            msg += f". First failure, task {first}: {first_error}\n{self.failed[first]}"
        super().__init__(msg)

    def __reduce__(self):  # keep pickling (e.g. across processes) working
        return (_rebuild, (self.failed, self.n_calls, self.results, self.args[0],
                           self.container_error, self.worker_died))


def _rebuild(failed, n_calls, results, message, container_error=None, worker_died=()):
    err = ParallelMapError.__new__(ParallelMapError)
    RuntimeError.__init__(err, message)
    err.failed, err.n_calls, err.results = failed, n_calls, results
    err.container_error = container_error
    err.worker_died = list(worker_died)
    return err


class AmbiguousOperationError(ValueError):
    """An operation on parameter spaces (:class:`~acme.Param`) has no single meaning.

    Raised, for instance, when a subtrahend has a key its minuend lacks, or when both
    factors of a product assign the same key.
    """


class ResultShapeError(ValueError):
    """A result does not fit ``result_shape``."""


class ResultTypeError(TypeError):
    """A result cannot be stored in the numeric ``result_shape`` dataset (e.g. a string)."""


class NoWorkerError(TimeoutError):
    """No dask worker ran for longer than the run allowed; the call did not run."""


class MergeError(ValueError):
    """A run cannot be merged as asked (e.g. it holds pickled results)."""


class SLURMCommandError(OSError):
    """A SLURM command could not be run or exited with a non-zero code.

    Subclasses :class:`OSError` (``IOError``), which ACME raised for SLURM access problems.

    Attributes
    ----------
    cmd : list of str
        The command that was run.
    returncode : int or None
        Its exit code (``None`` if it could not be started or timed out).
    stdout, stderr : str
        What it printed.
    """

    def __init__(self, cmd: Sequence[str], returncode: int | None, stdout: str,
                 stderr: str, reason: str = "") -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        what = reason or f"exited with code {returncode}"
        super().__init__(
            f"SLURM command `{' '.join(self.cmd)}` {what}\n"
            f"stdout: {stdout.strip() or '<empty>'}\nstderr: {stderr.strip() or '<empty>'}")


class LazyInputError(ValueError):
    """An argument read lazily (an iterator split with ``n_inputs``) yields fewer or more
    items than ``n_inputs``, or other items than the run being resumed."""
