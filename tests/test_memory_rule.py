"""The memory a SLURM job gets for ``mem_per_worker="auto"``: a worker's own baseline
plus the call's peak, over 0.75, never below the floor."""

from __future__ import annotations

import pytest

from acme.clusters.run import WORKER_MEMORY_FLOOR_MB, auto_memory_mb
from acme.dryrun import Estimate, Sample, worker_memory_gb
from acme.measure import worker_baseline_bytes

MB = 2**20


@pytest.mark.parametrize("peak_gb, expected", [
    (0.0, WORKER_MEMORY_FLOOR_MB),     # a trivial call: the floor, not ~100 MB
    (0.075, WORKER_MEMORY_FLOOR_MB),
    (1.5, 2000),                       # 1.5 GB / 0.75
    (3.0001, 4001),                    # rounded up to whole MB
])
def test_auto_memory(peak_gb, expected):
    assert auto_memory_mb(peak_gb) == expected


def test_worker_baseline_is_measured_in_a_fresh_process():
    # A process that imported distributed, h5py and numpy: tens of MB, not the caller's.
    assert 30 * MB < worker_baseline_bytes() < 400 * MB


def test_worker_memory_is_baseline_plus_the_largest_call():
    samples = (Sample(index=0, seconds=0.1, baseline_bytes=50 * MB, peak_bytes=250 * MB),
               Sample(index=1, seconds=0.1, baseline_bytes=60 * MB, peak_bytes=110 * MB))
    estimate = Estimate("f", 2, "memory", samples)
    assert worker_memory_gb(estimate, baseline_bytes=80 * MB) == pytest.approx(
        (80 + 200) * MB / 1e9)
