"""A run whose workers are all killed (kill -9, nanny included) says so, waits for at
most ``setup_timeout`` seconds and fails naming the calls that did not run; the
results that were finished are kept."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed
import pytest

from acme import ParallelMap, ParallelMapError
from acme.availability import NoWorkerError, WorkerWatch, worker_count


def quick_then_stuck(x, marker_dir):
    if x < 2:
        return x
    Path(marker_dir, f"started-{x}").touch()
    time.sleep(120)  # noqa: sleep-ok (a call still running when its worker is killed)
    return x


@pytest.fixture(params=[2])
def external_workers(request):
    """A scheduler with ``dask worker --no-nanny`` processes of their own (nothing
    restarts them when they die; two unless the test says otherwise), and a client."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        procs = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
             "--nthreads", "1", "--no-nanny", "--no-dashboard"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(request.param)]
        try:
            client.wait_for_workers(request.param, timeout=60)
            yield client, procs
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


def kill_when_started(procs: list[subprocess.Popen], markers: Path, n: int
                      ) -> threading.Thread:
    """SIGKILL every worker process once ``n`` calls have started."""
    def kill() -> None:
        deadline = time.monotonic() + 60
        while len(list(markers.iterdir())) < n and time.monotonic() < deadline:
            time.sleep(0.05)  # noqa: sleep-ok (bounded polling for the markers)
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_killed_workers_fail_the_missing_calls_within_the_bound(in_tmp, acme_log,
                                                                external_workers):
    client, procs = external_workers
    markers = in_tmp / "markers"
    markers.mkdir()
    killer = kill_when_started(procs, markers, 2)
    started = time.monotonic()
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(quick_then_stuck, list(range(6)), str(markers), setup_timeout=3,
                         write_worker_results=False) as pmap:
            pmap.compute(chunk_size=1)
    elapsed = time.monotonic() - started
    killer.join(5)
    assert worker_count(client).running == 0
    err = info.value
    # Calls 0 and 1 finished before the kill; on a loaded machine the driver may not
    # have read them yet, and then their results went with the workers too.
    assert {2, 3, 4, 5} <= set(err.failed), err.failed
    assert all("NoWorkerError: no dask worker was available for 3 s" in tb
               for tb in err.failed.values()), err.failed
    assert all(err.results[i] == i for i in range(6) if i not in err.failed)
    assert elapsed < 3 + 30, elapsed
    messages = acme_log.messages()
    assert any(m.startswith("No dask worker is available: no dask worker is connected. "
                            "Waiting up to 3 s") for m in messages), messages


@pytest.mark.parametrize("external_workers", [1], indirect=True)
def test_a_result_lost_with_the_last_worker_is_not_waited_for_forever(in_tmp, external_workers):
    """The only worker finishes calls 0 and 1 and dies on call 2 while the driver still
    reads call 0: the results it held are gone and no worker is left to compute them
    again. (Before, the driver waited for them forever.)"""
    from funcs import slow_first_dies_at_2

    started = time.monotonic()
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(slow_first_dies_at_2, list(range(6)), setup_timeout=3,
                         write_worker_results=False) as pmap:
            pmap.compute(chunk_size=1)
    assert time.monotonic() - started < 3 + 30
    err = info.value
    assert {2, 3, 4, 5} <= set(err.failed), err.failed
    assert all("NoWorkerError" in err.failed[i] for i in (3, 4, 5)), err.failed
    assert all(err.results[i] == i for i in range(6) if i not in err.failed)


def test_a_wait_is_reported_and_ends_when_a_worker_starts(acme_log, caplog):
    """No worker: a warning and a progress description; a worker starts: both cleared."""
    caplog.set_level(logging.INFO, logger="ACME")
    states: list[str | None] = []
    with distributed.LocalCluster(n_workers=0, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        watch = WorkerWatch(client, 30, logging.getLogger("ACME"), on_state=states.append)
        watch.check()
        assert states == ["waiting for workers"]
        cluster.scale(1)
        client.wait_for_workers(1, timeout=60)
        watch.check()
        assert states == ["waiting for workers", None]
        assert watch.error is None
    messages = acme_log.messages()
    assert "No dask worker is available: no dask worker is connected. Waiting up to 30 s " \
           "for workers (`setup_timeout`)" in messages
    assert any(re.fullmatch(r"1 dask worker\(s\) running again after \d+ s", m)
               for m in messages), messages


def pause(dask_worker):
    from distributed.core import Status

    dask_worker.status = Status.paused  # as when its memory is full


def triple(x):
    return 3 * x


def triple_and_pause(x):
    pause(distributed.get_worker())
    return 3 * x


@pytest.fixture
def unmonitored_client():
    """Two workers without memory monitor (which would resume a paused worker at once)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=0,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_one_paused_worker_does_not_stop_a_run(in_tmp, unmonitored_client):
    client = unmonitored_client
    client.run(pause, workers=sorted(client.nthreads())[:1])
    deadline = time.monotonic() + 30  # the worker tells the scheduler asynchronously
    while worker_count(client).paused != 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # noqa: sleep-ok (bounded polling of the scheduler)
    assert worker_count(client).paused == 1
    with ParallelMap(triple, list(range(6)), write_worker_results=False) as pmap:
        assert pmap.compute() == [0, 3, 6, 9, 12, 15]


def test_all_workers_paused_mid_run(in_tmp, unmonitored_client, acme_log):
    """Every worker pauses after its first call: the run says so and fails in time,
    keeping the values of the calls that ran."""
    started = time.monotonic()
    with pytest.raises(ParallelMapError) as info:
        with ParallelMap(triple_and_pause, list(range(6)), setup_timeout=2,
                         write_worker_results=False) as pmap:
            pmap.compute(chunk_size=1)
    assert time.monotonic() - started < 2 + 30
    err = info.value
    assert 1 <= len(err.failed) <= 4, err.failed
    assert all("NoWorkerError" in tb for tb in err.failed.values())
    assert [v for i, v in enumerate(err.results) if i not in err.failed] == \
        [3 * i for i in range(6) if i not in err.failed]
    assert "No dask worker is available: all 2 workers are paused (their memory is full). " \
           "Waiting up to 2 s for workers (`setup_timeout`)" in acme_log.messages()


def test_no_worker_error_is_a_timeout_error():
    assert issubclass(NoWorkerError, TimeoutError)
