"""ParallelMap on the real SLURM with nothing but its defaults (no client, no partition,
no memory), as a new user runs the README: values read back, jobs sized so that the
workers never pause, and an empty queue afterwards."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from acme import ParallelMap
from acme.clusters.run import WORKER_MEMORY_FLOOR_MB

pytestmark = pytest.mark.slurm

EXAMPLE = Path(__file__).parents[2] / "examples" / "readme_example.py"


@pytest.fixture(autouse=True)
def no_site_profile(monkeypatch):
    monkeypatch.setenv("ACME_PROFILE", "none")


def f(x, y, z=3):
    return (x + y) * z


def square(x):
    return np.full(3, x * x, dtype=float)


def job_outputs(output_dir: Path) -> str:
    logs = sorted(output_dir.glob("slurm-*.out"))
    assert logs, f"no job output in {output_dir}"
    return "\n".join(p.read_text() for p in logs)


def assert_workers_sized(output_dir: Path) -> None:
    """Every worker that started had at least the floor and never paused."""
    text = job_outputs(output_dir)
    limits = [float(m) for m in re.findall(r"Memory:\s+([\d.]+) GiB", text)]
    assert limits, text
    assert all(limit * 2**30 >= WORKER_MEMORY_FLOOR_MB * 2**20 for limit in limits), limits
    assert "Pausing worker" not in text


def test_readme_example_runs_unchanged(tmp_path, jobs, poll):
    """The README's example, as a script started from an empty directory."""
    env = {**os.environ, "ACME_PROFILE": "none"}
    proc = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "README example: OK" in proc.stdout
    (output_dir,) = tmp_path.glob("ACME_*")
    with h5py.File(output_dir / "f.h5", "r") as h5f:
        values = [int(h5f[f"comp_{i}"]["result_0"][0]) for i in range(4)]
    assert values == [18, 24, 30, 36]
    assert "Picked partition small" in proc.stderr
    assert_workers_sized(output_dir)
    assert poll(lambda: not jobs(), 30)


def test_two_hundred_calls_with_defaults(in_tmp, jobs, poll):
    with ParallelMap(f, list(range(200)), 4) as pmap:
        paths = pmap.compute()
    assert len(paths) == 200
    with h5py.File(pmap.results_container, "r") as h5f:
        values = [int(h5f[f"comp_{i}"]["result_0"][0]) for i in range(200)]
    assert values == [(x + 4) * 3 for x in range(200)]
    assert_workers_sized(Path(pmap.results_container).parent)
    assert poll(lambda: not jobs(), 30)


def test_result_shape_with_defaults(in_tmp, jobs, poll):
    with ParallelMap(square, list(range(12)), result_shape=(3, None)) as pmap:
        pmap.compute()
    with h5py.File(pmap.results_container, "r") as h5f:
        stacked = h5f["result_0"][()]
    expected = np.stack([np.full(3, x * x, dtype=float) for x in range(12)], axis=1)
    np.testing.assert_array_equal(stacked, expected)
    assert_workers_sized(Path(pmap.results_container).parent)
    assert poll(lambda: not jobs(), 30)
