"""The ``acme`` command (also ``python -m acme``): status, inspect, resume, merge, clean.

Exit status: 0 when all is well (``status``: every call of every run done; ``resume``:
the run finished), 1 otherwise, 2 for a usage error or a directory without a run.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cloudpickle
import distributed

from .arguments import plan_calls
from .cleanup import AutoDir, find_auto_dirs, select_old
from .clusters.cleanup import cluster_cleanup
from .clusters.local import local_cluster_setup, local_worker_count
from .errors import ParallelMapError
from .merge import MergeError, merge_run
from .pmap import resume_run
from .record import (
    STATUS_NAMES,
    RunStatus,
    driver_alive,
    find_record,
    load_inputs,
    read_record,
    run_status,
)
from .resume import param_names, short
from .storage.paths import AUTO_DIR_PATTERN

__all__ = ["main"]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2


def _seconds_left(status: RunStatus) -> float | None:
    """Time left, from the pace so far (calls done per second of the run), or None."""
    if not status.driver_alive or not status.missing:
        return None
    prov = status.provenance
    try:
        started = datetime.fromisoformat(str(prov["start_time"]))
        last = datetime.fromisoformat(str(prov["last_checkpoint"]))
    except (KeyError, TypeError, ValueError):
        return None
    finished = len(status.done) + len(status.pickled) + len(status.failed)
    elapsed = (last - started).total_seconds()
    if finished == 0 or elapsed <= 0:
        return None
    return elapsed / finished * len(status.missing)


def _summary(status: RunStatus, verbose: bool) -> dict[str, Any]:
    prov = status.provenance
    durations = [d for d in status.durations if not math.isnan(d)]
    summary: dict[str, Any] = {
        "output_dir": status.output_dir, "function": status.func_name,
        "state": status.state, "n_calls": status.n_calls, "done": len(status.done),
        "failed": len(status.failed), "pickled": len(status.pickled),
        "not_run": len(status.missing), "start_time": prov.get("start_time"),
        "last_checkpoint": prov.get("last_checkpoint"),
        "driver": f"{prov.get('driver_host')}:{prov.get('driver_pid')}",
        "driver_alive": status.driver_alive,
        "mean_call_seconds": sum(durations) / len(durations) if durations else None,
        "seconds_left": _seconds_left(status), "complete": status.complete,
    }
    if verbose:
        summary["failed_calls"] = {str(i): e for i, e in status.failed.items()}
    return summary


def _text(summary: dict[str, Any]) -> str:
    alive = {True: "running", False: "not running", None: "on another host"}
    lines = [f"{summary['output_dir']}: {summary['function']}, {summary['state']}",
             f"  calls: {summary['done']} done, {summary['failed']} failed, "
             f"{summary['pickled']} pickled, {summary['not_run']} not run "
             f"(of {summary['n_calls']})",
             f"  started {summary['start_time']}, last checkpoint "
             f"{summary['last_checkpoint']}",
             f"  driver {summary['driver']}: {alive[summary['driver_alive']]}"]
    if summary["seconds_left"] is not None:
        lines.append(f"  about {summary['seconds_left']:.0f} s left")
    for task, error in summary.get("failed_calls", {}).items():
        lines.append(f"  task {task}: {error}")
    return "\n".join(lines)


def _status(args: argparse.Namespace) -> int:
    folders = [Path(d) for d in args.dirs] or sorted(
        p for p in Path.cwd().iterdir() if p.is_dir() and AUTO_DIR_PATTERN.match(p.name))
    if not folders:
        print("acme status: no ACME_* run directories here; name one", file=sys.stderr)
        return EXIT_USAGE
    summaries, code = [], EXIT_OK
    for folder in folders:
        try:
            summary = _summary(run_status(folder), args.verbose)
        except (FileNotFoundError, ValueError, OSError) as err:
            print(f"acme status: {err}", file=sys.stderr)
            code = EXIT_USAGE
            continue
        summaries.append(summary)
        if not summary["complete"] and code == EXIT_OK:
            code = EXIT_INCOMPLETE
    if args.json:
        print(json.dumps(summaries, indent=2))
    else:
        print("\n".join(_text(s) for s in summaries))
    return code


def _call_arguments(folder: Path, func_name: str, index: int) -> dict[str, str]:
    """The reprs (shortened) of call ``index``'s arguments, by parameter name."""


    func_blob, args_blob, _, _ = load_inputs(folder, func_name)
    func = cloudpickle.loads(func_blob)
    args, kwargs, n_inputs = cloudpickle.loads(args_blob)
    call_args, call_kwargs = plan_calls(func, tuple(args), dict(kwargs), n_inputs
                                        ).arguments(index)
    names = param_names(func, len(call_args))
    shown = {name: short(value) for name, value in zip(names, call_args, strict=True)}
    shown.update({name: short(value) for name, value in call_kwargs.items()})
    return shown


