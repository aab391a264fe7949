"""Run ACME (PyPI ``esi-acme``) rows; executed by ``run.py`` with ``benchmarks/.venv-acme``.

Usage: ``.venv-acme/bin/python _acme_driver.py --modes hdf5,memory --sizes 100,1000
--repeats 3 --workdir DIR [--func f]``. Prints one ``BENCH-RESULT {json}`` line per
(mode, N). The repository root must NOT be on ``sys.path`` here: this project is also
imported as ``acme`` and would shadow ACME.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import _harness
import funcs

RETRIES = 2  # ACME's back-to-back runs on one client fail intermittently (deterministic keys)


def import_acme_without_slurm() -> Any:
    """Import ACME with its SLURM detection switched off.

    ``sinfo`` exists on this machine (Debian's slurm-client), so ACME would believe it runs
    on a SLURM node and refuse ``partition="auto"``. ``is_slurm_node`` is imported by name
    into other ACME modules, so every module-level reference is replaced.
    """
    import acme

    for name, module in list(sys.modules.items()):
        if (name == "acme" or name.startswith("acme.")) and hasattr(module, "is_slurm_node"):
            vars(module)["is_slurm_node"] = _no_slurm
    return acme


def _no_slurm() -> bool:
    return False


def with_retries(run_once: Callable[[int, int], object], note: list[str]) -> Callable[..., None]:
    """Retry a run that ACME's client-reuse race cancelled; the failed attempt is not timed
    separately (the retry's time counts), and the retry is reported in the note."""

    def run(n: int, run: int) -> None:
        for attempt in range(RETRIES + 1):
            try:
                run_once(n, run + 100 * attempt)
                return
            except RuntimeError as err:
                if attempt == RETRIES:
                    raise
                note.append(f"retried run {run}: {str(err)[:80]}")
                time.sleep(2)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="hdf5,shape,memory")
    parser.add_argument("--sizes", default="100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--func", default="f", choices=["f", "nap"])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--durations", type=Path,
                        help="uneven.py: a JSON file of workloads (name -> call durations); "
                        "times ACME over funcs.sleep_for for each")
    args = parser.parse_args()

    acme = import_acme_without_slurm()
    if args.durations is not None:
        uneven(acme, json.loads(args.durations.read_text()), args.repeats)
        return
    func = getattr(funcs, args.func)
    with _harness.warm_client():
        for mode in args.modes.split(","):
            for n in [int(s) for s in args.sizes.split(",")]:
                note: list[str] = []
                workdir = args.workdir / f"{mode}-{n}"  # warm-ups of each N apart
                once = partial(_harness.pmap_once, acme, func, mode, workdir=workdir)
                try:
                    times = _harness.measure(
                        with_retries(once, note), n, args.repeats, workdir
                    )
                    status = "ok"
                except Exception as err:  # reported in the table, the run goes on
                    times, status = [], "error"
                    note.append(f"{type(err).__name__}: {str(err)[:200]}")
                _harness.emit(
                    mode=mode,
                    n=n,
                    times=times,
                    status=status,
                    note="; ".join(note),
                    peak_rss_mb=_harness.peak_rss_mb(),
                    version=acme.__version__,
                )


def uneven(acme: Any, workloads: dict[str, list[float]], repeats: int) -> None:
    """``uneven.py``'s rows with ACME: one wall time per workload and repeat."""
    with _harness.warm_client():
        for name, durations in workloads.items():
            times = []
            for run in range(repeats + 1):  # the first run warms up, untimed
                xs = list(range(run * 10_000, run * 10_000 + len(durations)))
                started = time.perf_counter()
                with acme.ParallelMap(funcs.sleep_for, xs, durations,
                                      write_worker_results=False, verbose=False,
                                      logfile=False) as pmap:
                    assert pmap.compute() == xs
                if run:
                    times.append(time.perf_counter() - started)
            _harness.emit(workload=name, times=times, version=acme.__version__)


if __name__ == "__main__":
    main()
