"""Dry run and resource estimates (acme/dryrun.py): honest numbers, nothing left behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import STORAGE_MODES, h5_tree

from acme import ParallelMap
from acme.dryrun import Estimate, Sample, ask_to_continue, dry_run, estimate_memory, sample_calls

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000


# -- functions mapped here (importable by the sample processes) ---------------------------
def allocate(x, megabytes=500):
    """Touch ``megabytes`` MB of memory, return a small value."""
    block = np.ones(megabytes * MB // 8)
    return float(block[:10].sum()) + x


def vector(x, taskID=None):
    return np.arange(3.0) * x, taskID


def boom(x):
    raise ValueError(f"boom {x}")


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not picklable")


def boom_unpicklable(x):
    raise _Unpicklable("hidden")


def spin(x, megabytes=200):
    block = np.ones(megabytes * MB // 8)
    while block[0]:  # forever: stopped by the time limit
        pass


# -- measurement --------------------------------------------------------------------------
def test_peak_memory_of_500mb_call_is_measured_within_20_percent(acme_log):
    pmap = ParallelMap(allocate, [1, 2, 3])
    estimate = dry_run(pmap, seed=3)
    [sample] = estimate.samples
    assert sample.finished and sample.error is None
    assert 0.8 * 500 * MB <= sample.call_bytes <= 1.2 * 500 * MB
    report = next(m for m in acme_log.messages() if m.startswith("Dry-run completed."))
    reported = float(report.split("estimated memory consumption was ")[1].split(" MB")[0])
    assert 400 <= reported <= 600
    # the process peak includes the interpreter: what a worker needs in all
    assert sample.peak_bytes >= sample.call_bytes + 10 * MB
    assert estimate.memory_gb == pytest.approx(sample.peak_bytes / 1e9)
    assert sample.seconds > 0 and sample.result_bytes > 0


def test_estimate_memory_bounds_the_time_and_reports_lower_bounds(acme_log):
    pmap = ParallelMap(spin, [1, 2, 3, 4])
    estimate = estimate_memory(pmap.plan, spin, n_samples=3, max_seconds=4.0)
    # the first sample uses up the budget and is stopped; no further samples run
    [sample] = estimate.samples
    assert not sample.finished
    assert 2.0 <= sample.seconds < 15
    assert sample.peak_bytes >= 200 * MB  # read before the process was stopped
    messages = acme_log.messages()
    assert "Estimating memory footprint of spin" in messages
    assert any("did not finish within 4 s" in m for m in messages)
    assert any(m.startswith("Estimated memory consumption across 1 runs is 0.") for m in messages)


def test_estimate_extrapolates_to_the_whole_run():
    samples = (Sample(0, 2.0, 100 * MB, 300 * MB, 1000, 4000),
               Sample(5, 4.0, 100 * MB, 600 * MB, 3000, 6000))
    estimate = Estimate("f", 10, "hdf5", samples)
    assert estimate.seconds_per_call == 3.0
    assert estimate.total_seconds(4) == 9.0  # 3 rounds of 3 s
    assert estimate.total_seconds(10) == 3.0
    assert estimate.peak_bytes == 600 * MB and estimate.call_bytes == 500 * MB
    assert estimate.memory_gb == 0.6
    assert estimate.disk_bytes == 50_000
    text = estimate.summary(4)
    assert "call #5: 4.00 s, peak memory 500.00 MB on top of 100.00 MB" in text
    assert "30.00 s of compute time, about 9.00 s with 4 workers" in text
    assert "each worker needs about 600.00 MB" in text
    assert "50.00 kB of disk space" in text
    in_memory = Estimate("f", 10, "memory", samples)
    assert in_memory.disk_bytes == 0
    assert "about 50.00 kB in this process" in in_memory.summary(1)


def test_every_sampled_call_is_distinct_and_gets_its_task_id():
    pmap = ParallelMap(vector, [1, 2, 3, 4, 5], write_worker_results=False)
    estimate = dry_run(pmap, n_samples=2, seed=1)
    indices = [s.index for s in estimate.samples]
    assert len(set(indices)) == 2 and all(0 <= i < 5 for i in indices)
    assert all(s.finished and s.error is None for s in estimate.samples)
    small = ParallelMap(vector, [1, 2], write_worker_results=False)
    assert [s.index for s in dry_run(small, n_samples=9).samples] == [0, 1]  # at most all
    with pytest.raises(ValueError, match="n_samples"):
        sample_calls(pmap.plan, vector, n_samples=0)


# -- failures -----------------------------------------------------------------------------
def test_exception_of_the_dry_run_call_surfaces_as_itself(in_tmp):
    pmap = ParallelMap(boom, [1, 2, 3], dryrun=True)
    with pytest.raises(ValueError, match=r"boom \d") as info:
        with pmap:
            pass
    cause = info.value.__cause__
    assert 'raise ValueError(f"boom {x}")' in str(cause)  # the user's line, remotely
    assert list(Path.cwd().iterdir()) == []  # the run never started: nothing left


def test_unpicklable_exception_is_reported_with_its_traceback(in_tmp):
    with pytest.raises(RuntimeError, match="failed in the dry run") as info:
        with ParallelMap(boom_unpicklable, [1, 2], dryrun=True, write_worker_results=False):
            pass
    assert "_Unpicklable: hidden" in str(info.value)


# -- dry run inside a run -----------------------------------------------------------------
def _files(directory: Path) -> list[str]:
    """Relative file names below ``directory``; the log's timestamp replaced by a star."""
    names = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        names.append("ACME_*.log" if rel.endswith(".log") else rel)
    return names


