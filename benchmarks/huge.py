"""Huge runs with bounded driver memory: 10^6 trivial calls in memory, 10^5 calls with
HDF5 payloads and with ``result_shape``, a 400 MB broadcast argument over 40 calls.

Each row runs in a fresh driver process connected to one warm 2-worker cluster that runs
in a process of its own, so the **driver peak RSS** is the driver alone (``ru_maxrss``:
no scheduler, no workers). Worker peak RSS is read from the workers after the row (they
are restarted before a row that reports it). Raw dask rows use ``client.map`` (and
``client.scatter(..., broadcast=True)`` for the broadcast argument). Compare ratios of one
run: the machine is shared.

    python benchmarks/huge.py                # about 10 minutes on 2 cores
    python benchmarks/huge.py --quick        # N / 10, 1 repeat, about 1 minute
    python benchmarks/huge.py --repeats 1 --rows acme-memory-1e6
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO), str(BENCH)] + [p for p in [os.environ.get("PYTHONPATH", "")] if p])

MARK = "HUGE-RESULT "
WORKERS = 2
BROADCAST_MB = 400

#: name -> (tool, what, N at full size); --quick divides N by 10
ROWS: dict[str, tuple[str, str, int]] = {
    "acme-memory-1e6": ("acme", "memory, list input", 1_000_000),
    "acme-memory-gen-1e6": ("acme", "memory, generator input", 1_000_000),
    "dask-memory-1e5": ("dask", "client.map + gather", 100_000),
    "acme-hdf5-1e5": ("acme", "hdf5 payloads", 100_000),
    "dask-hdf5-1e5": ("dask", "client.map writing h5 files", 100_000),
    "acme-shape-1e5": ("acme", "result_shape=(None,)", 100_000),
    "acme-broadcast": ("acme", f"{BROADCAST_MB} MB broadcast, 40 calls", 40),
    "dask-broadcast": ("dask", f"{BROADCAST_MB} MB scatter(broadcast), 40 calls", 40),
}

#: ACME (esi-acme) at these sizes: not run, and why.
ACME_NOTE = ("not run: ACME runs one dask task per call, about 2 ms per call at 10^4 "
             "(benchmarks/results.md), so 10^5 calls take several minutes per repeat and "
             "10^6 over half an hour")

#: targets: row -> (limit on wall s or None, limit on driver peak RSS MB or None)
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "acme-memory-1e6": (60.0, 500.0),
    "acme-memory-gen-1e6": (60.0, 500.0),
    "acme-hdf5-1e5": (60.0, None),
    "acme-shape-1e5": (None, 400.0),
}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_peak_mb() -> float:
    import resource as res

    return res.getrusage(res.RUSAGE_SELF).ru_maxrss / 1024


def run_row(name: str, n: int, address: str, scratch: str) -> dict[str, float]:
    """One row in this (fresh) process; returns its figures."""
    import distributed
    import numpy as np
    from funcs import f, f_h5, row_of

    import acme

    tool = ROWS[name][0]
    with distributed.Client(address) as client:
        if "broadcast" in name:
            client.restart()  # fresh workers: their peak RSS is this row's
        out = Path(tempfile.mkdtemp(dir=scratch))
        data = np.ones(BROADCAST_MB * 2**20 // 8) if "broadcast" in name else None
        started = time.perf_counter()
        if name.startswith("acme-memory"):
            xs = (x for x in range(n)) if "gen" in name else list(range(n))
            with acme.ParallelMap(f, xs, n_inputs=n, write_worker_results=False,
                                  verbose=False, logfile=False) as pmap:
                results = pmap.compute()
            assert len(results) == n and results[-1] == 2 * (n - 1)
        elif name == "acme-hdf5-1e5":
            with acme.ParallelMap(f, list(range(n)), output_dir=str(out / "o"),
                                  verbose=False, logfile=False) as pmap:
                assert len(pmap.compute()) == n
        elif name == "acme-shape-1e5":
            with acme.ParallelMap(f, list(range(n)), output_dir=str(out / "o"),
                                  result_shape=(None,), verbose=False,
                                  logfile=False) as pmap:
                assert len(pmap.compute()) == n
        elif name == "dask-memory-1e5":
            assert len(client.gather(client.map(f, range(n), pure=False))) == n
        elif name == "dask-hdf5-1e5":
            assert len(client.gather(client.map(f_h5, range(n), [str(out)] * n,
                                                pure=False))) == n
        elif name == "acme-broadcast":
            with acme.ParallelMap(row_of, list(range(n)), data, n_inputs=n,
                                  write_worker_results=False,
                                  verbose=False, logfile=False) as pmap:
                assert pmap.compute() == [1.0] * n
        elif name == "dask-broadcast":
            shared = client.scatter(data, broadcast=True)
            assert client.gather(client.map(row_of, range(n), [shared] * n,
                                            pure=False)) == [1.0] * n
            del shared
        wall = time.perf_counter() - started
        workers = client.run(worker_peak_mb)
    return {"wall": wall, "driver": peak_mb(), "worker": max(workers.values()),
            "tool": tool}


def start_cluster() -> tuple[subprocess.Popen[str], str]:
    """A 2-worker LocalCluster in a process of its own; returns it and its address."""
    code = ("import distributed, logging, sys\n"
            "c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, "
            "dashboard_address=':0', silence_logs=logging.ERROR)\n"
            "print(c.scheduler_address, flush=True)\n"
            "sys.stdin.read()\nc.close()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        raise RuntimeError("the benchmark cluster did not start")
    return proc, address


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N / 10, one repeat")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:  # one row, in this fresh process
        print(MARK + json.dumps(run_row(args.row, args.n, args.address, args.scratch)),
              flush=True)
        return
    repeats = 1 if args.quick else args.repeats
    load = os.getloadavg()
    cluster, address = start_cluster()
    rows = []
    try:
        (BENCH / "_work").mkdir(exist_ok=True)  # ignored by git
        with tempfile.TemporaryDirectory(dir=BENCH / "_work") as scratch:
            for name in args.rows.split(","):
                tool, what, n = ROWS[name]
                n = n if args.quick is False or n < 1000 else n // 10
                # raw dask's 10^5-task rows once: each takes minutes
                times = 1 if tool == "dask" and n >= 100_000 else repeats
                got = []
                for _ in range(times):
                    proc = subprocess.run(
                        [sys.executable, __file__, "--row", name, "--n", str(n),
                         "--address", address, "--scratch", scratch],
                        capture_output=True, text=True, timeout=3600, check=False)
                    line = next((ln for ln in proc.stdout.splitlines()
                                 if ln.startswith(MARK)), None)
                    if line is None:
                        got = []
                        rows.append([tool, what, f"{n:,}", "failed: "
                                     + (proc.stderr.strip().splitlines() or ["?"])[-1]])
                        break
                    got.append(json.loads(line[len(MARK):]))
                if not got:
                    continue
                med = {k: statistics.median(g[k] for g in got)
                       for k in ("wall", "driver", "worker")}
                # workers are restarted only for the broadcast rows: elsewhere their
                # peak is that of the whole benchmark so far
                worker = f"{med['worker']:.0f}" if "broadcast" in name else "-"
                rows.append([tool, what, f"{n:,}", f"{med['wall']:.2f}",
                             f"{med['driver']:.0f}", worker,
                             str(len(got)), verdict(name, med, args.quick)])
    finally:
        assert cluster.stdin is not None
        cluster.stdin.close()
        cluster.wait(60)
    rows.append(["ACME (esi-acme)", "all rows above", "", ACME_NOTE])
    header = ["tool", "row", "N", "wall s", "driver peak RSS MB", "worker peak RSS MB",
              "runs", "target"]
    print(f"load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"({os.cpu_count()} cores); medians of the runs")
    widths = [max(len(r[i]) for r in [header, *rows] if i < len(r))
              for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)))


def verdict(name: str, med: dict[str, float], quick: bool) -> str:
    """PASS/FAIL against the issue's targets (not judged in --quick: N differs)."""
    if name not in TARGETS or quick:
        return ""
    wall, rss = TARGETS[name]
    parts = []
    if wall is not None:
        parts.append(f"wall < {wall:.0f} s " + ("PASS" if med["wall"] < wall else "FAIL"))
    if rss is not None:
        parts.append(f"RSS < {rss:.0f} MB " + ("PASS" if med["driver"] < rss else "FAIL"))
    return ", ".join(parts)


if __name__ == "__main__":
    main()
