"""Lazy inputs: an iterator (or an iterable without a length) is split across the calls
when ``n_inputs`` is given; its items are read as calls are sent."""

from __future__ import annotations

import itertools

import distributed
import h5py
import numpy as np
import pytest
from funcs import f, fails_first_time, ident, logs_start

import acme
import acme.execution
from acme import ParallelMap
from acme.execution import CHUNK_MAX_CALLS, IN_FLIGHT
from acme.lazy import LazyInputError
from acme.record import DONE, NOT_RUN, call_hash, read_record, record_path


class Counting:
    """An iterable without a length that counts the items it has handed out."""

    def __init__(self, n):
        self.n = n
        self.read = 0

    def __iter__(self):
        for i in range(self.n):
            self.read += 1
            yield i


def squares(n):
    return (i * i for i in range(n))


def test_generator_of_1e5_calls_in_memory(client):
    n = 100_000
    with ParallelMap(ident, squares(n), n_inputs=n, write_worker_results=False,
                     verbose=False) as pmap:
        results = pmap.compute()
    assert results == [i * i for i in range(n)]
    assert pmap.plan.lazy.held == 0  # every item dropped once its call was done
    # the chunks in flight (two per worker thread), and the one being read, were held
    # at a time, not all items
    assert pmap.plan.lazy.peak <= (IN_FLIGHT * 2 + 1) * CHUNK_MAX_CALLS < n


def test_generator_with_hdf5_payloads_and_broadcast(tmp_path, client):
    out = tmp_path / "out"
    with ParallelMap(f, (i for i in range(30)), 5, z=np.arange(3), n_inputs=30,
                     output_dir=str(out), verbose=False) as pmap:
        paths = pmap.compute()
    with h5py.File(pmap.results_container, "r") as h5f:
        values = [h5f[f"comp_{i}"]["result_0"][()].tolist() for i in range(30)]
    assert values == [[(i + 5) * k for k in range(3)] for i in range(30)]
    assert len(paths) == 30
    # the record holds each call's argument hash, computed as the items were read
    attrs, calls = read_record(record_path(out, "f"))
    assert attrs["state"] == "finished"
    assert [h.decode() for h in calls.argument_hash] == [call_hash((i,)) for i in range(30)]


def test_items_read_only_as_calls_are_sent(client):
    source = Counting(5000)
    pmap = ParallelMap(ident, source, n_inputs=5000, write_worker_results=False,
                       verbose=False)
    assert source.read == 0  # the constructor reads nothing
    with pmap:
        assert pmap.compute(chunk_size=10) == list(range(5000))
    assert source.read == 5000


def test_generator_without_n_inputs_is_refused():
    with pytest.raises(TypeError, match="`n_inputs` has to be given to split it"):
        ParallelMap(ident, (i for i in range(4)))


def test_too_few_items(tmp_path, client):
    out = tmp_path / "out"
    pmap = ParallelMap(ident, (i for i in range(7)), n_inputs=10, output_dir=str(out),
                       verbose=False)
    with pytest.raises(LazyInputError, match=r"`n_inputs` is 10, but positional argument "
                       r"0 \('x'\) yielded only 7 items") as info, pmap:
        pmap.compute(chunk_size=1)
    assert isinstance(info.value, ValueError)
    # the calls with an item ran and kept their results; the others did not run
    _, calls = read_record(record_path(out, "ident"))
    assert calls.status.tolist() == [DONE] * 7 + [NOT_RUN] * 3
    with h5py.File(out / "ident_payload" / "ident_6.h5", "r") as h5f:
        assert h5f["result_0"][()] == 6


def test_too_many_items(tmp_path, client):
    source = iter(range(12))
    out = tmp_path / "out"
    pmap = ParallelMap(ident, source, n_inputs=10, output_dir=str(out), verbose=False)
    with pytest.raises(LazyInputError, match="`n_inputs` is 10, but positional argument 0 "
                       r"\('x'\) yields more items; its first 10 items were computed"), pmap:
        pmap.compute()
    _, calls = read_record(record_path(out, "ident"))
    assert calls.status.tolist() == [DONE] * 10
    assert next(source) == 11  # one item past n_inputs was read, no more


def test_resume_needs_the_same_items(tmp_path, client):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    pmap = ParallelMap(fails_first_time, (i for i in range(20)), str(marks), n_inputs=20,
                       bad=(3, 12), output_dir=str(out), verbose=False)
    with pytest.raises(acme.ParallelMapError), pmap:
        pmap.compute()
    # acme.resume_run cannot: the items were not stored
    with pytest.raises(ValueError, match=r"read positional argument 0 \('x'\) from an "
                       "iterator, whose items are not stored; resume it with"):
        acme.resume_run(out)
    # other items: refused once the first differing one is read
    other = ParallelMap(fails_first_time, (i + (i == 5) for i in range(20)), str(marks),
                        n_inputs=20, bad=(3, 12), output_dir=str(out), resume=True,
                        verbose=False)
    with pytest.raises(LazyInputError, match=r"the items of call 5 \(positional argument "
                       r"0 \('x'\)\) differ from the recorded ones"), other:
        other.compute()
    # the same items again: the calls not done run, the others are skipped
    again = ParallelMap(fails_first_time, (i for i in range(20)), str(marks), n_inputs=20,
                        bad=(3, 12), output_dir=str(out), resume=True, verbose=False)
    with again:
        again.compute()
    _, calls = read_record(record_path(out, "fails_first_time"))
    assert calls.status.tolist() == [DONE] * 20
    assert calls.attempts.tolist()[:4] == [1, 1, 1, 2]
    with h5py.File(again.results_container, "r") as h5f:
        assert [h5f[f"comp_{i}"]["result_0"][()] for i in range(20)] == \
            [i * 10 for i in range(20)]


def test_dryrun_reads_the_first_item_only(tmp_path, client):
    source = Counting(50)
    with ParallelMap(ident, source, n_inputs=50, write_worker_results=False, dryrun=True,
                     setup_interactive=False, verbose=False) as pmap:
        assert source.read == 1
        assert pmap.compute() == list(range(50))


def test_call_cost_orders_within_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(acme.execution, "LAZY_WINDOW", 10)
    log = tmp_path / "started"
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=":0"), \
            ParallelMap(logs_start, (i for i in range(30)), str(log), n_inputs=30,
                        write_worker_results=False, call_cost=lambda x, log: x % 10,
                        verbose=False) as pmap:
        assert pmap.compute() == [i * 10 for i in range(30)]  # call order
    started = [int(line) for line in log.read_text().split()]
    # most expensive first within each block of 10 calls, read a block ahead
    assert started == [b + 9 - k for b in (0, 10, 20) for k in range(10)]


def test_call_cost_with_a_generator(client):
    n = 40
    with ParallelMap(ident, (i for i in range(n)), n_inputs=n, write_worker_results=False,
                     call_cost=lambda x: x, verbose=False) as pmap:
        assert pmap.compute() == list(range(n))
    with pytest.raises(ValueError, match=r"`call_cost` must give one cost per call \(40\)"):
        ParallelMap(ident, (i for i in range(n)), n_inputs=n, call_cost=[1.0] * 41)


def test_debug_mode_reads_lazily():
    source = itertools.count()
    with ParallelMap(ident, source, n_inputs=6, write_worker_results=False,
                     verbose=False) as pmap:
        assert pmap.compute(debug=True) == list(range(6))
    assert next(source) == 7  # item 6 was read to check that nothing follows
