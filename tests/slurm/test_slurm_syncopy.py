"""Syncopy's ``freqanalysis(..., parallel=True)`` on SLURM workers equals its sequential
run (this package in place of esi-acme, in the Syncopy environment of syncopy_env)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from syncopy_env import syncopy_env, syncopy_python

pytestmark = [pytest.mark.slurm, pytest.mark.syncopy]

SCRIPT = Path(__file__).resolve().parents[1] / "syncopy_freqanalysis.py"


def test_freqanalysis_on_slurm_equals_sequential(tmp_path, slurm_tmp, jobs, poll):
    env = syncopy_env(tmp_path, local=False)
    env["ACME_PROFILE"] = "none"
    with syncopy_python() as python:
        proc = subprocess.run([str(python), str(SCRIPT), "small", str(slurm_tmp)],
                              capture_output=True, text=True, timeout=900, cwd=tmp_path,
                              env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    assert result["equal"], result
    assert result["shape"][0] == 8 and result["workers"] == 2
    assert "-p small" in result["job_header"]
    assert "Preparing 8 parallel calls" in out  # computed through ParallelMap
    assert list(slurm_tmp.rglob("slurm-*.out"))  # the jobs' own output
    assert poll(lambda: not jobs(), 30)
