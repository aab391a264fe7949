"""Functions mapped by the benchmarks.

They live in their own importable module (not in ``run.py``) so that dask workers and
process-pool workers unpickle them by reference. The ACME driver imports this module too,
so it must not import ``acme``.
"""

import time


def f(x: float, y: float = 2) -> float:
    """The trivial function: all measured cost is the tool's overhead."""
    return x * y


def nap(x: float, y: float = 0.1) -> float:
    """Sleep ``y`` seconds: 40 calls on 2 workers ideally take 2.0 s."""
    time.sleep(y)
    return x


def sleep_for(x: int, seconds: float) -> int:
    """Sleep ``seconds`` (uneven workloads pass one duration per call)."""
    time.sleep(seconds)
    return x


def hangs_at(x: int, seconds: float, bad: int) -> int:
    """Sleep ``seconds``, except call ``bad``, which sleeps an hour (never returns here)."""
    time.sleep(3600 if x == bad else seconds)
    return x


def f_h5(x: int, folder: str) -> str:
    """Raw dask's counterpart of an HDF5 payload: write ``f(x)`` to ``folder/f_<x>.h5``."""
    import os

    import h5py

    path = os.path.join(folder, f"f_{x}.h5")
    with h5py.File(path, "w") as h5f:
        h5f["result_0"] = f(x)
    return path


def row_of(x: int, data: object) -> float:
    """A call that reads one element of a large broadcast array."""
    return float(data[x])  # type: ignore[index]