STORAGE = {name: kw for name, kw in STORAGE_MODES.items() if not name.startswith("memory")}


@pytest.mark.parametrize("mode", STORAGE)
def test_result_files_are_those_of_a_run_without_dry_run(tmp_path, mode, acme_log,
                                                         monkeypatch):
    scratch = tmp_path / "tmp"  # this test's own temporary directory
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    runs = {}
    for dry in (False, True):
        out = tmp_path / f"dry{dry}"
        with ParallelMap(vector, [1, 2, 3, 4], output_dir=out, dryrun=dry,
                         **STORAGE[mode]) as pmap:
            pmap.compute(debug=True)
        runs[dry] = out
    names = _files(runs[True])
    assert names == _files(runs[False])
    assert len([n for n in names if n.endswith((".h5", ".pickle"))]) >= 1
    for name in names:
        if name.endswith(".h5") and not name.startswith("acme_run_"):  # record: times
            assert h5_tree(runs[True] / name) == h5_tree(runs[False] / name)
    assert any(m.startswith("Dry-run completed.") for m in acme_log.messages())
    assert list(scratch.iterdir()) == []  # the dry run's temporary files are gone


def test_dry_run_in_memory_mode_reports_and_runs(in_tmp, acme_log):
    with ParallelMap(vector, [1, 2], write_worker_results=False, dryrun=True) as pmap:
        values = pmap.compute(debug=True)
    assert [v[1] for v in values] == [0, 1]
    report = next(m for m in acme_log.messages() if m.startswith("Dry-run completed."))
    assert "estimate for all 2 calls" in report and "in this process" in report
    assert list(Path.cwd().iterdir()) == []


def test_prompt_asks_only_when_interactive(capsys):
    def reader(text: str) -> io.StringIO:
        return io.StringIO(text)

    assert ask_to_continue("f", interactive=False, stream=reader("n\n")) is True
    assert capsys.readouterr().out == ""
    assert ask_to_continue("f", interactive=True, stream=reader("n\n")) is False
    question = "Do you want to continue executing f with the provided arguments? [Y/n]"
    assert question in capsys.readouterr().out
    assert ask_to_continue("f", interactive=True, stream=reader("\n")) is True  # default
    assert ask_to_continue("f", interactive=True, stream=reader("Y\n")) is True
    assert ask_to_continue("f", interactive=True, stream=reader("maybe\nno\n")) is False
    assert ask_to_continue("f", interactive=True, stream=reader("")) is True  # end of input


_DECLINE_SCRIPT = """
import os
import distributed
from acme import ParallelMap

def g(x):
    return x

if __name__ == "__main__":
    # a folder of the user's that is also the output directory, and a new one
    with ParallelMap(g, [1, 2, 3], output_dir="mine", dryrun=True) as pmap:
        result = pmap.compute()
    print("CONTAINER", pmap.results_container, flush=True)
    result_new = ParallelMap(g, [1, 2], output_dir="new", dryrun=True).compute()
    try:
        distributed.get_client()
        client = "CLIENT"
    except ValueError:
        client = "NO CLIENT"
    print("RESULT", result, result_new, client, sorted(os.listdir(".")), flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_answer_n_on_a_terminal_leaves_nothing_behind(tmp_path):
    import pty
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(_DECLINE_SCRIPT))
    work = tmp_path / "work"
    (work / "mine").mkdir(parents=True)
    (work / "mine" / "notes.txt").write_text("keep me")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, str(script)], cwd=work, stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        os.close(slave)
        slave = -1
        os.write(master, b"n\nn\n")  # typed ahead: wait in the terminal until read
        out, err = proc.communicate(timeout=60)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    out_text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "Do you want to continue executing g with the provided arguments? [Y/n]" in out_text
    assert out_text.count("Do you want to continue executing g") == 2
    assert "CONTAINER None" in out_text
    assert "dashboard accessible" not in out_text + err.decode()  # no cluster was started
    assert "RESULT None None NO CLIENT ['mine']" in out_text
    # only what the declined runs created is gone
    assert [p.relative_to(work).as_posix() for p in sorted(work.rglob("*"))] == [
        "mine", "mine/notes.txt"]
    assert (work / "mine" / "notes.txt").read_text() == "keep me"
