"""Fixtures for the tests that run against a real single-node SLURM.

The session starts SLURM with ``setup_slurm.sh`` (installing it if needed). If that fails
the SLURM tests are skipped, or fail when the environment variable ``CI`` is set. After
every test the queue must drain: a job left behind fails the test (and is cancelled).
"""

from __future__ import annotations

import getpass
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import distributed
import pytest

from acme.clusters.cleanup import cluster_cleanup
from acme.clusters.detect import run_slurm_command, slurm_available

SETUP = Path(__file__).with_name("setup_slurm.sh")
T = TypeVar("T")

#: Seconds a cancelled job may take to leave the queue (completing jobs take ~1 s).
QUEUE_DRAIN_S = 30.0


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` passes; return
    its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)  # noqa: sleep-ok (bounded polling helper)


def our_jobs() -> list[str]:
    """``"<id> <name> <state>"`` of every job of this user in ``squeue``."""
    out = run_slurm_command(["squeue", "-h", "-u", getpass.getuser(), "-o", "%i %j %t"])
    return [line.strip() for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="session", autouse=True)
def slurm_controller() -> None:
    """A running SLURM controller with the partitions debug, 8GBXS and small."""
    try:
        proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True,
                              timeout=600, check=False)
        problem = "" if proc.returncode == 0 else (
            f"{SETUP.name} exited with {proc.returncode}:\n{proc.stderr}")
    except subprocess.TimeoutExpired:
        problem = f"{SETUP.name} did not finish within 600 s"
    if not problem and not slurm_available():
        problem = "SLURM started but `sinfo` does not answer"
    if problem:
        message = f"Cannot start a local SLURM: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def empty_queue_after_test():
    """Fail the test if it leaves a SLURM job or a default client behind."""
    assert not our_jobs(), f"SLURM jobs queued before the test: {our_jobs()}"
    yield
    problems = []
    try:
        client = distributed.get_client()
    except ValueError:
        client = None
    if client is not None:
        problems.append(f"a default client was left running: {client}")
        cluster_cleanup(client)
    if not wait_until(lambda: not our_jobs(), QUEUE_DRAIN_S):
        problems.append(f"SLURM jobs left in the queue: {our_jobs()}")
        run_slurm_command(["scancel", "-u", getpass.getuser()])
        wait_until(lambda: not our_jobs(), QUEUE_DRAIN_S)
    assert not problems, "; ".join(problems)


@pytest.fixture
def slurm_tmp(tmp_path: Path) -> Path:
    """A directory for the job output of one test."""
    path = tmp_path / "slurm-output"
    path.mkdir()
    return path


@pytest.fixture
def poll() -> Callable[..., object]:
    """:func:`wait_until`, for tests that must wait for SLURM to act."""
    return wait_until


@pytest.fixture
def jobs() -> Callable[[], list[str]]:
    """:func:`our_jobs`: the ``"<id> <name> <state>"`` lines of this user's queued jobs."""
    return our_jobs


@pytest.fixture
def node_memory_mb() -> int:
    """RealMemory of the (single) test node."""
    out = run_slurm_command(["sinfo", "-h", "-N", "-o", "%m"])
    return int(out.split()[0].rstrip("+"))
