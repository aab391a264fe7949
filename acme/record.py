"""The run record: what a run is, what each call did, and how to run the rest again.

Two HDF5 files in the output directory, readable with plain h5py (no ``acme`` import):

``acme_run_<func>.h5`` (the record, re-published by every checkpoint)
    Root attributes (strings unless noted): ``layout_version`` (int), ``state``
    (``running``, ``finished``, ``failed``, ``interrupted``), ``func_module``,
    ``func_name``, ``func_hash``, ``n_calls`` (int), ``storage``, ``options`` (JSON),
    ``container`` (file name, or ``""``), ``start_time``, ``end_time`` (``""`` while the
    run goes on), ``last_checkpoint`` (ISO 8601, local time), ``driver_host``,
    ``driver_pid`` (int), ``driver_started`` (float, the driver process's creation time,
    seconds since the epoch), ``command_line``, ``cwd``, ``git_commit`` (of ``cwd``, or
    ``""``), ``hosts`` (JSON list of the hosts that ran calls), ``versions`` (JSON:
    acme, python, dask, distributed, h5py, numpy, cloudpickle).

    Datasets, one entry per call (index = task id): ``status`` (int8, see
    :data:`STATUS_NAMES`), ``attempts`` (int32), ``duration`` (float64 seconds, NaN
    when not run), ``worker_host``, ``slurm_job_id``, ``failure_kind`` (``""``,
    ``"exception"``: the call raised; ``"worker died"``: the call's worker process
    died, e.g. a segfault, out of memory or ``os._exit``), ``error`` (one line) and
    ``traceback`` (UTF-8 strings). ``function``, ``arguments`` and ``argument_hash``
    are external links into the inputs file (a run with an argument read lazily from
    an iterator keeps ``argument_hash`` here, filled as the items are read, and stores
    no ``arguments``: attribute ``lazy_arguments`` of the inputs file names them).

``acme_inputs_<func>.h5`` (written once, when the run starts)
    ``function`` and ``arguments``: opaque byte arrays (uint8) holding the cloudpickled
    function (by value when defined in ``__main__``) and ``(args, kwargs, n_inputs)`` as
    given to ``ParallelMap``; ``argument_hash``: per call, a hash of its split
    arguments (fixed-length ASCII); attribute ``broadcast_hash``: a hash of the
    arguments all calls share.

Both are written under a temporary name and renamed, so either file on disk is always
complete. A call is ``done`` in the record only once its result is on disk in the
published container (or its payload file), so a resumed run never runs it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import pickle
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import distributed
import h5py
import numpy as np
import psutil

from ._version import __version__
from .storage.paths import atomic_write

__all__ = ["LAYOUT_VERSION", "NOT_RUN", "DONE", "FAILED", "PICKLED", "STATUS_NAMES",
           "record_path", "inputs_path", "find_record", "RunStatus", "run_status",
           "RecordWriter", "read_record", "call_hashes", "call_hash", "func_hash", "write_inputs",
           "load_inputs", "provenance"]

LAYOUT_VERSION = 1

#: Per-call status codes of the ``status`` dataset.
NOT_RUN, DONE, FAILED, PICKLED = 0, 1, 2, 3
STATUS_NAMES = {NOT_RUN: "not run", DONE: "done", FAILED: "failed", PICKLED: "pickled"}

#: Failure kinds of the ``failure_kind`` dataset.
EXCEPTION, WORKER_DIED = "exception", "worker died"

_RECORD_PREFIX, _INPUTS_PREFIX = "acme_run_", "acme_inputs_"
_STR = h5py.string_dtype()


def record_path(output_dir: Path | str, func_name: str) -> Path:
    """The record of the runs of ``func_name`` in ``output_dir``."""
    return Path(output_dir) / f"{_RECORD_PREFIX}{func_name}.h5"


def inputs_path(output_dir: Path | str, func_name: str) -> Path:
    """The inputs file (pickled function and arguments) next to the record."""
    return Path(output_dir) / f"{_INPUTS_PREFIX}{func_name}.h5"


def find_record(output_dir: Path | str) -> Path:
    """The one record in ``output_dir``.

    Raises
    ------
    FileNotFoundError
        If ``output_dir`` holds no run record.
    ValueError
        If it holds the records of several functions.
    """
    folder = Path(output_dir)
    found = sorted(folder.glob(f"{_RECORD_PREFIX}*.h5")) if folder.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no ACME run found in {folder}: it holds no "
                                f"{_RECORD_PREFIX}<func>.h5 run record")
    if len(found) > 1:
        raise ValueError(f"{folder} holds the records of several runs "
                         f"({', '.join(p.name for p in found)})")
    return found[0]


# -- hashing ----------------------------------------------------------------------------

def _digest(blob: bytes) -> str:
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def _dumps(value: Any) -> bytes:
    try:
        return pickle.dumps(value, protocol=4)
    except Exception:  # lambdas, local classes, ...: cloudpickle handles them
        try:
            return cloudpickle.dumps(value, protocol=4)
        except Exception:  # not picklable at all (debug mode runs it anyway)
            return repr(value).encode()


def call_hashes(split_values: Sequence[Sequence[Any]], n_calls: int,
                item: Callable[[int], tuple[Any, ...]]) -> list[str]:
    """One hash per call of its split arguments (``item(i)``)."""
    if not split_values:
        return [""] * n_calls
    return [call_hash(item(i)) for i in range(n_calls)]


def call_hash(values: tuple[Any, ...]) -> str:
    """The hash of one call's split values (an entry of ``argument_hash``)."""
    return _digest(_dumps(values))


