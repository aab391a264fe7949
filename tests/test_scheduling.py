"""Scheduling uneven calls: a stuck call holds up only itself, ``call_timeout`` ends it,
chunk sizes follow guided self-scheduling."""

from __future__ import annotations

import threading
import time

import distributed
import h5py
import pytest
from funcs import logs_start, never_returns_at, stuck_at

from acme import ParallelMap, ParallelMapError
from acme.execution import CHUNK_MAX_CALLS, GUIDED_FACTOR, next_chunk_size


def _payload_values(payload_dir, n, skip, runner):
    """The values of the payloads of calls ``range(n)`` except ``skip``, once all exist
    (waits at most 60 s for them)."""
    deadline = time.monotonic() + 60
    paths = [payload_dir / f"stuck_at_{i}.h5" for i in range(n) if i != skip]
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, "the other calls did not finish within 60 s"
        assert runner.is_alive(), "the run ended early"
        time.sleep(0.05)  # noqa: sleep-ok (bounded polling for files the run writes)
    values = []
    for path in paths:
        with h5py.File(path, "r") as h5f:
            values.append(h5f["result_0"][()].tolist())
    return values


def test_stuck_call_holds_up_only_itself(tmp_path, client, acme_log):
    release = tmp_path / "release"
    out = tmp_path / "out"
    pmap = ParallelMap(stuck_at, list(range(40)), str(release), output_dir=str(out),
                       setup_interactive=False)
    finished = {}

    def run():
        with pmap:
            finished["results"] = pmap.compute()

    runner = threading.Thread(target=run)
    runner.start()
    try:
        # All 39 other calls finish and are stored while call 7 is still blocked.
        values = _payload_values(out / "stuck_at_payload", 40, skip=7, runner=runner)
        assert values == [[i * 10] for i in range(40) if i != 7]
        assert runner.is_alive() and not (out / "stuck_at_payload" / "stuck_at_7.h5").exists()
    finally:
        release.touch()
        runner.join(120)
    assert not runner.is_alive()
    assert len(finished["results"]) == 40
    assert any(r.msg.startswith("Call %d has been running for") and r.args[0] == 7
               for r in acme_log.records)


def test_call_timeout_fails_only_the_stuck_call(tmp_path, client):
    with ParallelMap(never_returns_at, list(range(40)), write_worker_results=False,
                     call_timeout=2, setup_interactive=False) as pmap:
        with pytest.raises(ParallelMapError) as info:
            pmap.compute()
    err = info.value
    assert sorted(err.failed) == [7]
    assert "TimeoutError: call 7 ran longer than `call_timeout`=2 s" in err.failed[7]
    assert err.results[:7] + err.results[8:] == [i * 10 for i in range(40) if i != 7]
    assert err.results[7] is None


@pytest.mark.parametrize("value,kind", [("1", TypeError), (True, TypeError),
                                        (0, ValueError), (float("inf"), ValueError)])
def test_call_timeout_checked(value, kind):
    with pytest.raises(kind, match="`call_timeout`"):
        ParallelMap(stuck_at, [1, 2], "x", call_timeout=value)


def test_guided_chunk_sizes():
    sizes, left = [], 1000
    while left:
        sizes.append(next_chunk_size(left, 2))
        left -= sizes[-1]
    assert sizes[0] == 1000 // (2 * GUIDED_FACTOR)
    assert sizes == sorted(sizes, reverse=True) and sizes[-4:] == [1, 1, 1, 1]
    assert len(sizes) < 40  # few tasks: dask's overhead stays small
    assert next_chunk_size(1000, 2, chunk_size=7) == 7
    assert next_chunk_size(5, 2, chunk_size=7) == 5
    assert next_chunk_size(1000, 2, mean_duration=0.5) == 4  # 2 s of work at most
    assert next_chunk_size(40, 2, mean_duration=1e-5) == 40  # 0.05 s of work at least
    assert next_chunk_size(10_000, 2, mean_duration=1e-5) == 5000
    assert next_chunk_size(0, 2) == 0 and next_chunk_size(0, 2, chunk_size=7) == 0
    assert next_chunk_size(10, 0) == 10 // GUIDED_FACTOR  # no slot known yet: as one
    # never more than CHUNK_MAX_CALLS: what a chunk holds stays bounded
    assert next_chunk_size(10**6, 2) == next_chunk_size(10**6, 2, mean_duration=1e-7) == \
        CHUNK_MAX_CALLS


@pytest.fixture
def one_thread():
    """A client with one worker thread: calls start exactly in the order they are sent."""
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=":0") as client:
        yield client


def _started(log):
    return [int(line) for line in log.read_text().split()]


def test_call_cost_runs_expensive_calls_first(tmp_path, one_thread):
    log = tmp_path / "started"
    costs = [i % 7 for i in range(30)]
    with ParallelMap(logs_start, list(range(30)), str(log), write_worker_results=False,
                     call_cost=costs, setup_interactive=False) as pmap:
        results = pmap.compute()
    assert results == [i * 10 for i in range(30)]  # call order
    assert _started(log) == sorted(range(30), key=lambda i: -costs[i])


def test_call_cost_function_of_arguments(tmp_path, one_thread):
    log = tmp_path / "started"
    with ParallelMap(logs_start, list(range(30)), str(log), write_worker_results=False,
                     call_cost=lambda x, log: x, setup_interactive=False) as pmap:
        results = pmap.compute()
    assert results == [i * 10 for i in range(30)]
    assert _started(log) == list(range(29, -1, -1))


def test_without_call_cost_calls_start_in_order(tmp_path, one_thread):
    log = tmp_path / "started"
    with ParallelMap(logs_start, list(range(30)), str(log), write_worker_results=False,
                     setup_interactive=False) as pmap:
        pmap.compute()
    assert _started(log) == list(range(30))


@pytest.mark.parametrize("value,kind,match", [
    ([1, 2], ValueError, r"one cost per call \(3\), got 2"),
    ("abc", TypeError, "got str"),
    ([1, "x", 2], TypeError, "must give numbers, got str"),
    ([1, -1, 2], ValueError, "non-negative finite numbers, got -1"),
])
def test_call_cost_checked(value, kind, match, tmp_path):
    with pytest.raises(kind, match=match):
        ParallelMap(logs_start, [1, 2, 3], "x", call_cost=value, output_dir=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()
