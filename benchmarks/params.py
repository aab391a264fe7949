"""Parameter spaces (``acme.Param``): laziness and the cost of storing parameters.

Prints one table::

    python benchmarks/params.py

Rows: a product of ten 100-value axes (10**20 assignments: time and peak traced memory to
the first assignment and to the first 100,000, and random indexing), a difference over
a 10**6-assignment product (its first index pass), and ``write_params`` for 10**5 calls
into an HDF5 file (the cost a run's container pays). Targets: the 10**20 space answers
in milliseconds with memory independent of its size. Nothing here runs in the tests.
"""

from __future__ import annotations

import itertools
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py

from acme import Param
from acme.paramstore import write_params


def measure(func: Callable[[], Any]) -> tuple[float, float]:
    """CPU seconds of one call of ``func``, and peak traced MB of another (tracing slows
    Python down several times, so the two are measured apart)."""
    started = time.process_time()
    func()
    seconds = time.process_time() - started
    tracemalloc.start()
    try:
        func()
        return seconds, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def product(n_axes: int, n_values: int) -> Any:
    space = Param(p0=range(n_values))
    for k in range(1, n_axes):
        space = space * Param(**{f"p{k}": range(n_values)})
    return space


def main() -> None:
    huge = product(10, 100)
    medium = product(3, 100)  # 10**6 assignments
    rows = [
        ("build 10 x 100 product (10**20)", lambda: product(10, 100)),
        ("first assignment of it", lambda: next(huge.iterate())),
        ("first 100,000 assignments", lambda: sum(1 for _ in itertools.islice(
            huge.iterate(), 100_000))),
        ("10,000 random indexings", lambda: [huge[(i * 7_919_111) % huge.size]
                                             for i in range(10_000)]),
        ("10**6 product minus half an axis: size", lambda: (
            medium - Param(p1=range(50))).size),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        space = product(2, 100) * Param(label=["x"] * 10)  # 10**5 calls, one string column

        def write() -> None:
            with h5py.File(Path(tmp) / "c.h5", "w") as h5f:
                write_params(h5f, space, None)

        rows.append(("write_params, 10**5 calls, 3 columns", write))
        print(f"{'what':42s} {'seconds':>10s} {'peak MB':>10s}")
        for name, func in rows:
            seconds, peak = measure(func)
            print(f"{name:42s} {seconds:10.4f} {peak:10.2f}")


if __name__ == "__main__":
    main()