def value_hash(value: Any) -> str:
    """A hash of ``value``'s pickled form."""
    return _digest(_dumps(value))


def _code_key(code: Any) -> bytes:
    """The parts of a code object that say what it does (not where it sits in a file)."""
    consts = b"|".join(_code_key(c) if inspect.iscode(c) else repr(c).encode()
                       for c in code.co_consts)
    return b"\0".join([code.co_code, consts, repr(code.co_names).encode(),
                        repr(code.co_varnames).encode()])


def func_hash(func: Callable[..., Any], blob: bytes) -> str:
    """A hash of what ``func`` does: its module, name and byte code (the same in every
    process, also for a function unpickled from the record), else its pickled ``blob``."""
    ident = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}"
    code = getattr(func, "__code__", None)
    body = _code_key(code) if inspect.iscode(code) else blob
    return _digest(ident.encode() + b"\0" + body)


# -- provenance -------------------------------------------------------------------------

def _git_commit(cwd: str) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _versions() -> dict[str, str]:
    return {"acme": __version__, "python": sys.version.split()[0], "dask": dask.__version__,
            "distributed": distributed.__version__, "h5py": h5py.__version__,
            "numpy": np.__version__, "cloudpickle": cloudpickle.__version__}


def _process_started() -> float:
    return psutil.Process().create_time()


def provenance() -> dict[str, Any]:
    """Where and how this process runs (the record's provenance attributes)."""
    cwd = os.getcwd()
    return {"driver_host": socket.gethostname(), "driver_pid": os.getpid(),
            "driver_started": _process_started(), "command_line": shlex.join(sys.argv),
            "cwd": cwd, "git_commit": _git_commit(cwd), "versions": json.dumps(_versions())}


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


# -- inputs file ------------------------------------------------------------------------

def write_inputs(path: Path, func_blob: bytes, args_blob: bytes, hashes: Sequence[str],
                 broadcast_hash: str, lazy: Sequence[str] = ()) -> None:
    """Write the inputs file once (see the module docstring); ``lazy`` names the
    arguments read from iterators (not stored: ``args_blob`` is then empty)."""
    with atomic_write(path) as tmp, h5py.File(tmp, "w") as h5f:
        if lazy:
            h5f.attrs["lazy_arguments"] = json.dumps(list(lazy))
        h5f.create_dataset("function", data=np.frombuffer(func_blob, dtype=np.uint8))
        h5f.create_dataset("arguments", data=np.frombuffer(args_blob, dtype=np.uint8))
        h5f.create_dataset("argument_hash", data=np.array(hashes, dtype="S32"))
        h5f.attrs["broadcast_hash"] = broadcast_hash


def lazy_arguments(output_dir: Path | str, func_name: str) -> list[str]:
    """The arguments a run read from an iterator (whose items the inputs file lacks)."""
    with h5py.File(inputs_path(output_dir, func_name), "r") as h5f:
        return list(json.loads(h5f.attrs.get("lazy_arguments", "[]")))


