"""The storage-mode cases every backend must get right, and what each must leave behind.

Shared by ``test_backends.py`` (debug mode and a local dask cluster) and
``slurm/test_slurm_backends.py`` (the real SLURM). A case is run with :func:`observe`,
which reads back everything a user sees: what ``compute()`` returned or raised, the
results container's path, every file of the output directory (HDF5 by value with links
and virtual datasets marked, pickles by value) and :func:`acme.run_status`. The test
compares that with :func:`expected`, which is built from a serial loop over the calls,
not from a run.
"""

from __future__ import annotations

import inspect
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from acme import ParallelMap, ParallelMapError, Param, run_status
from acme.params import ParamSpace

X = [0, 1, 2, 3]
OFFSET = 0.5
WEIGHTS = np.array([[1.0, 2.0, 4.0], [0.0, 1.0, 0.0]])  # 2-D: passed whole to every call


# -- mapped functions (module level, so every backend's workers can import them) ----------
def three_values(x, offset=0.0, weights=None, taskID=None):
    """An array (the ``result_shape`` (3, None) part), an integer and a string (which
    holds the task id that ParallelMap passes)."""
    scale = np.ones(3) if weights is None else weights.sum(axis=0)
    return np.arange(3.0) * scale + x + offset, x * 2, f"call {x} as task {taskID}"


def fails_at_2(x, offset=0.0):
    if x == 2:
        raise ValueError(f"boom {x}")
    return np.full(3, x + offset)


def dict_at_1(x, offset=0.0):
    """Call 1 returns a dict, which HDF5 cannot hold (it is pickled instead)."""
    return {"x": x, "offset": offset} if x == 1 else np.full(3, x + offset)


# -- the cases -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One ``ParallelMap(func, *args, **kwargs)`` run (``output_dir`` is added when
    results go to files)."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def writes_files(self) -> bool:
        return self.kwargs.get("write_worker_results", True)

    def calls(self) -> list[dict[str, Any]]:
        """The keyword arguments of every call, in task-id order (a serial loop)."""
        if isinstance(self.args[0], ParamSpace):
            return [{**assignment, **self._fixed()} for assignment in self.args[0].iterate()]
        return [{"x": x, **self._fixed()} for x in self.args[0]]

    def _fixed(self) -> dict[str, Any]:
        storage = {"result_shape", "single_file", "write_pickle", "write_worker_results"}
        return {k: v for k, v in self.kwargs.items() if k not in storage}


SPACE = Param(x=[0, 1]) * Param(offset=[0.5, 10.0])

CASES = {
    "hdf5": Case(three_values, (X,), {"offset": OFFSET}),
    "vds": Case(three_values, (X,), {"offset": OFFSET, "result_shape": (3, None)}),
    "single_file": Case(three_values, (X,), {"offset": OFFSET, "single_file": True}),
    "single_file_shape": Case(three_values, (X,), {"offset": OFFSET, "single_file": True,
                                                  "result_shape": (3, None)}),
    "pickle": Case(three_values, (X,), {"offset": OFFSET, "write_pickle": True}),
    "memory": Case(three_values, (X,), {"offset": OFFSET, "write_worker_results": False}),
    "memory_shape": Case(three_values, (X,), {"offset": OFFSET, "write_worker_results": False,
                                             "result_shape": (3, None)}),
    "param_space": Case(three_values, (SPACE,)),
    "failing_call": Case(fails_at_2, (X,), {"offset": OFFSET}),
    "emergency_pickle": Case(dict_at_1, (X,), {"offset": OFFSET}),
    "broadcast_kwargs": Case(three_values, (X,), {"offset": OFFSET, "weights": WEIGHTS}),
}


# -- what a run shows a user -----------------------------------------------------------------
@dataclass(frozen=True)
class Seen:
    """Everything a user can read back after a run, paths relative to its output dir."""

    returned: Any                # compute()'s value (None if it raised)
    raised: tuple | None         # (type name, first line of the message, failed, results)
    container: str | None        # pmap.results_container
    files: dict[str, Any]        # output directory: relative path -> content
    status: tuple | None         # run_status: (state, n_calls, done, failed, missing, pickled)


