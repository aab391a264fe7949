"""The log file of a run says what ran, where the results are, how long it took and
every failed task with its traceback (read from the file itself)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acme import ParallelMap, ParallelMapError
from tests import funcs


def read_log(directory: Path) -> str:
    [logfile] = directory.glob("ACME_*.log")
    return logfile.read_text()


def test_failed_run_logs_each_failed_task_with_its_traceback(client, in_tmp, capfd):
    with pytest.raises(ParallelMapError):
        with ParallelMap(funcs.fails_at, list(range(6)), bad=(1, 4)) as pmap:
            pmap.compute()
    [out] = Path.cwd().glob("ACME_*")
    text = read_log(out)
    assert "This is ACME v." in text
    assert "Preparing 6 parallel calls of `fails_at` using 2 workers" in text
    assert f"Results are stored as HDF5 payloads in {out}/fails_at_payload, linked by " \
           f"{out}/fails_at.h5" in text
    for task in (1, 4):
        assert f"Task {task} failed: ValueError: boom {task}" in text
        block = text.split(f"Traceback of task {task}:\n")[1]
        assert 'raise ValueError(f"boom {x}")' in block.split("Task ")[0]
    assert re.search(r"2 of 6 calls failed after \d+\.\d\d s; the results of the other calls "
                     rf"are stored as HDF5 payloads in {re.escape(str(out))}", text)
    console = capfd.readouterr().err
    assert "Task 1 failed: ValueError: boom 1" in console
    assert "Traceback of task" not in console  # long tracebacks: file only


@pytest.mark.parametrize(("keywords", "where"), [
    ({}, "as HDF5 payloads in {out}/f_payload, linked by {out}/f.h5"),
    ({"single_file": True}, "in one HDF5 file, {out}/f.h5"),
    ({"write_pickle": True}, "as pickle files in {out}"),
])
def test_successful_run_logs_what_where_and_how_long(client, in_tmp, keywords, where):
    with ParallelMap(funcs.f, [2, 4, 6, 8], 4, **keywords) as pmap:
        pmap.compute()
    [out] = Path.cwd().glob("ACME_*")
    text = read_log(out)
    assert "Preparing 4 parallel calls of `f` using 2 workers" in text
    assert "Results are stored " + where.format(out=out) in text
    assert re.search(r"SUCCESS! Finished 4 calls in \d+\.\d\d s", text)
    assert f"Results have been saved to {pmap.results_container or out}" in text


def test_memory_run_logs_to_the_working_directory_on_request(client, in_tmp):
    with ParallelMap(funcs.f, [2, 4], 4, write_worker_results=False, logfile=True) as pmap:
        assert pmap.compute() == [18, 24]
    text = read_log(Path.cwd())
    assert "Results are stored in memory, collected by this process" in text
    assert "SUCCESS! Finished 2 calls" in text


def test_debug_run_logs_the_failed_call(in_tmp):
    with pytest.raises(ValueError, match="boom 3"):
        with ParallelMap(funcs.fails_at, [0, 1, 2, 3]) as pmap:
            pmap.compute(debug=True)
    [out] = Path.cwd().glob("ACME_*")
    text = read_log(out)
    assert "Running in debug mode: 4 calls of `fails_at` one after the other" in text
    assert "Task 3 failed: ValueError: boom 3" in text
    assert 'raise ValueError(f"boom {x}")' in text.split("Traceback of task 3:")[1]


def test_dry_run_report_is_in_the_log(in_tmp):
    with ParallelMap(funcs.f, [2, 4], 4, dryrun=True) as pmap:
        pmap.compute(debug=True)
    [out] = Path.cwd().glob("ACME_*")
    text = read_log(out)
    assert "Performing a single dry-run of f simulating randomly picked worker #" in text
    assert "Dry-run completed. Elapsed time is" in text
    assert "estimate for all 2 calls:" in text
    assert "results need about" in text


def test_runs_in_two_threads_keep_their_own_log(client, tmp_path, capfd):
    """Two runs of one driver at the same time, in two threads: each log file holds only
    its own run's lines, each console line is printed once, and the logger is restored."""
    import logging
    import threading

    logger = logging.getLogger("ACME")
    before = (logger.level, logger.propagate)
    both_running = threading.Barrier(2, timeout=60)
    errors: list[BaseException] = []

    def run(func, out, verbose):
        try:
            with ParallelMap(func, [1, 2, 3, 4], output_dir=str(out), verbose=verbose) as pmap:
                both_running.wait()   # both runs have attached their logs
                pmap.compute()
                both_running.wait()   # ... and keep them until both have computed
        except BaseException as err:  # reported by the test below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(funcs.ident, tmp_path / "a", True)),
               threading.Thread(target=run, args=(funcs.pid, tmp_path / "b", None))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    a, b = read_log(tmp_path / "a"), read_log(tmp_path / "b")
    assert "Preparing 4 parallel calls of `ident`" in a and "`pid`" not in a
    assert "Preparing 4 parallel calls of `pid`" in b and "`ident`" not in b
    assert f"{tmp_path / 'b'}" not in a and f"{tmp_path / 'a'}" not in b
    assert a.count("This is ACME v.") == b.count("This is ACME v.") == 1
    console = capfd.readouterr().err
    assert console.count("Preparing 4 parallel calls of `ident`") == 1
    assert console.count("Preparing 4 parallel calls of `pid`") == 1
    assert (logger.level, logger.propagate) == before