def _inspect(args: argparse.Namespace) -> int:

    folder = Path(args.dir)
    try:
        attrs, calls = read_record(find_record(folder))
    except (FileNotFoundError, ValueError) as err:
        print(f"acme inspect: {err}", file=sys.stderr)
        return EXIT_USAGE
    report: dict[str, Any] = {"function": attrs.get("func_name"), "state": attrs.get("state"),
                              "n_calls": int(attrs.get("n_calls", len(calls.status)))}
    report.update(run_status(folder).provenance)
    if args.call is not None:
        i = args.call
        if not 0 <= i < len(calls.status):
            print(f"acme inspect: `--call` has to be between 0 and {len(calls.status) - 1}, "
                  f"not {i}", file=sys.stderr)
            return EXIT_USAGE
        try:
            arguments: dict[str, str] | str = _call_arguments(folder, str(attrs["func_name"]), i)
        except Exception as err:  # e.g. a module of the function is not importable here
            arguments = f"cannot be loaded here: {type(err).__name__}: {err}"
        report = {"call": i, "status": STATUS_NAMES[int(calls.status[i])],
                  "attempts": int(calls.attempts[i]),
                  "duration": None if math.isnan(calls.duration[i]) else float(calls.duration[i]),
                  "host": calls.worker_host[i], "slurm_job_id": calls.slurm_job_id[i],
                  "failure_kind": calls.failure_kind[i], "error": calls.error[i],
                  "arguments": arguments, "traceback": calls.traceback[i]}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return EXIT_OK
    for key, value in report.items():
        if key == "traceback":
            if value:
                print(f"traceback:\n{value.rstrip()}")
        elif isinstance(value, dict):
            print(f"{key}:")
            for name, item in value.items():
                print(f"  {name}: {item}")
        else:
            print(f"{key}: {value}")
    return EXIT_OK


def _merge(args: argparse.Namespace) -> int:

    try:
        path = merge_run(args.dir, args.output, pickles=args.pickles)
    except (FileNotFoundError, FileExistsError) as err:
        print(f"acme merge: {err}", file=sys.stderr)
        return EXIT_USAGE
    except MergeError as err:
        print(f"acme merge: {err}", file=sys.stderr)
        return EXIT_INCOMPLETE
    size = path.stat().st_size
    if args.json:
        print(json.dumps({"file": str(path), "bytes": size, "run": str(args.dir)}))
    else:
        print(f"{path}: {size / 1e6:.2f} MB, checked against {args.dir}")
    return EXIT_OK


