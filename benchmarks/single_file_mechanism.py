"""How should ``single_file=True`` get every result into the one container?

Two mechanisms, on the same 2-worker ``LocalCluster``, one dask task per result:

* ``client``: workers return the result; the client writes it into the open container as
  results arrive (what :mod:`acme.storage.containers` does). One writer, the file stays open.
* ``lock``: each worker takes a ``distributed.Lock`` named after the container, opens it
  in append mode, writes its result, closes it and releases the lock (ACME's design).

For reference, ``acme`` itself is timed with ``single_file=True`` and with the default
per-call payloads (whose container links ``comp_<i>`` to the payload files). Every
variant's ``comp_<i>/result_0`` is verified after the timing.

Run: ``python benchmarks/single_file_mechanism.py [--repeats 3]`` (about a minute).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import distributed
import h5py
import numpy as np

# (label, number of results, float64 values per result)
CASES = [("200 x 8 kB", 200, 1_000), ("100 x 1 MB", 100, 131_072), ("20 x 16 MB", 20, 2_097_152)]


def make(i: int, size: int) -> np.ndarray:
    return np.full(size, float(i))


def write_locked(i: int, size: int, path: str) -> None:
    data = make(i, size)
    with distributed.Lock(Path(path).name):
        with h5py.File(path, "a") as h5f:
            h5f.create_dataset(f"comp_{i}/result_0", data=data)


def via_client(client: distributed.Client, n: int, size: int, path: str) -> str:
    futures = [client.submit(make, i, size, pure=False) for i in range(n)]
    index = {f.key: i for i, f in enumerate(futures)}
    with h5py.File(path, "w") as h5f:
        for future, data in distributed.as_completed(futures, with_results=True):
            h5f.create_dataset(f"comp_{index[future.key]}/result_0", data=data)
            future.release()
    return path


def via_lock(client: distributed.Client, n: int, size: int, path: str) -> str:
    with h5py.File(path, "w"):
        pass
    futures = [client.submit(write_locked, i, size, path, pure=False) for i in range(n)]
    distributed.wait(futures)
    for future in futures:
        future.result()  # raise any worker error
    return path


def via_acme(single_file: bool):
    def run(client: distributed.Client, n: int, size: int, path: str) -> str:
        from acme import ParallelMap
        out = Path(path).parent / "acme_out"
        with ParallelMap(make, list(range(n)), size, output_dir=str(out),
                         single_file=single_file, verbose=False, logfile=False) as pmap:
            pmap.compute()
        return str(out / "make.h5")
    return run


def check(path: str, n: int, size: int) -> None:
    with h5py.File(path, "r") as h5f:
        assert len(h5f) == n
        for i in (0, n - 1):
            data = h5f[f"comp_{i}/result_0"]
            assert data.shape == (size,) and data[0] == data[-1] == i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    variants = {"client": via_client, "lock": via_lock,
                "acme single_file": via_acme(True), "acme default (payloads)": via_acme(False)}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        print(f"h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}, "
              f"distributed {distributed.__version__}, 2 workers, median of {args.repeats}")
        print(f"{'case':<14}" + "".join(f"{name:>26}" for name in variants))
        for label, n, size in CASES:
            row = []
            for fn in variants.values():
                times = []
                for _ in range(args.repeats):
                    tmp = Path(tempfile.mkdtemp(prefix="acme-bench-"))
                    path = str(tmp / "container.h5")
                    start = time.perf_counter()
                    written = fn(client, n, size, path)
                    times.append(time.perf_counter() - start)
                    check(written, n, size)  # (the default layout: through its links)
                    shutil.rmtree(tmp)
                row.append(statistics.median(times))
            print(f"{label:<14}" + "".join(f"{t:>25.2f}s" for t in row))


if __name__ == "__main__":
    main()
