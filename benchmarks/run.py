"""Benchmark this project's ``acme.ParallelMap`` against ACME, raw dask and process pools.

    python benchmarks/run.py [--quick] [--sizes 100,1000,10000] [--repeats 3]

Every row runs in a fresh subprocess (``run.py --row SPEC``, or ``_acme_driver.py`` under
``benchmarks/.venv-acme`` for ACME) with its own warm ``LocalCluster(n_workers=2,
threads_per_worker=1)``, so that the row's driver peak RSS can be read from ``ru_maxrss``.
The table goes to stdout and, with the machine description, to ``benchmarks/results.md``.
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = BENCH / ".venv-acme"
VENV_PYTHON = VENV / "bin" / "python"
ACME_SPEC = "esi-acme==2026.6.2"  # the release documented in shared/reference/acme.md
THIS_MODES = "hdf5,shape,single_file,pickle,memory,memory_shape"
TOOLS = "floor,pool,dask,esi-acme,acme,sleep,quickstart"
QUICKSTART = REPO / "examples" / "quickstart.py"
N_SLEEP = 40

sys.path.insert(0, str(BENCH))
from _harness import RESULT_MARK  # noqa: E402
from _report import (  # noqa: E402
    Results,
    Row,
    machine,
    render_markdown,
    render_rst,
    render_text,
)

INODE_REUSE_DELAY = 61  # s: ext4 (no journal) skips inodes freed this recently, once synced


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--quick",
        action="store_true",
        help="N=100,1000, 1 repeat, no 100,000 row; ACME only if its venv exists",
    )
    p.add_argument("--sizes", help="comma-separated N (default 100,1000,10000)")
    p.add_argument("--repeats", type=int, help="runs per row, the median is shown (default 3)")
    p.add_argument("--big", type=int, help="N of the extra in-memory row (default 100000; 0: off)")
    p.add_argument("--tools", default=TOOLS, help=f"subset of {TOOLS}")
    p.add_argument("--modes", default=THIS_MODES, help="this project's storage modes")
    p.add_argument("--acme-modes", default="hdf5,shape,memory", help="ACME's storage modes")
    p.add_argument("--acme", action="store_true", help="with --quick: create ACME's venv")
    p.add_argument("--no-acme", action="store_true", help="skip ACME rows")
    p.add_argument("--out", type=Path, help="Markdown output (default benchmarks/results.md)")
    p.add_argument("--workdir", type=Path, default=BENCH / "_work", help="scratch directory")
    p.add_argument(
        "--settle",
        type=float,
        default=INODE_REUSE_DELAY,
        help=f"seconds to wait after sync before measuring (default {INODE_REUSE_DELAY})",
    )
    p.add_argument("--row", help=argparse.SUPPRESS)  # internal: measure one row (JSON spec)
    args = p.parse_args(argv)
    args.sizes = [
        int(s) for s in (args.sizes or ("100,1000" if args.quick else "100,1000,10000")).split(",")
    ]
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.big = (0 if args.quick else 100_000) if args.big is None else args.big
    args.tools = set(args.tools.split(","))
    args.out = args.out or BENCH / ("results-quick.md" if args.quick else "results.md")
    return args


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def plan(args: argparse.Namespace) -> list[Row]:
    """All rows in execution order: per N the baselines first, then this project."""
    tools, rep = args.tools, args.repeats
    rows: list[Row] = []
    for n in args.sizes:
        rows += [
            Row(t, m, n, repeats=rep)
            for t, m in [
                ("floor", "files+container"),
                ("floor", "acme-writer"),
                ("pool", "map"),
                ("dask", "map+gather"),
            ]
            if t in tools
        ]
        if "esi-acme" in tools:
            rows += [Row("esi-acme", m, n, repeats=rep) for m in args.acme_modes.split(",")]
        if "acme" in tools:
            rows += [Row("acme", m, n, repeats=rep) for m in args.modes.split(",")]
    if "acme" in tools and args.big and "memory" in args.modes.split(","):
        rows += [Row("acme", "memory", args.big, repeats=1)]  # the peak-RSS target
    if "sleep" in tools:
        rows += [
            Row("dask", "map+gather", N_SLEEP, "nap", rep),
            Row("acme", "memory", N_SLEEP, "nap", rep),
            Row("acme", "hdf5", N_SLEEP, "nap", rep),
        ]
        if "esi-acme" in tools:
            rows += [Row("esi-acme", "memory", N_SLEEP, "nap", rep)]
    if "quickstart" in tools:
        rows.append(Row("quickstart", "examples/quickstart.py", 1, "script", rep))
    return rows


def ensure_acme_venv(create: bool) -> Path | None:
    """ACME's own virtualenv (it is imported as ``acme`` too); created on first use."""
    # -I: neither the working directory nor PYTHONPATH may offer this project's acme instead
    probe = [str(VENV_PYTHON), "-I", "-c", "import acme, psutil; print(acme.__file__)"]
    proc = subprocess.run(probe, capture_output=True, text=True) if VENV_PYTHON.exists() else None
    if proc is not None and proc.returncode == 0 and str(VENV) in proc.stdout:
        return VENV_PYTHON
    if not create:
        return None
    log(f"creating {VENV} and installing {ACME_SPEC} (once)...")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        # ACME imports psutil without declaring it
        [str(VENV_PYTHON), "-m", "pip", "install", "-q", ACME_SPEC, "psutil"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            log(f"ACME venv setup failed: {shlex.join(cmd)}\n{proc.stderr[-2000:]}")
            return None
    return VENV_PYTHON


def acme_env_description(python: Path | None) -> str:
    if python is None:
        return "not used"
    code = (
        "import importlib.metadata as m, platform; "
        "print(f\"esi-acme {m.version('esi-acme')}, dask {m.version('dask')}, "
        "distributed {m.version('distributed')}, Python {platform.python_version()}\")"
    )
    proc = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def this_acme_status() -> str | None:
    """None if this project's ``acme.ParallelMap`` imports, else the reason it does not."""
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); import acme; acme.ParallelMap"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["import failed"])[-1]


