"""``compute(debug=True)``: every call in the calling process, in order, without a cluster.

That debug mode stores the same results as a parallel run, in every storage mode, is
``test_backends.py``'s job."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import distributed
import h5py
import pytest

from acme import ParallelMap, clients
from tests import funcs

ROOT = Path(__file__).resolve().parent.parent

SEEN: list[int] = []


def record(x):
    SEEN.append(x)
    return x


def fails_at_two(x):
    SEEN.append(x)
    if x == 2:
        raise ValueError(f"boom {x}")  # the user's line
    return x


@pytest.fixture
def no_cluster(monkeypatch):
    """Fail the test if anything tries to start, contact or use a dask client."""
    def forbidden(*args, **kwargs):
        raise AssertionError("debug mode used a dask client")

    monkeypatch.setattr(clients, "acquire", forbidden)
    for name in ("submit", "map", "scatter", "gather", "compute", "run", "nthreads"):
        monkeypatch.setattr(distributed.Client, name, forbidden)


def test_calls_run_in_the_caller_even_with_a_default_client(client, no_cluster, in_tmp):
    assert distributed.get_client() is client  # a default client exists
    with ParallelMap(funcs.pid, range(4), write_worker_results=False) as pmap:
        assert pmap.compute(debug=True) == [os.getpid()] * 4
    with ParallelMap(funcs.pid, range(3)) as pmap:
        paths = pmap.compute(debug=True)
    for path in paths:
        with h5py.File(path, "r") as h5:
            assert h5["result_0"][()].tolist() == [os.getpid()]


def test_calls_run_one_after_the_other_in_order(in_tmp, no_cluster):
    SEEN.clear()
    with ParallelMap(record, [3, 1, 2, 0], write_worker_results=False) as pmap:
        assert pmap.compute(debug=True) == [3, 1, 2, 0]
    assert SEEN == [3, 1, 2, 0]  # the caller's own list: same process, call order


def test_exception_surfaces_as_itself_with_the_users_line(in_tmp, no_cluster, acme_log):
    SEEN.clear()
    with pytest.raises(ValueError, match="boom 2") as info:
        with ParallelMap(fails_at_two, [0, 1, 2, 3]) as pmap:
            pmap.compute(debug=True)
    assert SEEN == [0, 1, 2]  # call 3 never ran
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert last.name == "fails_at_two" and last.filename == __file__
    assert last.line == 'raise ValueError(f"boom {x}")  # the user\'s line'
    assert "Task 2 failed: ValueError: boom 2" in acme_log.messages()


_BREAKPOINT_SCRIPT = """
import os
from acme import ParallelMap

def g(x):
    y = x * 10
    breakpoint()
    return y

if __name__ == "__main__":
    print("CALLER", os.getpid(), flush=True)
    with ParallelMap(g, [1, 2], write_worker_results=False) as pmap:
        print("RESULT", pmap.compute(debug=True), flush=True)
"""


def test_breakpoint_stops_in_the_callers_process(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(_BREAKPOINT_SCRIPT))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONBREAKPOINT"}
    env["PYTHONPATH"] = str(ROOT)
    commands = "p ('IN', os.getpid(), x, y)\nc\np ('IN', os.getpid(), x, y)\nc\n"
    proc = subprocess.run([sys.executable, str(script)], input=commands, cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    caller = int(out.split("CALLER ")[1].split()[0])
    assert f"('IN', {caller}, 1, 10)" in out  # pdb stopped in g, in the caller's process
    assert f"('IN', {caller}, 2, 20)" in out
    assert "g()\n-> return y" in out
    assert "RESULT [10, 20]" in out
