"""ACME's surface beyond ParallelMap that real code reaches into (acme.daemon): the
daemon, its config, argv/kwargv edits, ACME's exception types and module paths."""

from __future__ import annotations

import os
import re

import distributed
import pytest
from funcs import f, ident

import acme
from acme import ACMEdaemon, ArgumentError, ParallelMap


@pytest.fixture
def no_slurm(monkeypatch):
    """This machine may run a test SLURM; these tests are about machines without one."""
    monkeypatch.setattr("acme.clusters.detect.slurm_available", lambda: False)


def keyword(x, z=None):
    return z


def test_acmedaemon_accepts_only_a_parallelmap():
    with pytest.raises(TypeError, match="`pmap` has to be a `ParallelMap` instance, not "
                                        "<class 'str'>"):
        ACMEdaemon("invalid")
    pmap = ParallelMap(f, [1, 2], 3)
    assert isinstance(pmap.daemon, ACMEdaemon)
    assert pmap.daemon.config is pmap.config


def test_acme_dask_helpers_module_path():
    from acme.dask_helpers import cluster_cleanup, esi_cluster_setup, local_cluster_setup
    assert esi_cluster_setup is acme.esi_cluster_setup
    assert local_cluster_setup is acme.local_cluster_setup
    assert cluster_cleanup is acme.cluster_cleanup


def test_config_output_dir_is_named_before_the_run_and_used_by_it(in_tmp, client):
    pmap = ParallelMap(f, [2, 4], 4)
    planned = pmap.daemon.config.output_dir
    assert os.path.dirname(planned) == str(in_tmp)
    assert not os.path.exists(planned)  # named, not created: the constructor only checks
    with pmap:
        files = pmap.daemon.compute()
    assert pmap.config.output_dir == planned
    assert pmap.daemon.results_container == os.path.join(planned, "f.h5")
    assert files == [os.path.join(planned, "f_payload", f"f_{i}.h5") for i in range(2)]
    assert pmap.config.n_calls == 2
    # real code reads it; its value is a constant (results are kept in every mode, also
    # in memory with a taskID function, as test_backends.py's memory cases show)
    assert hasattr(pmap.config, "collect_results")


def test_config_in_memory_mode_and_read_only(tmp_path):
    pmap = ParallelMap(f, [2, 4], 4, output_dir=str(tmp_path), write_worker_results=False)
    assert pmap.daemon.config.output_dir is None
    assert pmap.config.partition == "auto" and pmap.config.result_dtype == "float"
    with pytest.raises(AttributeError, match="config.partition is read-only"):
        pmap.config.partition = "small"
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        getattr(pmap.config, "nonsense")  # noqa: B009


def test_argv_kwargv_use_acmes_layout():
    pmap = ParallelMap(f, [2, 4, 6], 4, z=[1, 2, 3])
    assert pmap.argv == [[2, 4, 6], [4]]
    assert pmap.kwargv == {"z": [1, 2, 3]}
    assert pmap.config.kwargv is pmap.kwargv


def test_kwargv_edit_before_compute_broadcasts_the_value(client):
    # Syncopy's edit: keep a keyword whose length equals the number of calls whole.
    pmap = ParallelMap(keyword, [1, 2], z=[7, 8], write_worker_results=False)
    pmap.kwargv["z"] = [[7, 8]]
    with pmap:
        assert pmap.compute() == [[7, 8], [7, 8]]
    unedited = ParallelMap(keyword, [1, 2], z=[7, 8], write_worker_results=False)
    assert unedited.compute() == [7, 8]


def test_argv_edit_splits_or_broadcasts(client):
    pmap = ParallelMap(f, [1, 2], 10, write_worker_results=False)
    pmap.argv[1] = [10, 20]
    assert pmap.compute() == [(1 + 10) * 3, (2 + 20) * 3]


def test_bad_kwargv_edit_names_the_entry(client):
    pmap = ParallelMap(keyword, [1, 2], z=[7, 8], write_worker_results=False)
    pmap.kwargv["z"] = [1, 2, 3]
    with pytest.raises(ValueError, match=r"`kwargv\['z'\]` has to be a list of 2 values "
                                         r"\(one per call\) or a one-element list"):
        pmap.compute()
    pmap = ParallelMap(keyword, [1, 2], z=[7, 8], write_worker_results=False)
    pmap.kwargv["w"] = [1]
    with pytest.raises(ValueError, match="`kwargv` has to keep its keys"):
        pmap.compute()


def test_daemon_client_attaches_to_the_default_client(client):
    pmap = ParallelMap(ident, [1, 2], write_worker_results=False)
    assert pmap.daemon.client is client
    with pmap as p:
        assert p.compute() == [1, 2]
    assert client.status == "running"  # attached, so not stopped


def test_daemon_client_starts_the_runs_cluster_on_first_access(no_slurm):
    with pytest.raises(ValueError):
        distributed.get_client()
    pmap = ParallelMap(ident, [1, 2, 3], n_workers=1, write_worker_results=False)
    started = pmap.daemon.client
    assert len(started.nthreads()) == 1
    assert pmap.config.n_workers == 1
    with pmap:
        assert pmap.compute() == [1, 2, 3]
    assert started.status == "closed"  # the run started it: stop_client="auto" stops it


