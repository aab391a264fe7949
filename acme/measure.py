"""Measuring one call: run it alone in a new Python process, record its time and memory.

What is measured is that call and nothing else: its wall time, the peak resident memory
of the process while it ran (the kernel's high-water mark ``VmHWM``, reset just before the
call, not sampled; elsewhere ``ru_maxrss`` or the peak working set) and the size of its
return value, both in memory and as stored in a given storage mode. The stored copy goes
to a temporary directory that is removed afterwards. The result is a :class:`Sample`;
choosing calls and extrapolating to a whole run is :mod:`acme.dryrun`'s business.

Data flow of one measurement (:func:`measure_call` in the caller, :func:`_child_main` in
the child, ``tmp`` a temporary directory)::

    caller                                       child: python -c _child_main(tmp)
    ------                                       ---------------------------------
    pickle((sys.path,
            cloudpickle((shared, index,
                         values, write))))  --stdin-->  extend sys.path, unpickle the
                                                        call; stdin becomes /dev/null
                                                        reset the peak, read the baseline
                                                        tmp/started.pickle (baseline, start)
                                                        run the call, read the peak,
                                                        store the result in tmp/, size it
    wait(timeout)                                       tmp/sample.pickle (time, memory,
      ended: read tmp/sample.pickle     <-----------     sizes; or traceback and exception)
      timed out: read the child's peak, kill it,
                 tmp/started.pickle -> lower bounds
      ended without a file: RuntimeError (exit code or signal, last lines of stderr)
    child's stderr: tmp/stderr.txt, copied to the caller's stderr
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import psutil

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

from .storage.paths import StorageMode, atomic_write
from .storage.payloads import StorageSpec, write_result
from .tasks import SharedCall, run_call

__all__ = ["Sample", "measure_call", "worker_baseline_bytes"]

_CHILD_CODE = "import sys; from acme.measure import _child_main; sys.exit(_child_main(sys.argv[1]))"
_SAMPLE_FILE = "sample.pickle"
# What a dask worker process imports before it runs a call (distributed, the task runner,
# the payload writers with h5py and numpy); prints its resident memory in bytes.
_BASELINE_CODE = ("import distributed, acme.tasks, acme.storage.payloads; "
                  "from acme.measure import _current_rss; print(_current_rss())")
#: Used when the baseline cannot be measured: a dask worker process at rest, as measured
#: on Linux with Python 3.11 and distributed 2026.8 (80-92 MiB; imports alone 72 MiB).
FALLBACK_WORKER_BASELINE = 100 * 2**20
_STARTED_FILE = "started.pickle"


@dataclass(frozen=True)
class Sample:
    """What one sampled call cost, measured in a process of its own.

    Attributes
    ----------
    index : int
        The call's index (its ``taskID``).
    seconds : float
        Wall time of the call (without the interpreter start).
    baseline_bytes : int
        Resident memory of the process just before the call: interpreter, ``acme`` and
        its imports, the function and this call's arguments.
    peak_bytes : int
        Peak resident memory of the process during the call (kernel high-water mark).
    result_bytes : int
        In-memory size of the return value(s).
    stored_bytes : int
        Bytes the result takes where the run keeps it: the HDF5 or pickle file, or the
        pickled value sent back to the caller in memory mode.
    finished : bool
        False if the call was stopped at the time limit: the time and memory are then
        lower bounds and the sizes unknown (0).
    error : str or None
        Traceback of the exception the call raised, if any.
    exception : BaseException or None
        That exception itself, unpickled in the caller (None if it could not be pickled).
    """

    index: int
    seconds: float
    baseline_bytes: int
    peak_bytes: int
    result_bytes: int = 0
    stored_bytes: int = 0
    finished: bool = True
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def call_bytes(self) -> int:
        """Memory the call itself added on top of :attr:`baseline_bytes`."""
        return max(0, self.peak_bytes - self.baseline_bytes)


# -- memory of a process ------------------------------------------------------------------
def _proc_status(pid: int | str = "self") -> dict[str, int]:
    """Memory lines of ``/proc/<pid>/status`` in bytes (empty where there is no procfs)."""
    values = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key.startswith("Vm") and rest.strip().endswith("kB"):
                    values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values


def _reset_peak() -> None:
    """Reset this process's memory high-water mark to its current size (Linux only)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def _current_rss() -> int:
    status = _proc_status()
    if "VmRSS" in status:
        return status["VmRSS"]
    return int(psutil.Process().memory_info().rss)


