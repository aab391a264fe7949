"""Syncopy's parallel ComputationalRoutine tests with this package in place of esi-acme.

Syncopy 2023.9 computes through ``ParallelMap`` when ``sinfo`` answers and a client
exists; it edits ``pmap.kwargv``, reads ``pmap.daemon.client`` and imports
``acme.dask_helpers``, and its compute functions live in modules importing dask-jobqueue
(which installs a signal handler at import). Runs in a separate environment
(``syncopy_env``); deselect with ``-m "not syncopy"``.
"""

from __future__ import annotations

import subprocess

import pytest
from syncopy_env import syncopy_env, syncopy_python

pytestmark = pytest.mark.syncopy

TESTS = ["test_parallel_equidistant", "test_parallel_nonequidistant", "test_parallel_saveload"]
#: Seconds for the three tests (about 90 s on two idle cores).
RUN_TIMEOUT = 1200


def test_syncopy_parallel_computational_routine(tmp_path):
    with syncopy_python() as python:
        tests_dir = subprocess.run(
            [str(python), "-c", "import os, syncopy.tests as t; print(os.path.dirname(t.__file__))"],
            capture_output=True, text=True, timeout=300, check=True,
            env=syncopy_env(tmp_path, local=True)).stdout.strip().splitlines()[-1]
        proc = subprocess.run(
            [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s",
             "--rootdir", str(tmp_path), f"{tests_dir}/test_computationalroutine.py",
             "-k", " or ".join(TESTS)],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path,
            env=syncopy_env(tmp_path, local=True))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "3 passed" in proc.stdout, out[-6000:]
    # Syncopy computed through ParallelMap, not through its own dask fallback.
    assert out.count("This is ACME v.") >= 3 and "Preparing" in out, out[-3000:]