def plain(value: Any) -> Any:
    """A return value as plain Python (arrays as ``("array", dtype kind, values)``)."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.kind, value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def h5_content(group: h5py.Group) -> dict[str, Any]:
    """An HDF5 group by value: external links as ``("link", file, path)``, virtual
    datasets as ``("vds", values)``, datasets by value, groups recursively; the file's
    attributes as ``"@<name>"``."""
    tree: dict[str, Any] = {}
    if group.name == "/":
        tree.update({f"@{key}": plain(value) for key, value in group.attrs.items()})
    for name in group:
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            tree[name] = ("link", link.filename, link.path)
        elif isinstance(group[name], h5py.Group):
            tree[name] = h5_content(group[name])
        elif group[name].is_virtual:
            tree[name] = ("vds", group[name][()].tolist())
        else:
            tree[name] = plain(group[name][()])
    return tree


def _file_content(path: Path) -> Any:
    if path.name.startswith(("acme_run_", "acme_inputs_")):
        return "<run record>"
    if path.suffix == ".log":
        return "<log>"
    if path.suffix == ".pickle":
        with open(path, "rb") as handle:
            return plain(pickle.load(handle))
    with h5py.File(path, "r") as h5f:
        return h5_content(h5f)


def _relative(value: Any, out: Path) -> Any:
    if isinstance(value, list) and all(isinstance(v, (str, type(None))) for v in value):
        return [None if v is None else Path(v).relative_to(out).as_posix() for v in value]
    return plain(value)


def observe(case: Case, out: Path, debug: bool) -> Seen:
    """Run ``case`` (in debug mode, or on the default dask client) and read back what it
    left in ``out``."""
    kwargs = dict(case.kwargs)
    if case.writes_files:
        kwargs["output_dir"] = str(out)
    returned = raised = None
    pmap = ParallelMap(case.func, *case.args, verbose=False, **kwargs)
    try:
        with pmap:
            returned = _relative(pmap.compute(debug=debug), out)
    except ParallelMapError as err:
        raised = (type(err).__name__, str(err).splitlines()[0], sorted(err.failed),
                  _relative(err.results, out))
    except ValueError as err:  # debug mode: the call's own exception
        raised = (type(err).__name__, str(err), None, None)
    container = pmap.results_container
    files: dict[str, Any] = {}
    status = None
    if out.exists():
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            # the log's name holds the start time
            name = re.sub(r"_\d{8}-\d{6}\.log$", ".log", path.relative_to(out).as_posix())
            files[name] = _file_content(path)
        s = run_status(out)
        status = (s.state, s.n_calls, s.done, s.failed, s.missing, s.pickled)
    return Seen(returned=returned, raised=raised,
                container=None if container is None else
                Path(container).relative_to(out).as_posix(),
                files=files, status=status)


# -- what it must show, from a serial loop ---------------------------------------------------
def _unshaped(ret: Any) -> dict[str, Any]:
    """One call's HDF5 payload without ``result_shape``: one dataset per return value."""
    values = ret if isinstance(ret, tuple) else (ret,)
    return {f"result_{k}": plain(v.encode() if isinstance(v, str) else np.asarray(v))
            if not isinstance(v, int) else v for k, v in enumerate(values)}


def _no_hdf5_result(failed: list[int], pickled: tuple[int, ...]) -> dict[str, Any]:
    """The container's attributes naming the calls without an HDF5 result."""
    return {"@failed_tasks": ("array", "i", failed), "@pickled_tasks": ("array", "i", list(pickled))}


