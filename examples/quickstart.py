"""The quick-start walkthrough of the documentation, end to end, on 2 local workers.

Run it from anywhere::

    python examples/quickstart.py                  # files go to a temporary directory
    python examples/quickstart.py --output runs/   # files are kept in runs/quickstart-*/

It starts a local cluster of two worker processes, runs every example of
doc/source/quickstart.rst on it, prints the files written and the values read back
with h5py, checks each value, shuts the cluster down and exits with status 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

import acme
from acme import ParallelMap


# -- the functions we map ----------------------------------------------------------------
# (In your own projects, put them in a module of their own and import it.)
def f(x, y, z=3):
    return (x + y) * z


def g(x, weights):
    return x * sum(weights)


def powers(x):
    return np.array([x, x**2, x**3])


def sample(n, taskID=None):
    rng = np.random.default_rng(seed=taskID)
    return float(rng.normal(size=n).mean())


def fragile(x):
    if x == 4:
        raise ValueError(f"cannot handle x={x}")
    return x


# -- helpers -----------------------------------------------------------------------------
def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)), flush=True)


def check(value, expected) -> None:
    """Print ``value`` and stop with an error if it is not ``expected``."""
    print("  ->", value, flush=True)
    if isinstance(expected, np.ndarray):
        ok = np.array_equal(np.asarray(value), expected)
    else:
        ok = value == expected
    if not ok:
        sys.exit(f"unexpected result: {value!r}, expected {expected!r}")


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# -- the walkthrough ---------------------------------------------------------------------
def walkthrough(base: Path) -> None:
    section("f(x, y, z=3) over x = [2, 4, 6, 8] with y = 4, results on disk")
    # Without output_dir the results go to ACME_<timestamp> in the working directory.
    with working_directory(base):
        with ParallelMap(f, [2, 4, 6, 8], 4) as pmap:
            paths = pmap.compute()
    print("payload files returned by compute():")
    for path in paths:
        print("  ", path)
    container = pmap.results_container
    print("results container:", container)
    print("values read back from the container with h5py:")
    with h5py.File(container, "r") as h5f:
        values = []
        for i in range(len(paths)):
            value = h5f[f"comp_{i}"]["result_0"][()]
            print(f"   comp_{i}/result_0 = {value}")
            values.append(value.tolist())
    check(values, [[18], [24], [30], [36]])

    section("the same run with output_dir")
    custom = base / "my_results"
    with ParallelMap(f, [2, 4, 6, 8], 4, output_dir=custom, verbose=False) as pmap:
        paths = pmap.compute()
    print("files:", ", ".join(str(Path(p).relative_to(base)) for p in paths))
    check(sorted(p.name for p in custom.iterdir() if not p.name.endswith(".log")),
          ["acme_inputs_f.h5", "acme_run_f.h5", "f.h5", "f_payload"])

    section("results in memory: write_worker_results=False")
    with ParallelMap(f, [2, 4, 6, 8], 4, write_worker_results=False, verbose=False) as pmap:
        check(pmap.compute(), [18, 24, 30, 36])

    section("automatic distribution fails, n_inputs resolves it")
    try:
        ParallelMap(g, [2, 4, 6, 8], [1, 2, 3])
    except ValueError as err:
        print("  ValueError:", err)
    with ParallelMap(g, [2, 4, 6, 8], [1, 2, 3], n_inputs=4, write_worker_results=False,
                     verbose=False) as pmap:
        check(pmap.compute(), [12, 24, 36, 48])

    section("repeating a call: ParallelMap(f, 2, 3, n_inputs=4)")
    with ParallelMap(f, 2, 3, n_inputs=4, write_worker_results=False, verbose=False) as pmap:
        check(pmap.compute(), [15, 15, 15, 15])

    section("taskID: each call receives its index (here: as a random seed)")
    with ParallelMap(sample, 1000, n_inputs=4, write_worker_results=False,
                     verbose=False) as pmap:
        means = pmap.compute()
    check(means, [sample(1000, taskID=i) for i in range(4)])

    section("result_shape=(None, 3): one (4, 3) dataset in the container")
    with ParallelMap(powers, [1, 2, 3, 4], result_shape=(None, 3),
                     output_dir=base / "powers", verbose=False) as pmap:
        pmap.compute()
    expected = np.array([[x, x**2, x**3] for x in [1, 2, 3, 4]], dtype=float)
    with h5py.File(pmap.results_container, "r") as h5f:
        dset = h5f["result_0"]
        print(f"  result_0: shape {dset.shape}, dtype {dset.dtype}, virtual {dset.is_virtual}")
        check(dset[()], expected)

    section("result_shape=(None, 3) in memory: one array")
    with ParallelMap(powers, [1, 2, 3, 4], result_shape=(None, 3),
                     write_worker_results=False, verbose=False) as pmap:
        stacked = pmap.compute()
    check(stacked, expected)

    section("a failing call: acme.ParallelMapError (the error log below is expected)")
    try:
        with ParallelMap(fragile, [2, 4, 6, 8], output_dir=base / "fragile",
                         verbose=False) as pmap:
            pmap.compute()
    except acme.ParallelMapError as err:
        print("  message:", str(err).splitlines()[0])
        print("  failed task ids:", list(err.failed))
        print("  partial results:")
        for path in err.results:
            print("    ", path)
        check([path is not None for path in err.results], [True, False, True, True])
    else:
        sys.exit("expected acme.ParallelMapError")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=None,
                        help="keep the results in a new subdirectory quickstart-* of this "
                             "directory (default: a temporary directory, removed at the end)")
    args = parser.parse_args(argv)

    # Start the cluster ourselves: every ParallelMap below attaches to it and leaves it
    # running (stop_client="auto"), and we shut it down at the end. Without this,
    # ParallelMap would start (and stop) a cluster per run, on SLURM if it is available.
    client = acme.local_cluster_setup(n_workers=2, interactive=False)
    try:
        if args.output is None:
            with tempfile.TemporaryDirectory(prefix="acme-quickstart-") as tmp:
                walkthrough(Path(tmp))
            print(f"\nThe files listed above were written to the temporary directory {tmp},"
                  "\nwhich has now been removed. To keep them, run:"
                  "\n    python examples/quickstart.py --output DIR")
        else:
            args.output.mkdir(parents=True, exist_ok=True)
            base = Path(tempfile.mkdtemp(prefix="quickstart-", dir=args.output)).resolve()
            walkthrough(base)
            print(f"\nAll files are in {base}")
    finally:
        acme.cluster_cleanup(client)
    print("\nAll examples gave the documented results.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
