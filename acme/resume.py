"""Resume a run in place: check that it is the same run, then run only what is missing.

:func:`check_resume` runs in ``ParallelMap.__init__``, before any directory, log or
cluster exists; :func:`prior_outcomes` rebuilds the outcomes of the calls already done;
:func:`acme.resume_run` (in :mod:`acme.pmap`, as it builds a ParallelMap) resumes from
the record alone (the stored function and arguments),
e.g. in a new Python session after the driver died.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import h5py
import numpy as np

from .arguments import CallPlan, func_name, plan_calls
from .options import RunOptions
from .record import (
    DONE,
    PICKLED,
    CallTable,
    call_hash,
    call_hashes,
    driver_alive,
    func_hash,
    load_inputs,
    read_record,
    record_path,
    value_hash,
)
from .storage.containers import BLOCKS
from .storage.paths import RunPaths, StorageMode
from .tasks import CallOutcome

__all__ = ["Prior", "check_resume", "prior_outcomes", "remove_temporaries", "options_json",
           "resume_line"]


@dataclass(frozen=True)
class Prior:
    """What the record says about the run being resumed."""

    attrs: dict[str, Any]
    calls: CallTable


def options_json(options: RunOptions, n_inputs: int | str) -> str:
    """A run's options for its record (JSON; ``np.inf`` as ``"inf"``): those that decide
    what it stores, compared on resume, and where it ran."""
    shape = None if options.result_shape is None else [
        None if d is None else ("inf" if d == np.inf else int(d)) for d in options.result_shape]
    return json.dumps({"write_worker_results": options.write_worker_results,
                       "result_shape": shape, "result_dtype": options.result_dtype,
                       "single_file": options.single_file,
                       "write_pickle": options.write_pickle, "n_inputs": n_inputs,
                       "partition": options.partition, "n_workers": options.n_workers,
                       "mem_per_worker": options.mem_per_worker})


def resume_line(output_dir: Path | str) -> str:
    """The Python line that resumes the run in ``output_dir``."""
    return f"import acme; acme.resume_run({str(output_dir)!r})"


def param_names(func: Any, n_positional: int) -> list[str]:
    """Names of the first ``n_positional`` positional parameters of ``func``."""
    try:
        params = [p for p in inspect.signature(func).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[k].name if k < len(params) else f"positional argument {k}"
            for k in range(n_positional)]


def _first_difference(func: Any, old: CallPlan | None, new: CallPlan, index: int) -> str:
    """Which argument of call ``index`` differs (by name), as far as it can be told."""
    if old is None:
        return f"the arguments of call {index} differ from the recorded ones"
    old_args, old_kwargs = old.arguments(index)
    new_args, new_kwargs = new.arguments(index)
    names = param_names(func, max(len(old_args), len(new_args)))
    for k in range(max(len(old_args), len(new_args))):
        a = old_args[k] if k < len(old_args) else "<missing>"
        b = new_args[k] if k < len(new_args) else "<missing>"
        if value_hash(a) != value_hash(b):
            return (f"argument {names[k]!r} of call {index} differs: recorded "
                    f"{short(a)}, given {short(b)}")
    for key in sorted(set(old_kwargs) | set(new_kwargs)):
        a, b = old_kwargs.get(key, "<missing>"), new_kwargs.get(key, "<missing>")
        if value_hash(a) != value_hash(b):
            return (f"argument {key!r} of call {index} differs: recorded {short(a)}, "
                    f"given {short(b)}")
    return f"the arguments of call {index} differ from the recorded ones"


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_resume(options: RunOptions, plan: CallPlan, n_inputs: int | str) -> Prior:
    """Check that ``plan`` is the run recorded in ``options.output_dir``.

    Raises
    ------
    ValueError
        Without ``output_dir``, in memory, or if the function, the number of calls, an
        option that decides the storage, or an argument differs (the first differing call
        and argument are named).
    FileNotFoundError
        If the directory holds no run of this function.
    RuntimeError
        If the run's driver is still running.
    """
    if options.output_dir is None:
        raise ValueError("`resume=True` needs `output_dir`: the directory of the run to "
                         "resume")
    if options.dryrun:
        raise ValueError("`resume=True` does not take `dryrun=True`: the dry run would run "
                         "a call again that may be done")
    if options.storage == StorageMode.MEMORY:
        raise ValueError("`resume=True` needs `write_worker_results=True`: a run that "
                         "keeps its results in memory cannot be resumed")
    name = func_name(plan.func)
    folder = options.output_dir
    path = record_path(folder, name)
    if not path.is_file():
        others = sorted(p.name for p in folder.glob("acme_run_*.h5")) if folder.is_dir() else []
        hint = f" (it holds {', '.join(others)})" if others else ""
        raise FileNotFoundError(f"no run of {name} to resume in {folder}: its run record "
                                f"{path.name} does not exist{hint}")
    attrs, calls = read_record(path)
    if attrs.get("state") == "running" and driver_alive(attrs):
        raise RuntimeError(f"the run in {folder} is still going on (driver process "
                           f"{attrs.get('driver_pid')} on {attrs.get('driver_host')}); "
                           "resume it once it has ended")
    recorded = json.loads(attrs["options"])
    given = json.loads(options_json(options, n_inputs))
    for key in ("write_worker_results", "single_file", "write_pickle", "result_shape",
                "result_dtype"):
        if recorded.get(key) != given.get(key):
            raise ValueError(f"cannot resume the run in {folder}: `{key}` was "
                             f"{recorded.get(key)!r}, now {given.get(key)!r}")
    n_recorded = int(attrs["n_calls"])
    if n_recorded != plan.n_calls:
        raise ValueError(f"cannot resume the run in {folder}: it has {n_recorded} calls, "
                         f"the arguments given make {plan.n_calls}")
    func_blob, args_blob, hashes, broadcast = load_inputs(folder, name)
    if func_hash(plan.func, cloudpickle.dumps(plan.func)) != attrs["func_hash"]:
        raise ValueError(f"cannot resume the run in {folder}: the function {name} differs "
                         "from the recorded one (its code changed)")
    if calls.argument_hash is not None:  # a lazy run: in the record, "" if never read
        hashes = [h.decode() for h in calls.argument_hash]
    differs = value_hash((plan.args, plan.kwargs)) != broadcast
    if plan.lazy is not None:
        # Checked as the items are read again (the iterator can be read only once).
        calls.argument_hash = plan.lazy.hashing(call_hash, np.array(hashes, dtype="S32"),
                                                str(folder))
        new_hashes = hashes
    else:
        new_hashes = call_hashes(plan.split_values, plan.n_calls, plan.call_values)
        if calls.argument_hash is not None:  # keep them in the record
            calls.argument_hash = np.array(new_hashes, dtype="S32")
    first = 0 if differs else next(
        (i for i, (a, b) in enumerate(zip(hashes, new_hashes, strict=True))
         if a and a != b), None)
    if first is not None:
        try:
            old_args, old_kwargs, old_n = cloudpickle.loads(args_blob)
            old: CallPlan | None = plan_calls(plan.func, tuple(old_args), dict(old_kwargs),
                                              old_n)
        except Exception:  # e.g. a class of an argument no longer exists
            old = None
        raise ValueError(f"cannot resume the run in {folder}: "
                         f"{_first_difference(plan.func, old, plan, first)}")
    return Prior(attrs, calls)


_TEMPORARY = re.compile(r"\.[0-9a-f]{12}\.tmp$")


def remove_temporaries(paths: RunPaths) -> list[Path]:
    """Remove the temporary files a killed run left (its driver is known to be gone:
    :func:`check_resume` refuses while it runs); return them."""
    folders = {paths.output_dir, paths.payload_dir, paths.payload_dir / BLOCKS}
    stale = [p for folder in folders if folder.is_dir() for p in folder.iterdir()
             if _TEMPORARY.search(p.name) and p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def prior_outcomes(prior: Prior, paths: RunPaths, storage: StorageMode) -> list[CallOutcome | None]:
    """The outcomes of the calls the record holds as done (None for the others)."""
    calls = prior.calls
    outcomes: list[CallOutcome | None] = [None] * len(calls.status)
    shaped = json.loads(prior.attrs["options"]).get("result_shape") is not None
    for i, status in enumerate(calls.status):
        if status not in (DONE, PICKLED):
            continue
        path: str | None = None
        shape, n_values = None, 1
        if status == PICKLED or storage == StorageMode.PICKLE:
            path = str(paths.pickle(i))
        elif storage == StorageMode.HDF5:
            path = str(paths.payload(i))
            if shaped:
                with h5py.File(path, "r") as h5f:
                    shape = h5f["result_0"].shape
                    n_values = sum(1 for key in h5f if key.startswith("result_"))
        outcomes[i] = CallOutcome(index=i, path=path, shape=shape, n_values=n_values,
                                  duration=float(calls.duration[i]),
                                  host=calls.worker_host[i], job_id=calls.slurm_job_id[i],
                                  attempts=int(calls.attempts[i]))
    return outcomes
