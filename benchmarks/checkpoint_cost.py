"""What do the run record and the checkpoints cost? This tree against the commit before.

Every storage mode that writes files is timed at N calls (default 10,000) of the trivial
``funcs.f`` on a warm 2-worker ``LocalCluster`` (one untimed warm-up run first), once
with this tree's ``acme`` (run record, checkpoints of container and record) and once
with ``acme`` as of ``--base`` (default: the commit before durable runs), exported with
``git archive`` to a scratch directory. ``single_file_8kB`` returns 8 kB per call, so its
80 MB container is copied at each checkpoint. Each variant runs in its own subprocess;
the median of ``--repeats`` runs is shown.

Run: ``python benchmarks/checkpoint_cost.py [--n 10000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BASE = "6c45038"  # the last commit before the run record and checkpoints

MODES = {
    "hdf5": {},
    "shape": {"result_shape": [None]},
    "single_file": {"single_file": True},
    "single_file_8kB": {"single_file": True},
    "pickle": {"write_pickle": True},
}
MARK = "CHECKPOINT-BENCH "

CHILD = """
import json, statistics, sys, time
from pathlib import Path
from typing import Any
import numpy as np
import distributed
import acme
sys.path.insert(0, {bench!r})
import funcs

def vector(x):
    return np.full(1000, float(x))

def main(n, repeats, mode, kw, work):
    func = vector if mode.endswith("8kB") else funcs.f
    if kw.get("result_shape"):
        kw["result_shape"] = tuple(kw["result_shape"])
    times = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") \\
            as cluster, distributed.Client(cluster):
        for run in range(repeats + 1):
            out = Path(work) / f"{{mode}}-{{run}}"
            xs = list(range(run * 1_000_000, run * 1_000_000 + (n if run else 100)))
            started = time.perf_counter()
            with acme.ParallelMap(func, xs, output_dir=str(out), verbose=False,
                                  logfile=False, **kw) as pmap:
                pmap.compute()
            if run:  # run 0 warms up
                times.append(time.perf_counter() - started)
    print({mark!r} + json.dumps(times), flush=True)

main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5])
"""


def measure(tree: Path, n: int, repeats: int, mode: str, work: Path) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    code = CHILD.format(bench=str(BENCH), mark=MARK)
    proc = subprocess.run([sys.executable, "-c", code, str(n), str(repeats), mode,
                           json.dumps(MODES[mode]), str(work)], env=env, capture_output=True,
                          text=True, timeout=3600, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"{mode} under {tree} failed:\n{proc.stderr[-2000:]}")


def components(n: int) -> None:
    """Time one checkpoint's parts at ``n`` calls, in this process (no cluster, so the
    figures do not depend on what else the machine runs)."""
    sys.path.insert(0, str(REPO))
    import numpy as np

    from acme.arguments import plan_calls
    from acme.record import CallTable, RecordWriter, call_hashes, write_inputs
    from acme.storage.containers import SingleFileWriter, build_link_container
    from acme.tasks import CallOutcome

    def f(x: int, y: int = 2) -> int:
        return x * y

    def timed(action: Any) -> float:
        started = time.perf_counter()
        action()
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plan = plan_calls(f, (list(range(n)),), {})
        rows = [("argument hashes (once per run)",
                 timed(lambda: call_hashes(plan.split_values, n, plan.call_values)))]
        rows.append(("inputs file (once per run)", timed(lambda: write_inputs(
            out / "inputs.h5", b"f" * 1000, b"a" * 100_000, ["0" * 32] * n, ""))))
        calls = CallTable.empty(n)
        for i in range(n):
            calls.set(i, 1, 1, 0.001, "host", "")
        writer = RecordWriter(out, "f", {})
        rows.append(("record", timed(lambda: writer.publish(calls.copy(), "running"))))
        payloads = out / "f_payload"
        payloads.mkdir()  # the block files of the virtual dataset go in there
        done = [CallOutcome(index=i, path=str(payloads / f"f_{i}.h5"), shape=())
                for i in range(n)]
        rows.append(("container, external links", timed(lambda: build_link_container(
            out / "links.h5", payloads, list(done), None, "float"))))
        written: dict[int, Any] = {}  # block files already current, as a run keeps it
        rows.append(("container, result_shape VDS", timed(lambda: build_link_container(
            out / "vds.h5", payloads, list(done), (None,), "float", written=written))))
        rows.append(("  same, no block changed since", timed(lambda: build_link_container(
            out / "vds.h5", payloads, list(done), (None,), "float", written=written))))
        for label, size in (("8 B", 1), ("8 kB", 1000)):
            single = SingleFileWriter(out / f"single{size}.h5", n, None, "float")
            for i in range(n):
                single.write(CallOutcome(index=i, value=np.full(size, float(i))))
            rows.append((f"single_file copy, {label} results",
                         timed(lambda s=single: s.checkpoint(list(done)))))
            single.close(list(done))
    print(f"\nOne checkpoint's parts at N = {n} (in-process, seconds)")
    for label, seconds in rows:
        print(f"{label:<36}{seconds:>8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="calls per run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--base", default=BASE, help="commit to compare with")
    parser.add_argument("--modes", default=",".join(MODES), help="subset of the modes")
    parser.add_argument("--parts-only", action="store_true",
                        help="only the in-process table of a checkpoint's parts")
    args = parser.parse_args()
    components(args.n)
    if args.parts_only:
        return
    scratch = Path(tempfile.mkdtemp(prefix="acme-checkpoint-bench-"))
    try:
        base = scratch / "base"
        base.mkdir()
        archive = subprocess.run(["git", "archive", args.base, "acme"], cwd=REPO,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        print(f"N = {args.n}, median of {args.repeats} runs, 2 workers; base = {args.base}")
        print(f"{'mode':<18}{'base [s]':>10}{'this [s]':>10}{'overhead':>10}")
        for mode in args.modes.split(","):
            runs = {}
            for label, tree in (("base", base), ("this", REPO)):
                work = scratch / f"{label}-{mode}"
                work.mkdir()
                runs[label] = statistics.median(measure(tree, args.n, args.repeats, mode, work))
            over = runs["this"] / runs["base"] - 1
            print(f"{mode:<18}{runs['base']:>10.2f}{runs['this']:>10.2f}{over:>+10.1%}",
                  flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
