"""A function whose module calls ``signal.signal`` at import runs on fresh workers: the
workers load it on their main thread (acme.preload), not inside a task thread."""

from __future__ import annotations

import os

import pytest
from signal_module import signal_module

from acme import ParallelMap


@pytest.fixture
def no_slurm(monkeypatch):
    """This machine runs a test SLURM; these tests are about machines without one."""
    monkeypatch.setattr("acme.clusters.detect.slurm_available", lambda: False)


@pytest.mark.parametrize("write_worker_results", [False, True])
def test_runs_on_a_fresh_local_cluster(in_tmp, no_slurm, write_worker_results):
    with signal_module(in_tmp) as mod:
        with ParallelMap(mod.where, [1, 2, 3, 4], n_workers=2,
                         write_worker_results=write_worker_results) as pmap:
            results = pmap.compute()
    if write_worker_results:
        assert len(results) == 4 and all(os.path.isfile(path) for path in results)
    else:
        assert [value for value, _, _ in results] == [2, 4, 6, 8]
        assert os.getpid() not in {pid for _, pid, _ in results}
