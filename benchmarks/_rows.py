"""One benchmark row, run inside a fresh ``python benchmarks/run.py --row SPEC`` process.

A fresh process per row makes ``ru_maxrss`` the peak RSS of that row's driver alone (the
in-process dask scheduler of the ``LocalCluster`` included; worker processes excluded).
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import _harness
import funcs
import h5py
from distributed import Client

Runner = Callable[[int, int], object]


def dask_once(client: Client, func: Callable[..., Any], n: int, run: int) -> None:
    """Raw dask: one task per call, ``pure=False`` so nothing is deduplicated."""
    futures = client.map(func, _harness.inputs(n, run), pure=False)
    results = client.gather(futures)
    del futures
    if len(results) != n:
        raise RuntimeError(f"dask: expected {n} results, got {len(results)}")


def pool_chunksize(n: int) -> int:
    """About 4 chunks per worker: few round trips, still balanced."""
    return max(1, math.ceil(n / (4 * _harness.N_WORKERS)))


def pool_once(pool: ProcessPoolExecutor, func: Callable[..., Any], n: int, run: int) -> None:
    results = list(pool.map(func, _harness.inputs(n, run), chunksize=pool_chunksize(n)))
    if len(results) != n:
        raise RuntimeError(f"pool: expected {n} results, got {len(results)}")


def floor_once(workdir: Path, func: Callable[..., Any], n: int, run: int) -> None:
    """Serial h5py floor: ACME's default layout written by one process, no scheduling.

    ``<out>/f_payload/f_i.h5`` with dataset ``result_0`` (shape (1,), like ACME stores a
    scalar) and the container ``<out>/f.h5`` with ``comp_i`` -> external link to payload i.
    """
    out = workdir / f"floor-{n}-{run}"
    payload = out / "f_payload"
    payload.mkdir(parents=True)
    for i, x in enumerate(_harness.inputs(n, run)):
        with h5py.File(payload / f"f_{i}.h5", "w") as h5f:
            h5f.create_dataset("result_0", data=[func(x)])
    with h5py.File(out / "f.h5", "w") as container:
        for i in range(n):
            container[f"comp_{i}"] = h5py.ExternalLink(f"f_payload/f_{i}.h5", "/")


def floor_writer_once(workdir: Path, func: Callable[..., Any], n: int, run: int) -> None:
    """A stricter floor: the same files written by this project's own payload writer
    (HDF5 low-level API, temporary name + rename) and container builder, in one process."""
    from acme.storage.containers import build_link_container
    from acme.storage.payloads import StorageSpec, write_result
    from acme.tasks import CallOutcome

    out = workdir / f"writer-{n}-{run}"
    payload = out / "f_payload"
    payload.mkdir(parents=True)
    spec = StorageSpec("hdf5", str(payload), "f")
    outcomes: list[CallOutcome | None] = []
    for i, x in enumerate(_harness.inputs(n, run)):
        path, _ = write_result(func(x), i, spec)
        outcomes.append(CallOutcome(index=i, path=path))
    build_link_container(out / "f.h5", payload, outcomes, None, "float64")


def this_acme() -> Any:
    """This project's ``acme`` (the repository root is first on ``sys.path``)."""
    import acme

    if not hasattr(acme, "ParallelMap"):
        raise ImportError("acme.ParallelMap does not exist yet")
    return acme


def run_row(spec: dict[str, Any], workdir: Path) -> None:
    """Measure one row described by ``spec`` and emit its result line."""
    tool, mode, n, repeats = spec["tool"], spec["mode"], spec["n"], spec["repeats"]
    func = getattr(funcs, spec.get("func", "f"))
    times: list[float] = []
    status, note = "ok", ""
    try:
        if tool == "floor":
            once = floor_once if mode == "files+container" else floor_writer_once
            times = _harness.measure(partial(once, workdir, func), n, repeats, workdir, 0)
        elif tool == "pool":
            with ProcessPoolExecutor(_harness.N_WORKERS) as pool:
                run = partial(pool_once, pool, func)
                times = _harness.measure(run, n, repeats, workdir, 0, _harness.N_WORKERS * 8)
        elif tool == "dask":
            with _harness.warm_client() as client:
                times = _harness.measure(partial(dask_once, client, func), n, repeats, workdir)
        elif tool == "acme":
            acme = this_acme()
            with _harness.warm_client():
                once = partial(_harness.pmap_once, acme, func, mode, workdir=workdir)
                times = _harness.measure(once, n, repeats, workdir)
        else:
            raise ValueError(f"unknown tool {tool!r}")
    except ImportError as err:
        status, note = "n/a", f"{type(err).__name__}: {err}"
    except Exception as err:  # reported in the table; the traceback goes to stderr
        traceback.print_exc()
        status, note = "error", f"{type(err).__name__}: {str(err)[:200]}"
    _harness.emit(times=times, status=status, note=note, peak_rss_mb=_harness.peak_rss_mb())
