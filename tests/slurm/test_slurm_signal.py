"""A function whose module calls ``signal.signal`` at import runs on SLURM workers."""

from __future__ import annotations

import pytest
from signal_module import signal_module

from acme import ParallelMap

pytestmark = pytest.mark.slurm


def test_runs_on_slurm_workers(in_tmp, jobs, poll, monkeypatch):
    monkeypatch.setenv("ACME_PROFILE", "none")
    monkeypatch.setenv("ACME_SLURM_LOG_DIR", str(in_tmp / "job-logs"))
    with signal_module(in_tmp) as mod:
        with ParallelMap(mod.where, [1, 2, 3], n_workers=2, write_worker_results=False,
                         partition="small", mem_per_worker="500MB", setup_timeout=60,
                         setup_interactive=False) as pmap:
            results = pmap.compute()
    assert [value for value, _, _ in results] == [2, 4, 6]
    assert all(job_id for _, _, job_id in results), results
    assert poll(lambda: not jobs(), 30)