def _peak_rss() -> int:
    """Peak resident memory of this process so far (since the last :func:`_reset_peak`)."""
    status = _proc_status()
    if "VmHWM" in status:
        return status["VmHWM"]
    if resource is None:  # Windows
        info = psutil.Process().memory_info()
        return int(getattr(info, "peak_wset", info.rss))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _peak_of(pid: int) -> int:
    """Peak (or, without procfs, current) resident memory of a running process."""
    status = _proc_status(pid)
    if "VmHWM" in status:
        return status["VmHWM"]
    try:
        info = psutil.Process(pid).memory_info()
        return int(getattr(info, "peak_wset", info.rss))
    except Exception:
        return 0


def _nbytes(value: Any, depth: int = 0) -> int:
    """In-memory size of a return value: arrays by their data, containers by their items."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (str, bytes, bytearray, int, float, complex, bool, np.generic)) \
            or value is None:
        return sys.getsizeof(value)
    if depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        return sys.getsizeof(value) + sum(_nbytes(v, depth + 1) for v in value)
    if depth < 3 and isinstance(value, dict):
        return sys.getsizeof(value) + sum(_nbytes(k, depth + 1) + _nbytes(v, depth + 1)
                                          for k, v in value.items())
    try:
        return len(cloudpickle.dumps(value))
    except Exception:
        return sys.getsizeof(value)


# -- the child process --------------------------------------------------------------------
def _dump_atomic(obj: Any, path: Path) -> None:
    """Pickle ``obj`` to ``path`` so that a reader never sees a half-written file."""
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(obj, handle)


def _child_main(workdir: str) -> int:
    """Entry point of a sample process: run one call read from stdin, record to ``workdir``.

    Standard input carries ``(sys_path, cloudpickle((shared, index, values, write)))``;
    ``write`` is the :class:`StorageSpec` to store the result with (inside ``workdir``)
    or None to only measure its pickled size.
    """
    sys_path, blob = pickle.loads(sys.stdin.buffer.read())
    # The call gets an empty stdin: our pipe is drained, and a terminal is the caller's.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for entry in sys_path:  # modules importable by the caller must be importable here
        if entry not in sys.path:
            sys.path.append(entry)
    out = Path(workdir)
    shared, index, values, write = cloudpickle.loads(blob)
    func = cloudpickle.loads(shared.func_blob)
    del blob
    gc.collect()
    _reset_peak()
    baseline = _current_rss()
    _dump_atomic({"baseline": baseline, "wall_start": time.time()}, out / _STARTED_FILE)
    start = time.perf_counter()
    try:
        outcome = run_call(func, shared, index, values, catch=False)
    except BaseException as err:  # report everything, SystemExit included
        seconds = time.perf_counter() - start
        peak = _peak_rss()
        try:
            exc_blob = cloudpickle.dumps(err)
        except Exception:
            exc_blob = None
        _dump_atomic({"seconds": seconds, "baseline": baseline, "peak": peak,
                      "error": traceback.format_exc(), "exception": exc_blob},
                     out / _SAMPLE_FILE)
        return 0
    seconds = time.perf_counter() - start
    peak = _peak_rss()
    value = outcome.value
    result_bytes = _nbytes(value)
    stored = None
    if write is not None:
        try:
            path, _ = write_result(value, index, write)
            stored = os.path.getsize(path)
            os.unlink(path)
        except OSError:  # e.g. a full temporary disk: the pickled size will do
            pass
    if stored is None:
        stored = len(cloudpickle.dumps(value))
    _dump_atomic({"seconds": seconds, "baseline": baseline, "peak": peak,
                  "result_bytes": result_bytes, "stored_bytes": stored}, out / _SAMPLE_FILE)
    return 0


# -- the caller's side --------------------------------------------------------------------
def _child_env() -> dict[str, str]:
    # The child imports acme from where this process did, even if it is not installed.
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == getattr(signal, "SIGKILL", 9) else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


def worker_baseline_bytes(timeout: float = 60.0) -> int:
    """Resident memory of a fresh Python process that imported what a dask worker imports.

    This is the part of a worker's memory that is there before any call runs; a running
    worker adds its event loop and connections (about 20 MB, covered by the margin of
    the memory rule in :mod:`acme.clusters.run`). Measured in a new process, since this
    one may hold anything. Falls back to :data:`FALLBACK_WORKER_BASELINE` if the
    process fails or takes longer than ``timeout`` seconds.
    """
    try:
        proc = subprocess.run([sys.executable, "-c", _BASELINE_CODE], capture_output=True,
                              text=True, timeout=timeout, env=_child_env(), check=False)
        if proc.returncode == 0:
            return int(proc.stdout.split()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        pass
    return FALLBACK_WORKER_BASELINE


def measure_call(shared: SharedCall, index: int, values: Sequence[Any],
                 write_mode: StorageMode | None, timeout: float | None) -> Sample:
    """Run call ``index`` in a new Python process and measure it.

    Parameters
    ----------
    shared : SharedCall
        The run's function and broadcast arguments; ``shared.storage`` gives the
        function's name and the ``result_shape`` a result must fit.
    index : int
        The call's index (its ``taskID``).
    values : sequence
        The call's split values (``CallPlan.call_values(index)``).
    write_mode : {"hdf5", "pickle"} or None
        Store the result this way in a temporary directory to measure its size; None
        measures its pickled size only.
    timeout : float or None
        Seconds after which the process is stopped; the sample then holds lower bounds
        (``finished=False``).

    Returns
    -------
    Sample
        A call that raised is reported in ``error`` and ``exception``, not raised.

    Raises
    ------
    RuntimeError
        If the process ended without reporting (killed, e.g. out of memory, or the call
        could not be unpickled); the message holds the last lines of its stderr.
    """
    with tempfile.TemporaryDirectory(prefix="acme-dryrun-") as tmp:
        workdir = Path(tmp)
        write = None
        if write_mode is not None:
            write = StorageSpec(StorageMode(write_mode), tmp, shared.storage.func_name,
                                shared.storage.result_shape)
        payload = pickle.dumps((tuple(sys.path), cloudpickle.dumps(
            (shared, index, tuple(values), write))))
        with open(workdir / "stderr.txt", "w+b") as errors:
            proc = subprocess.Popen([sys.executable, "-c", _CHILD_CODE, tmp],
                                    stdin=subprocess.PIPE, stderr=errors, env=_child_env())
            timed_out = False
            try:
                assert proc.stdin is not None
                try:
                    proc.stdin.write(payload)
                    proc.stdin.close()
                except BrokenPipeError:  # the child died early; its exit code says why
                    pass
                del payload
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    peak = _peak_of(proc.pid)
                    proc.kill()
                    proc.wait()
            except BaseException:  # e.g. Ctrl-C: never leave the sample process behind
                proc.kill()
                proc.wait()
                raise
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
        if stderr:
            sys.stderr.write(stderr)
        if timed_out:
            return _partial_sample(workdir, index, peak)
        try:
            with open(workdir / _SAMPLE_FILE, "rb") as handle:
                record = pickle.load(handle)
        except FileNotFoundError:
            tail = "\n".join(stderr.strip().splitlines()[-20:])
            raise RuntimeError(
                f"the dry-run process of call {index} {_describe_exit(proc.returncode)} "
                f"before reporting a result" + (f"; its last output:\n{tail}" if tail else "")
            ) from None
    exception = None
    if record.get("exception") is not None:
        try:
            exception = cloudpickle.loads(record["exception"])
        except Exception:
            exception = None
    return Sample(index=index, seconds=record["seconds"], baseline_bytes=record["baseline"],
                  peak_bytes=record["peak"], result_bytes=record.get("result_bytes", 0),
                  stored_bytes=record.get("stored_bytes", 0), error=record.get("error"),
                  exception=exception)


def _partial_sample(workdir: Path, index: int, peak: int) -> Sample:
    """A call stopped at the time limit: what it had used so far (lower bounds)."""
    try:
        with open(workdir / _STARTED_FILE, "rb") as handle:
            started = pickle.load(handle)
    except FileNotFoundError:  # stopped before the call began
        return Sample(index=index, seconds=0.0, baseline_bytes=peak, peak_bytes=peak,
                      finished=False)
    return Sample(index=index, seconds=max(0.0, time.time() - started["wall_start"]),
                  baseline_bytes=started["baseline"],
                  peak_bytes=max(peak, started["baseline"]), finished=False)