def load_inputs(output_dir: Path | str, func_name: str
                ) -> tuple[bytes, bytes, list[str], str]:
    """``(function blob, arguments blob, per-call hashes, broadcast hash)`` of a run."""
    with h5py.File(inputs_path(output_dir, func_name), "r") as h5f:
        return (h5f["function"][()].tobytes(), h5f["arguments"][()].tobytes(),
                [h.decode() for h in h5f["argument_hash"][()]],
                str(h5f.attrs["broadcast_hash"]))


# -- the record -------------------------------------------------------------------------

@dataclass
class CallTable:
    """Per-call columns of the record (driver memory; copied for each checkpoint)."""

    status: np.ndarray
    attempts: np.ndarray
    duration: np.ndarray
    worker_host: list[str]
    slurm_job_id: list[str]
    failure_kind: list[str]
    error: list[str]
    traceback: list[str]
    #: Per call, the hash of its split values, kept in the record itself by a run whose
    #: arguments are read lazily (filled as they are read); None: in the inputs file.
    argument_hash: np.ndarray | None = None

    @classmethod
    def empty(cls, n_calls: int) -> CallTable:
        return cls(np.zeros(n_calls, np.int8), np.zeros(n_calls, np.int32),
                   np.full(n_calls, np.nan), [""] * n_calls, [""] * n_calls, [""] * n_calls,
                   [""] * n_calls, [""] * n_calls)

    def copy(self) -> CallTable:
        return CallTable(self.status.copy(), self.attempts.copy(), self.duration.copy(),
                         list(self.worker_host), list(self.slurm_job_id),
                         list(self.failure_kind), list(self.error), list(self.traceback),
                         None if self.argument_hash is None else self.argument_hash.copy())

    def set(self, index: int, status: int, attempts: int, duration: float, host: str,
            job_id: str, kind: str = "", error: str = "", tb: str = "") -> None:
        self.status[index] = status
        self.attempts[index] = attempts
        self.duration[index] = duration
        self.worker_host[index] = host
        self.slurm_job_id[index] = job_id
        self.failure_kind[index] = kind
        self.error[index] = error
        self.traceback[index] = tb


_COLUMNS = ("worker_host", "slurm_job_id", "failure_kind", "error", "traceback")


class RecordWriter:
    """Publishes the record of one run (the driver's only writer of it)."""

    def __init__(self, output_dir: Path, func_name: str, header: dict[str, Any]) -> None:
        self.path = record_path(output_dir, func_name)
        self.inputs_name = inputs_path(output_dir, func_name).name
        self.header = dict(header)

    def publish(self, calls: CallTable, state: str, end: bool = False) -> None:
        """Write the record with ``calls`` under a temporary name, then rename it."""
        attrs = dict(self.header, state=state, last_checkpoint=_now(),
                     layout_version=LAYOUT_VERSION)
        if end:
            self.header["end_time"] = attrs["end_time"] = attrs["last_checkpoint"]
        hosts = sorted({h for h in calls.worker_host if h})
        attrs["hosts"] = json.dumps(hosts)
        with atomic_write(self.path) as tmp, h5py.File(tmp, "w") as h5f:
            for key, value in attrs.items():
                h5f.attrs[key] = value
            h5f.create_dataset("status", data=calls.status)
            h5f.create_dataset("attempts", data=calls.attempts)
            h5f.create_dataset("duration", data=calls.duration)
            for name in _COLUMNS:
                h5f.create_dataset(name, data=np.array(getattr(calls, name), dtype=object),
                                   dtype=_STR)
            linked = ["function", "arguments"]
            if calls.argument_hash is not None:
                h5f.create_dataset("argument_hash", data=calls.argument_hash)
            else:
                linked.append("argument_hash")
            for name in linked:
                h5f[name] = h5py.ExternalLink(self.inputs_name, f"/{name}")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_record(path: Path | str) -> tuple[dict[str, Any], CallTable]:
    """The record's attributes (plain Python values) and per-call columns."""
    with h5py.File(path, "r") as h5f:
        attrs = {key: (value.item() if isinstance(value, np.generic) else _text(value)
                       if isinstance(value, (bytes, str)) else value)
                 for key, value in h5f.attrs.items()}
        wt, job, kind, error, tb = ([_text(v) for v in h5f[name][()]] for name in _COLUMNS)
        calls = CallTable(h5f["status"][()], h5f["attempts"][()], h5f["duration"][()],
                          wt, job, kind, error, tb)
        if isinstance(h5f.get("argument_hash", getlink=True), h5py.HardLink):
            calls.argument_hash = h5f["argument_hash"][()].astype("S32")
    return attrs, calls