def timeout_for(row: Row) -> float:
    return 300 + 0.01 * row.n * (row.repeats + 1)


def run_measured(row: Row, cmd: list[str], env: dict[str, str]) -> None:
    """Run one row's subprocess and copy its result line into ``row``."""
    try:
        proc = subprocess.run(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_for(row),
            cwd=BENCH,
        )
    except subprocess.TimeoutExpired:
        row.status, row.note = "timeout", f"no result within {timeout_for(row):.0f} s"
        return
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        row.status, row.note = "error", f"exit {proc.returncode}: {tail}"
        return
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    row.times, row.status, row.note = result["times"], result["status"], result["note"]
    row.peak_rss_mb = result["peak_rss_mb"]
    if row.status == "error":
        log(proc.stderr[-3000:])


def run_quickstart(row: Row, workdir: Path) -> None:
    """Cold run: the whole ``python examples/quickstart.py`` subprocess, timed."""
    if not QUICKSTART.exists():
        row.status, row.note = "n/a", f"{QUICKSTART.relative_to(REPO)} does not exist yet"
        return
    env = os.environ | {"PYTHONPATH": str(REPO)}
    for _ in range(row.repeats):
        cwd = workdir / "quickstart"
        cwd.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(QUICKSTART)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        row.times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            row.status = "error"
            row.note = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            return
    row.status = "ok"


def execute(row: Row, args: argparse.Namespace, acme_python: Path | None) -> None:
    # Kept until the benchmark ends (see the _harness docstring).
    measure_row(row, args.workdir / f"{row.tool}-{row.mode}-{row.n}-{row.func}", acme_python)