def test_acme_init_sequence_without_workers_then_without_client(no_slurm):
    # ACME's test_init: a run whose workers are gone refuses to compute; once its
    # client slot is emptied, compute() does nothing and returns None.
    pmap = ParallelMap(f, [2, 4, 6, 8], 4, n_workers=1, setup_interactive=False)
    with pytest.raises(TypeError, match="`debug` has to be `True` or `False`"):
        pmap.daemon.compute(debug="invalid")
    client = pmap.daemon.config.client
    try:
        client.retire_workers(list(client.scheduler_info()["workers"]), close_workers=True)
        with pytest.raises(RuntimeError, match="no active workers found"):
            pmap.daemon.compute()
        pmap.daemon.config.client = None
        assert pmap.compute() is None
        assert not os.path.exists(pmap.config.output_dir)
    finally:
        acme.cluster_cleanup(client)


def test_acme_exception_types():
    with pytest.raises(ValueError, match="accepts at maximum 1 keyword arguments"):
        ParallelMap(f, 4, 4, z=3, w=4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'w'"):
        ParallelMap(f, 4, 4, z=3, w=4)
    for error in (ValueError, TypeError):
        with pytest.raises(error, match="`stop_client` has to be 'auto' or Boolean"):
            ParallelMap(f, [2, 4], 4, stop_client="sometimes")
        with pytest.raises(error, match="`result_dtype` has to be a valid NumPy datatype"):
            ParallelMap(f, [2, 4], 4, result_dtype="invalid")
    with pytest.raises(TypeError) as err:
        ParallelMap(f, [2, 4], 4, stop_client=3)
    assert not isinstance(err.value, ValueError)
    assert issubclass(ArgumentError, TypeError) and issubclass(ArgumentError, ValueError)


def test_verbose_true_logs_what_is_split_sent_and_timed(in_tmp, client, acme_log):
    with ParallelMap(f, [2, 4, 6, 8], 4, z=[1, 2, 3, 4], verbose=True,
                     write_worker_results=False) as pmap:
        pmap.compute()
    debug = [r.getMessage() for r in acme_log.records if r.levelname == "DEBUG"]
    assert ("4 calls of f: split across the calls: x (list of 4), z (list of 4); passed "
            "whole to every call (sent once): y (int, 0.00 MB)") in debug
    assert any(m.startswith(f"Client {client.id} (attached), scheduler tcp://")
               and "2 workers, 2 threads" in m for m in debug), debug
    assert ("Sending 4 calls in chunks of at most 1/4 of the calls left (2 worker threads)"
            in debug), debug
    assert sorted(m for m in debug if m.startswith("Sent calls ")) == [
        f"Sent calls {i}-{i} (1 calls) as task {i}" for i in range(4)]
    timings = [m for m in debug if m.startswith("Task acme-f-") and " finished after " in m]
    assert len(timings) == 4, debug


def test_verbose_none_logs_no_debug_lines(in_tmp, client, acme_log):
    with ParallelMap(f, [2, 4], 4, write_worker_results=False) as pmap:
        pmap.compute()
    assert not [r for r in acme_log.records if r.levelname == "DEBUG"]


def test_dry_run_reports_memory_in_mb_like_acme(in_tmp, client, acme_log):
    with ParallelMap(f, [2, 4], 4, dryrun=True, setup_interactive=False,
                     write_worker_results=False) as pmap:
        pmap.compute()
    (report,) = [m for m in acme_log.messages() if m.startswith("Dry-run completed.")]
    assert re.search(r"estimated memory consumption was \d+\.\d\d MB\.", report), report


@pytest.mark.parametrize("answer", ["n", "y"])
def test_dry_run_question_is_asked_through_input(in_tmp, client, monkeypatch, answer):
    # ACME's test_dryrun answers by replacing builtins.input: users' tests written that
    # way must keep working, so this replacement is the behaviour under test.
    questions = []
    monkeypatch.setattr("builtins.input", lambda q: questions.append(q) or answer)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    with ParallelMap(f, [2, 4], 4, dryrun=True, setup_interactive=True) as pmap:
        results = pmap.compute()
    assert questions == ["Do you want to continue executing f with the provided "
                         "arguments? [Y/n] "]
    if answer == "n":
        assert results is None and os.listdir(in_tmp) == []
    else:
        assert len(results) == 2 and all(os.path.isfile(r) for r in results)


def test_config_client_after_the_run_is_the_runs_client(in_tmp, no_slurm):
    with ParallelMap(ident, [1, 2], n_workers=1, write_worker_results=False) as pmap:
        pmap.compute()
    used = pmap.config.client
    assert isinstance(used, distributed.Client)
    assert used.status == "closed"  # stopped with the run; no new cluster was started
    with pytest.raises(ValueError):
        distributed.get_client()


def test_a_question_never_answered_validly_takes_the_default(capsys):
    from acme.prompt import MAX_INVALID_ANSWERS, ask

    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as reader, os.fdopen(write_end, "w") as writer:
        writer.write("maybe\n" * (MAX_INVALID_ANSWERS + 3))  # more than it may read
        writer.flush()
        assert ask("Keep? [k/7]", ["k", "7"], default="7", timeout=60, stream=reader) == "7"
        writer.close()
        assert reader.read() == "maybe\n" * 2  # it stopped asking after the bound
    out = capsys.readouterr().out
    assert out.count("Keep? [k/7]") == MAX_INVALID_ANSWERS + 1
    assert "No valid answer after 5 tries; using the default '7'." in out