# -- status -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RunStatus:
    """Where a run stands, read from its record (see :func:`acme.run_status`).

    Attributes
    ----------
    output_dir : str
        The run's output directory.
    func_name : str
        Name of the function.
    state : str
        ``"running"`` (or the driver died), ``"finished"``, ``"failed"`` (some calls
        failed) or ``"interrupted"``.
    n_calls : int
        Number of calls of the run.
    done : tuple of int
        Task ids whose result is stored.
    failed : dict
        Task id -> one-line error of each failed call.
    missing : tuple of int
        Task ids that have not run (or whose result was not yet checkpointed).
    pickled : tuple of int
        Task ids whose result HDF5 could not hold and was pickled instead (stored).
    worker_died : tuple of int
        The failed task ids whose worker process died (not a Python exception).
    attempts : tuple of int
        Per call, how often it ran.
    durations : tuple of float
        Per call, its run time in seconds (NaN when it has not run).
    driver_alive : bool or None
        Whether the driver process still runs (None: it ran on another host).
    provenance : dict
        Versions, hosts, times, command line, working directory, git commit, driver.
    """

    output_dir: str
    func_name: str
    state: str
    n_calls: int
    done: tuple[int, ...]
    failed: dict[int, str]
    missing: tuple[int, ...]
    pickled: tuple[int, ...]
    worker_died: tuple[int, ...]
    attempts: tuple[int, ...]
    durations: tuple[float, ...]
    driver_alive: bool | None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every call's result is stored."""
        return len(self.done) + len(self.pickled) == self.n_calls


def driver_alive(attrs: dict[str, Any]) -> bool | None:
    """Whether the driver recorded in ``attrs`` still runs (None: another host)."""
    if attrs.get("driver_host") != socket.gethostname():
        return None
    try:
        process = psutil.Process(int(attrs["driver_pid"]))
        # a reused pid belongs to a process started later
        return abs(process.create_time() - float(attrs["driver_started"])) < 1.0
    except (psutil.Error, KeyError, ValueError):
        return False


def status_from(folder: Path | str, attrs: dict[str, Any], calls: CallTable) -> RunStatus:
    """A :class:`RunStatus` of a record read with :func:`read_record`."""
    ids = np.arange(len(calls.status))
    failed_ids = ids[calls.status == FAILED]
    keys = ("start_time", "end_time", "last_checkpoint", "driver_host", "driver_pid",
            "command_line", "cwd", "git_commit", "func_module", "func_hash", "storage")
    prov = {key: attrs.get(key) for key in keys}
    for key in ("versions", "hosts", "options"):
        with contextlib.suppress(KeyError, ValueError, TypeError):
            prov[key] = json.loads(attrs[key])
    return RunStatus(
        output_dir=str(folder), func_name=str(attrs.get("func_name", "")),
        state=str(attrs.get("state", "")), n_calls=len(ids),
        done=tuple(int(i) for i in ids[calls.status == DONE]),
        failed={int(i): calls.error[i] for i in failed_ids},
        missing=tuple(int(i) for i in ids[calls.status == NOT_RUN]),
        pickled=tuple(int(i) for i in ids[calls.status == PICKLED]),
        worker_died=tuple(int(i) for i in failed_ids if calls.failure_kind[i] == WORKER_DIED),
        attempts=tuple(int(a) for a in calls.attempts),
        durations=tuple(float(d) for d in calls.duration),
        driver_alive=driver_alive(attrs), provenance=prov)


def run_status(output_dir: str | os.PathLike[str]) -> RunStatus:
    """Where the run in ``output_dir`` stands: calls done, failed, missing, pickled.

    Reads the run record, which the run re-publishes at every checkpoint: this works
    while the run goes on (it shows the last checkpoint) and after its driver died.

    Parameters
    ----------
    output_dir : str or path
        The run's output directory.

    Returns
    -------
    RunStatus

    Raises
    ------
    FileNotFoundError
        If ``output_dir`` holds no run record.
    """
    if not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(f"`output_dir` has to be a path, not {type(output_dir)}")
    folder = Path(output_dir)
    attrs, calls = read_record(find_record(folder))
    return status_from(folder, attrs, calls)