def _clean(args: argparse.Namespace) -> int:

    base = Path(args.path)
    if not base.is_dir():
        print(f"acme clean: {base} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    chosen: list[AutoDir] = []
    alive: list[AutoDir] = []
    for auto in select_old(find_auto_dirs(base), args.older_than):
        try:
            attrs, _ = read_record(find_record(auto.path))
            running = attrs.get("state") == "running" and driver_alive(attrs) is not False
        except (FileNotFoundError, ValueError, OSError):
            running = False  # no (readable) record: an ACME run, or one that never began
        (alive if running else chosen).append(auto)
    def report(removed: list[AutoDir]) -> None:
        if args.json:
            print(json.dumps({"removed": [str(a.path) for a in removed],
                              "kept_running": [str(a.path) for a in alive],
                              "candidates": [str(a.path) for a in chosen]}))

    if not args.json:
        for auto in alive:
            print(f"keeping {auto.path}: its driver is running (or ran on another host)")
        for auto in chosen:
            print(f"{'would remove' if args.dry_run else 'remove'} {auto.path} "
                  f"({auto.age_days:.1f} days old)")
        if not chosen:
            print("nothing to remove")
    if args.dry_run or not chosen:
        report([])
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            print("acme clean: not removing anything without --yes (no terminal to ask on)",
                  file=sys.stderr)
            return EXIT_INCOMPLETE
        if input(f"Remove these {len(chosen)} directories? [y/N] ").strip().lower() != "y":
            print("nothing removed")
            return EXIT_INCOMPLETE
    for auto in chosen:
        shutil.rmtree(auto.path)
    if args.json:
        report(chosen)
    else:
        print(f"removed {len(chosen)} directories")
    return EXIT_OK


def _resume(args: argparse.Namespace) -> int:


    try:
        before = run_status(args.dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"acme resume: {err}", file=sys.stderr)
        return EXIT_USAGE
    keywords: dict[str, Any] = {"retries": args.retries}
    if args.verbose:
        keywords["verbose"] = True
    client = None
    if args.scheduler:
        client = distributed.Client(args.scheduler)
    elif args.partition is None:
        n = args.workers or min(len(before.missing) + len(before.failed) or 1,
                                _cores())
        client = local_cluster_setup(n_workers=n, mem_per_worker=args.mem_per_worker,
                                     interactive=False)
    else:
        keywords.update(partition=args.partition, setup_interactive=False)
        if args.workers:
            keywords["n_workers"] = args.workers
        if args.mem_per_worker:
            keywords["mem_per_worker"] = args.mem_per_worker
    try:
        resume_run(args.dir, **keywords)
        code = EXIT_OK
    except ParallelMapError as err:
        print(f"acme resume: {len(err.failed)} of {err.n_calls} calls failed",
              file=sys.stderr)
        code = EXIT_INCOMPLETE
    except (ValueError, RuntimeError) as err:  # e.g. its driver still runs
        print(f"acme resume: {err}", file=sys.stderr)
        code = EXIT_USAGE
    finally:
        if client is not None and args.scheduler:
            client.close()  # the scheduler is someone else's: keep it
        elif client is not None:
            cluster_cleanup(client)
    return code


def _cores() -> int:
    return local_worker_count("auto", 1 << 30)


def parser() -> argparse.ArgumentParser:
    """The ``acme`` command's argument parser."""
    top = argparse.ArgumentParser(
        prog="acme", description="Status, details, resume, merge and clean-up of acme runs.")
    sub = top.add_subparsers(dest="command", required=True)
    status = sub.add_parser(
        "status", help="where runs stand (exit status 0 when every call is done)",
        description="Per run: function, calls done / failed / pickled / not run, start "
                    "time, last checkpoint, whether the driver still runs, time left.")
    status.add_argument("dirs", nargs="*", metavar="DIR",
                        help="run directories (default: the ACME_* directories here)")
    status.add_argument("-v", "--verbose", action="store_true",
                        help="list failed task ids with their one-line errors")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=_status)
    inspect = sub.add_parser(
        "inspect", help="a run's provenance, or one call's details",
        description="The provenance of a run; with --call N the arguments (shortened "
                    "reprs), status, attempts, host, duration and traceback of call N.")
    inspect.add_argument("dir", metavar="DIR", help="the run's output directory")
    inspect.add_argument("--call", type=int, metavar="N", help="task id of one call")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(run=_inspect)
    merge = sub.add_parser(
        "merge", help="one self-contained HDF5 file of a run",
        description="Copy a run's results into one HDF5 file: external links and virtual "
                    "datasets become real data, the run record goes into the group "
                    "acme_run; the file is checked by reading it back.")
    merge.add_argument("dir", metavar="DIR", help="the run's output directory")
    merge.add_argument("-o", "--output", required=True, metavar="FILE",
                       help="the file to write (never overwritten)")
    merge.add_argument("--pickles", action="store_true",
                       help="store pickled results as opaque bytes (comp_<i>/pickle)")
    merge.add_argument("--json", action="store_true", help="print JSON")
    merge.set_defaults(run=_merge)
    clean = sub.add_parser(
        "clean", help="remove old ACME_* run directories",
        description="Remove directories named ACME_YYYYMMDD-hhmmss-ffffff (nothing else), "
                    "never one whose run's driver is alive; lists them and asks first.")
    clean.add_argument("path", nargs="?", default=".", metavar="PATH",
                       help="where the run directories are (default: here)")
    clean.add_argument("--older-than", type=int, default=0, metavar="DAYS",
                       help="only those older than DAYS days (default 0: all)")
    clean.add_argument("--dry-run", action="store_true", help="only list them")
    clean.add_argument("--yes", action="store_true", help="do not ask")
    clean.add_argument("--json", action="store_true", help="print JSON")
    clean.set_defaults(run=_clean)
    resume = sub.add_parser(
        "resume", help="run the calls of a run that are not done",
        description="What ParallelMap(..., resume=True) does, from the record alone: a "
                    "local cluster by default, SLURM with --partition, or an existing "
                    "scheduler with --scheduler.")
    resume.add_argument("dir", metavar="DIR", help="the run's output directory")
    resume.add_argument("--workers", type=int, help="number of workers")
    resume.add_argument("--partition", help="run on SLURM, in this partition")
    resume.add_argument("--mem-per-worker", help="memory per worker, e.g. 4GB")
    resume.add_argument("--scheduler", help="address of a running dask scheduler")
    resume.add_argument("--retries", type=int, default=0,
                        help="run a failing call up to this many more times")
    resume.add_argument("-v", "--verbose", action="store_true", help="debug messages")
    resume.set_defaults(run=_resume)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``acme`` command; return its exit status."""
    args = parser().parse_args(argv)
    return int(args.run(args))
