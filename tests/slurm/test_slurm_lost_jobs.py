"""A run whose SLURM jobs are all cancelled mid-run (``scancel``) gets new jobs from the
cluster it started and finishes, or fails within ``setup_timeout`` naming the calls that
did not run; it never hangs, and the queue is empty afterwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from acme import ParallelMap, ParallelMapError
from acme.clusters.detect import run_slurm_command

pytestmark = pytest.mark.slurm

TIMEOUT = 90  # setup_timeout of the run: replacement jobs may queue behind others


@pytest.fixture(autouse=True)
def no_site_profile(monkeypatch):
    monkeypatch.setenv("ACME_PROFILE", "none")


def mark_and_work(x, marker_dir):
    Path(marker_dir, f"started-{x}").touch()
    time.sleep(2)  # noqa: sleep-ok (work that is under way when the jobs are cancelled)
    return x * 10


def cancel_jobs_when_started(jobs, markers: Path, n: int, cancelled: list[str]
                             ) -> threading.Thread:
    """``scancel`` every queued job (all of them this run's) once ``n`` calls started."""
    def cancel() -> None:
        deadline = time.monotonic() + 120
        while len(list(markers.iterdir())) < n and time.monotonic() < deadline:
            time.sleep(0.05)  # noqa: sleep-ok (bounded polling for the markers)
        ids = [line.split()[0] for line in jobs()]
        if ids:
            run_slurm_command(["scancel", *ids])
        cancelled.extend(ids)

    thread = threading.Thread(target=cancel, daemon=True)
    thread.start()
    return thread


def test_cancelled_jobs_are_replaced_or_the_run_fails_in_time(in_tmp, jobs, poll, acme_log):
    markers = in_tmp / "markers"
    markers.mkdir()
    cancelled: list[str] = []
    canceller = cancel_jobs_when_started(jobs, markers, 2, cancelled)
    started = time.monotonic()
    try:
        with ParallelMap(mark_and_work, list(range(8)), str(markers), n_workers=2,
                         partition="small", mem_per_worker="1GB", setup_timeout=TIMEOUT,
                         setup_interactive=False, write_worker_results=False) as pmap:
            results = pmap.compute(chunk_size=1)
        failed: dict[int, str] = {}
    except ParallelMapError as err:
        results, failed = err.results, err.failed
    elapsed = time.monotonic() - started
    canceller.join(10)
    assert len(cancelled) == 2, cancelled
    messages = acme_log.messages()
    # Either outcome is allowed; which one depends on how soon SLURM starts new jobs.
    assert any(m.endswith("submitting 2 new one(s)") or m.endswith("submitting 1 new one(s)")
               for m in messages), messages
    if failed:
        assert all("NoWorkerError" in tb for tb in failed.values()), failed
        assert elapsed < TIMEOUT + 120
    assert [r for i, r in enumerate(results) if i not in failed] == \
        [10 * i for i in range(8) if i not in failed]
    assert poll(lambda: not jobs(), 30)