def expected(case: Case, debug: bool) -> Seen:
    """What :func:`observe` must give for ``case``; identical for every backend except
    where debug mode differs by design (a failing call)."""
    name = case.func.__name__
    rets: list[Any] = []
    failing: int | None = None
    task_id = "taskID" in inspect.signature(case.func).parameters
    for index, call in enumerate(case.calls()):
        try:
            rets.append(case.func(**call, **({"taskID": index} if task_id else {})))
        except ValueError:
            failing = index
            rets.append(None)
    n = len(rets)
    kw = case.kwargs
    memory = not case.writes_files

    if memory:
        if "result_shape" in kw:
            returned = [plain(np.stack([r[0] for r in rets], axis=1)),
                        [tuple(r[1:]) for r in rets]]
        else:
            returned = [plain(r) for r in rets]
        return Seen(returned=returned, raised=None, container=None, files={}, status=None)

    files: dict[str, Any] = {f"ACME_{name}.log": "<log>",
                             f"acme_run_{name}.h5": "<run record>",
                             f"acme_inputs_{name}.h5": "<run record>"}
    if kw.get("write_pickle"):
        for i, r in enumerate(rets):
            files[f"{name}_{i}.pickle"] = plain(r)
        return Seen(returned=[f"{name}_{i}.pickle" for i in range(n)], raised=None,
                    container=None, files=files,
                    status=("finished", n, tuple(range(n)), {}, (), ()))
    if kw.get("single_file"):
        single: dict[str, Any] = _no_hdf5_result([], ())
        for i, r in enumerate(rets):
            single[f"comp_{i}"] = _unshaped(r)
            if "result_shape" in kw:
                single[f"comp_{i}"] = {k: v for k, v in single[f"comp_{i}"].items()
                                       if k != "result_0"}
        if "result_shape" in kw:
            single["result_0"] = plain(np.stack([r[0] for r in rets], axis=1))
        files[f"{name}.h5"] = single
        return Seen(returned=[f"{name}.h5"], raised=None, container=f"{name}.h5",
                    files=files, status=("finished", n, tuple(range(n)), {}, (), ()))

    # HDF5 payloads linked by the container
    ran = range(n)
    if failing is not None and debug:
        # by design: debug mode stops at the failing call, which raises as itself
        ran = range(failing)
    payload = f"{name}_payload"
    pickled = tuple(i for i in ran if isinstance(rets[i], dict))
    stored = [i for i in ran if rets[i] is not None and i not in pickled]
    paths = {i: f"{payload}/{name}_{i}.{'pickle' if i in pickled else 'h5'}" for i in ran
             if rets[i] is not None}
    failed = [failing] if failing is not None and not debug else []
    container: dict[str, Any] = _no_hdf5_result(failed, pickled)
    for i in stored:
        files[paths[i]] = _unshaped(rets[i])
        if "result_shape" in kw:
            container[f"comp_{i}"] = {f"result_{k}": ("link", paths[i], f"/result_{k}")
                                      for k in (1, 2)}
        else:
            container[f"comp_{i}"] = ("link", paths[i], "/")
    for i in pickled:
        files[paths[i]] = plain(rets[i])
    if "result_shape" in kw:
        container["result_0"] = ("vds", np.stack([r[0] for r in rets], axis=1).tolist())
    if isinstance(case.args[0], ParamSpace):
        columns = case.args[0].build()
        container["params"] = {col: plain(np.asarray(columns[col])) for col in sorted(columns)}
    files[f"{name}.h5"] = container
    returned: list[str | None] = [paths.get(i) for i in range(n)]
    done = tuple(stored)
    if failing is None:
        return Seen(returned=returned, raised=None, container=f"{name}.h5", files=files,
                    status=("finished", n, done, {}, (), pickled))
    if debug:
        return Seen(returned=None, raised=("ValueError", f"boom {failing}", None, None),
                    container=f"{name}.h5", files=files,
                    status=("interrupted", n, done, {}, tuple(range(failing, n)), pickled))
    first = (f"Parallel computation failed: 1/{n} tasks failed (task ids: {failing}). "
             f"First failure, task {failing}: ValueError: boom {failing}")
    return Seen(returned=None, raised=("ParallelMapError", first, [failing], returned),
                container=f"{name}.h5", files=files,
                status=("failed", n, done, {failing: f"ValueError: boom {failing}"}, (),
                        pickled))