def measure_row(row: Row, workdir: Path, acme_python: Path | None) -> None:
    if row.tool == "quickstart":
        run_quickstart(row, workdir)
    elif row.tool == "esi-acme":
        if acme_python is None:
            row.status, row.note = "n/a", f"no ACME venv ({VENV.name}): run with --acme"
            return
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no repo acme here
        cmd = [
            str(acme_python),
            str(BENCH / "_acme_driver.py"),
            "--modes",
            row.mode,
            "--sizes",
            str(row.n),
            "--repeats",
            str(row.repeats),
            "--func",
            row.func,
            "--workdir",
            str(workdir),
        ]
        run_measured(row, cmd, env)
    else:
        spec = {
            "tool": row.tool,
            "mode": row.mode,
            "n": row.n,
            "repeats": row.repeats,
            "func": row.func,
        }
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(BENCH)])}
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--row",
            json.dumps(spec),
            "--workdir",
            str(workdir),
        ]
        run_measured(row, cmd, env)


def run_all(args: argparse.Namespace) -> None:
    # Files are deleted only at the end (_harness docstring): about 1 GB at N=10,000.
    remove_scratch(args.workdir)  # left over from an interrupted run, if any
    if args.settle:
        # Files deleted shortly before (a previous benchmark's scratch, a test suite) would
        # make every new file dearer for up to 300 s; once synced, for 60 s.
        log(f"waiting {args.settle:.0f} s for recently deleted files to be forgotten "
            "(--settle 0 skips this)")
        time.sleep(args.settle)
    args.workdir.mkdir(parents=True)
    free_gb = shutil.disk_usage(args.workdir).free / 1e9
    if free_gb < 3:
        log(f"warning: only {free_gb:.1f} GB free in {args.workdir}; the full run needs ~1.5")
    try:
        measure_all(args)
    finally:
        remove_scratch(args.workdir)


def remove_scratch(workdir: Path) -> None:
    """Delete the scratch files and write the freed inodes back (``sync``), which shortens
    the time ext4 keeps skipping them from 300 s to 60 s (see the ``_harness`` docstring)."""
    shutil.rmtree(workdir, ignore_errors=True)
    os.sync()


def measure_all(args: argparse.Namespace) -> None:
    started, load_at_start = time.perf_counter(), os.getloadavg()
    use_acme = "esi-acme" in args.tools and not args.no_acme
    acme_python = ensure_acme_venv(create=not args.quick or args.acme) if use_acme else None
    if not use_acme:
        args.tools.discard("esi-acme")
    missing = this_acme_status() if "acme" in args.tools else None
    rows = plan(args)
    failed: set[tuple[str, str, str]] = set()
    for i, row in enumerate(rows, 1):
        key = (row.tool, row.mode, row.func)
        if row.tool == "acme" and missing:
            row.status, row.note = "n/a", missing
        elif key in failed:
            row.status, row.note = "skipped", "failed at a smaller N"
        else:
            execute(row, args, acme_python)
            if row.status in ("error", "timeout"):
                failed.add(key)
        shown = f"{row.seconds:.3f} s" if row.seconds is not None else row.status
        log(
            f"[{i}/{len(rows)}] {row.tool} {row.mode} N={row.n} {row.func}: {shown} "
            f"{row.note[:80]} ({time.perf_counter() - started:.0f} s elapsed)"
        )

    results = Results(rows)
    info = machine(acme_env_description(acme_python), load_at_start)
    info.append(("benchmark wall time", f"{time.perf_counter() - started:.0f} s"))
    command = shlex.join(["python", "benchmarks/run.py", *sys.argv[1:]])
    print("\n".join(f"{k}: {v}" for k, v in info) + "\n")
    print(render_text(results))
    args.out.write_text(render_markdown(results, info, command))
    args.out.with_suffix(".rst").write_text(render_rst(results, info, command))
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {"command": command, "machine": dict(info), "rows": [r.to_json() for r in rows]},
            indent=1,
        )
    )
    log(f"written {args.out} and {args.out.with_suffix('.json')}")


def main() -> None:
    args = parse_args()
    if args.row:
        sys.path.insert(0, str(REPO))  # this project's acme, ahead of any installed one
        from _rows import run_row

        run_row(json.loads(args.row), args.workdir)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
