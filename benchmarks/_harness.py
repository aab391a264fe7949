"""Pieces shared by the row subprocesses of ``run.py`` and by ``_acme_driver.py``.

This module runs under two interpreters (the project's and ACME's virtualenv), so it
imports only the standard library, ``distributed`` and the mapped functions, never ``acme``.
The ``acme`` module to benchmark is passed in by the caller.

Why no file is deleted until the whole benchmark has ended: on ext4 without a journal (the
root file system of the machines this was developed on), the inode allocator skips every
inode freed in the last 60 s (300 s while its inode-table block is dirty), and it checks
them one by one for each new file. Deleting the 10,000 files of one run right before the
next made each new file cost up to 0.5 ms of kernel time more, by an amount that depended
on what the previous row had deleted (and hit two concurrent writers harder than one). So
every run writes to a directory of its own, and ``run.py`` removes the scratch directory
only when the benchmark ends.
"""

from __future__ import annotations

import gc
import json
import logging
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from distributed import Client, LocalCluster

N_WORKERS = 2
RESULT_MARK = "BENCH-RESULT "
WARMUP_RUN = 99  # run index of the untimed warm-up, so its inputs differ from timed runs


# storage mode -> ParallelMap keywords (the same names in ACME and in this project)
MODES: dict[str, dict[str, Any]] = {
    "hdf5": {},
    "shape": {"result_shape": (None,)},
    "single_file": {"single_file": True},
    "pickle": {"write_pickle": True},
    "memory": {"write_worker_results": False},
    "memory_shape": {"write_worker_results": False, "result_shape": (None,)},
}


def inputs(n: int, run: int) -> list[int]:
    """Distinct inputs per run: ACME's content-hashed task keys must never repeat."""
    base = run * 1_000_000
    return list(range(base, base + n))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def warm_client() -> Iterator[Client]:
    """The warm client every dask-based row runs on: 2 worker processes, 1 thread each."""
    cluster = LocalCluster(
        n_workers=N_WORKERS,
        threads_per_worker=1,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    try:
        client.wait_for_workers(N_WORKERS)
        yield client
    finally:
        client.close()
        cluster.close()


def measure(
    run_once: Callable[[int, int], object],
    n: int,
    repeats: int,
    workdir: Path,
    settle: float = 1.0,
    warmup_n: int = 10,
) -> list[float]:
    """Time ``run_once(n, run)`` ``repeats`` times after one small untimed warm-up.

    Between runs (untimed) garbage is collected and the client is given ``settle`` seconds
    to release the previous run's keys. Each run writes to its own directory, and nothing
    is deleted here (see the module docstring).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    run_once(min(n, warmup_n), WARMUP_RUN)
    times = []
    for run in range(repeats):
        gc.collect()
        time.sleep(settle)
        t0 = time.perf_counter()
        run_once(n, run)
        times.append(time.perf_counter() - t0)
    return times


def pmap_once(
    acme: ModuleType,
    func: Callable[..., Any],
    mode: str,
    n: int,
    run: int,
    workdir: Path,
) -> object:
    """One ``ParallelMap`` run, as a user writes it; works for ACME and for this project."""
    kwargs = dict(MODES[mode])
    if not mode.startswith("memory"):
        kwargs["output_dir"] = str(workdir / f"{mode}-{n}-{run}")
    with acme.ParallelMap(func, inputs(n, run), verbose=False, logfile=False, **kwargs) as pmap:
        result = pmap.compute()
    if mode.startswith("memory") and result is not None:
        check_length(result, n, mode)
    return result


def check_length(result: Any, n: int, mode: str) -> None:
    """Sanity check of in-memory results: ``n`` values, or (``result_shape``) a stacked
    array of length ``n``, bare (ACME) or as the first element of a list (this project)."""
    if len(result) == n or (mode == "memory_shape" and len(result[0]) == n):
        return
    raise RuntimeError(f"{mode}: expected {n} results, got {len(result)}")


def emit(**result: Any) -> None:
    """Print one machine-readable result line for the parent process."""
    print(RESULT_MARK + json.dumps(result), flush=True)
