"""What ``acme.Executor`` costs per call, next to raw dask and a process pool.

    python benchmarks/executor.py [--sizes 100,1000] [--repeats 3]

Every row maps ``funcs.f(x, y=2) = x * y`` over N integers on one warm
``LocalCluster(n_workers=2, threads_per_worker=1)`` (the process pool has 2 processes,
already started) and prints the median wall time and the time per call. Nothing here
runs in the test suite.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import distributed  # noqa: E402
from funcs import f  # noqa: E402

from acme import Executor  # noqa: E402


def _rows(client: distributed.Client, pool: concurrent.futures.ProcessPoolExecutor,
          exe: Executor) -> dict[str, Callable[[list[int]], list[int]]]:
    return {
        "acme.Executor submit+result": lambda xs: [
            fut.result() for fut in [exe.submit(f, x) for x in xs]],
        "acme.Executor map": lambda xs: list(exe.map(f, xs)),
        "acme.Executor map chunksize=N/16": lambda xs: list(
            exe.map(f, xs, chunksize=math.ceil(len(xs) / 16))),
        "dask client.submit+result": lambda xs: [
            fut.result() for fut in [client.submit(f, x, pure=False) for x in xs]],
        "dask client.map+gather": lambda xs: client.gather(client.map(f, xs, pure=False)),
        "ProcessPool map chunksize=N/16": lambda xs: list(
            pool.map(f, xs, chunksize=math.ceil(len(xs) / 16))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client, \
            concurrent.futures.ProcessPoolExecutor(2) as pool, \
            Executor(client=client) as exe:
        rows = _rows(client, pool, exe)
        for run in rows.values():  # warm up: imports, function caches, pool start
            assert run([1, 2, 3]) == [2, 4, 6]
        print(f"{'tool':36} {'N':>7} {'median s':>9} {'ms/call':>8}")
        for n in sizes:
            xs = list(range(n))
            expected = [x * 2 for x in xs]
            for name, run in rows.items():
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    assert run(xs) == expected
                    times.append(time.perf_counter() - start)
                median = statistics.median(times)
                print(f"{name:36} {n:>7} {median:>9.3f} {1000 * median / n:>8.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
