"""Uneven calls on 2 workers: this package (default, and with ``call_cost``) against raw
dask ``client.map``, and a call that never returns among 200.

Efficiency = ideal / wall time, ideal = max(total work / workers, longest call). Every
figure comes from the same run on the same warm 2-worker ``LocalCluster``; compare the
ratios, not the seconds (the machines are shared). The calls sleep, so the figures measure
scheduling, not CPU contention.

    python benchmarks/uneven.py               # about 3 minutes
    python benchmarks/uneven.py --repeats 1   # about 1 minute

ACME (esi-acme) runs the two uneven workloads in ``benchmarks/.venv-acme`` (created by
``python benchmarks/run.py``) on its own warm 2-worker cluster, in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]
# Dask worker processes import the mapped functions (``funcs``) and this acme.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO), str(BENCH)] + [p for p in [os.environ.get("PYTHONPATH", "")] if p])

import distributed  # noqa: E402
from funcs import hangs_at, sleep_for  # noqa: E402

import acme  # noqa: E402

WORKERS = 2


def linear(n: int = 200, mean: float = 0.05) -> list[float]:
    """Durations rising linearly with the index, mean ``mean``."""
    return [2 * mean * (i + 0.5) / n for i in range(n)]


def lognormal(n: int = 400, mean: float = 0.05, seed: int = 15) -> list[float]:
    """Log-normal durations (sigma 1, a heavy tail), scaled to mean ``mean``."""
    d = np.random.default_rng(seed).lognormal(0.0, 1.0, n)
    return (d * mean / d.mean()).tolist()


def ideal(durations: list[float]) -> float:
    return max(sum(durations) / WORKERS, max(durations))


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def run_acme(durations: list[float], cost: bool) -> None:
    xs = list(range(len(durations)))
    with acme.ParallelMap(sleep_for, xs, durations, write_worker_results=False,
                          verbose=False, logfile=False,
                          call_cost=durations if cost else None) as pmap:
        assert pmap.compute() == xs


def run_dask(client: distributed.Client, durations: list[float]) -> None:
    xs = list(range(len(durations)))
    assert client.gather(client.map(sleep_for, xs, durations, pure=False)) == xs


def others_done_acme(n: int, seconds: float, bad: int | None, limit: float) -> float:
    """Seconds until every call but ``bad`` has its payload file (the run then ends by
    ``call_timeout``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        payloads = out / "hangs_at_payload"
        want = n - (bad is not None)
        seen: dict[str, float] = {}
        started = time.perf_counter()

        def watch() -> None:
            while "t" not in seen:
                if payloads.is_dir() and len(os.listdir(payloads)) >= want:
                    seen["t"] = time.perf_counter() - started
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            with acme.ParallelMap(hangs_at, list(range(n)), seconds, -1 if bad is None else bad,
                                  output_dir=str(out), verbose=False, logfile=False,
                                  call_timeout=limit) as pmap:
                pmap.compute()
        except acme.ParallelMapError:
            pass
        watcher.join(60)
        seen.setdefault("t", float("nan"))
        return seen["t"]


def others_done_dask(client: distributed.Client, n: int, seconds: float, bad: int) -> float:
    """Seconds until every task but ``bad`` finished with ``client.map`` (then the
    stuck worker is restarted)."""
    started = time.perf_counter()
    futures = client.map(hangs_at, list(range(n)), [seconds] * n, [bad] * n, pure=False)
    others = [f for i, f in enumerate(futures) if i != bad]
    try:
        distributed.wait(others, timeout=120)
        took = time.perf_counter() - started
    except TimeoutError:
        took = float("nan")
    key = futures[bad].key
    holders = [w for w, keys in client.processing().items() if key in keys]
    client.cancel(futures)
    if holders:  # frees the stuck worker
        client.restart_workers(holders, timeout=120, raise_for_error=False)
    return took


def acme_walls(workloads: dict[str, list[float]], repeats: int) -> dict[str, float]:
    """Median wall time of ACME (esi-acme, in ``benchmarks/.venv-acme``) per workload, or
    {} if its virtualenv does not exist (``python benchmarks/run.py`` creates it)."""
    venv_python = BENCH / ".venv-acme" / "bin" / "python"
    if not venv_python.exists():
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "workloads.json"
        spec.write_text(json.dumps(workloads))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # not this acme
        env["PYTHONPATH"] = str(BENCH)
        proc = subprocess.run([str(venv_python), str(BENCH / "_acme_driver.py"),
                               "--durations", str(spec), "--repeats", str(repeats),
                               "--workdir", tmp], capture_output=True, text=True,
                              env=env, cwd=tmp, timeout=1800, check=False)
    walls = {}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            got = json.loads(line[len("BENCH-RESULT "):])
            walls[got["workload"]] = statistics.median(got["times"])
    if not walls:
        print(f"ACME rows failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-acme", action="store_true",
                        help="skip ACME (run only where benchmarks/.venv-acme exists)")
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    workloads = {"200 calls, duration rising with the index": linear(),
                 "400 calls, log-normal durations": lognormal()}
    acme_wall = {} if args.no_acme else acme_walls(workloads, args.repeats)
    rows = []
    with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        run_acme([0.001] * 4, False)  # warm up
        run_dask(client, [0.001] * 4)
        for name, durations in workloads.items():
            best = ideal(durations)
            walls: dict[str, list[float]] = {"acme": [], "acme call_cost": [], "dask": []}
            for _ in range(args.repeats):
                walls["acme"].append(timed(lambda d=durations: run_acme(d, False)))
                walls["acme call_cost"].append(timed(lambda d=durations: run_acme(d, True)))
                walls["dask"].append(timed(lambda d=durations: run_dask(client, d)))
            med = {k: statistics.median(v) for k, v in walls.items()}
            esi = (f"{best / acme_wall[name]:6.1%}" if name in acme_wall
                   else "not run: no benchmarks/.venv-acme")
            rows.append((name, f"{best:.2f} s", *(f"{best / med[k]:6.1%}" for k in walls),
                         esi))
        n, seconds, bad, limit = 200, 0.02, 100, 10.0
        base = statistics.median(others_done_acme(n, seconds, None, limit)
                                 for _ in range(args.repeats))
        acme_t = statistics.median(others_done_acme(n, seconds, bad, limit)
                                   for _ in range(args.repeats))
        dask_t = statistics.median(others_done_dask(client, n, seconds, bad)
                                   for _ in range(args.repeats))
        best = (n - 1) * seconds / WORKERS
        rows.append(("199 others of 200 x 20 ms, one never returns: efficiency of the "
                     "others", f"{best:.2f} s", f"{best / acme_t:6.1%}", "-",
                     f"{best / dask_t:6.1%}",
                     "not run: ACME has no time limit; its run never ends"))
        rows.append(("  same, seconds: acme without the stuck call / with it / dask",
                     "", f"{base:.2f} / {acme_t:.2f}", "", f"{dask_t:.2f}", ""))
    header = (f"workload (2 workers, medians of {args.repeats})", "ideal", "acme",
              "acme call_cost", "dask client.map", "ACME (esi-acme)")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
