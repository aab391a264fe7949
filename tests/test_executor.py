"""acme.Executor: the concurrent.futures contract on real dask clusters.

Most tests attach to the session's 2-worker LocalCluster (the ``client`` fixture); the
ones that kill, restart or configure workers start a cluster of their own.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path

import dask
import distributed
import pytest
from distributed.scheduler import KilledWorker

import acme
from acme import Executor
from acme.clusters.local import local_cluster_setup
from acme.clusters.threads import THREAD_VARIABLES

#: Longest a test waits for a call to reach a state (generous: the machine is shared).
WAIT_S = 60


def wait_until(predicate, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.05)  # bounded polling (noqa: sleep-ok)


# -- functions run on the workers -----------------------------------------------------
def calc_pair(values):
    return values[0] + values[1]


def calc(i, j, k):
    return i + j + k


def add(a, b=0):
    return a + b


def total(values, extra):
    return sum(values) + sum(extra.values())


def fail(x):
    raise ValueError(f"bad input {x}")


def die():
    os._exit(3)


def wait_for_file(path, value):
    """Block until ``path`` exists (bounded), then return ``value``."""
    deadline = time.monotonic() + WAIT_S
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.02)  # the gate of a blocking call (noqa: sleep-ok)
    return value


def pid():
    return os.getpid()


def thread_report():
    import numpy  # noqa: F401 (loads the BLAS threadpoolctl reports)
    import threadpoolctl
    blas = [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]
    return blas, {name: os.environ.get(name) for name in THREAD_VARIABLES}


def counting_init(directory):
    def init():
        with open(Path(directory) / f"init-{os.getpid()}", "a") as file:
            file.write("x\n")
        return {"j": 4, "k": 3, "l": 2}
    return init


def standard_workload(exe: cf.Executor) -> list:
    """Code written for the standard library's executors."""
    futures = [exe.submit(calc_pair, [2, j]) for j in (1, 2, 3, 4)]
    return [exe.submit(sum, [1, 1]).result(), [f.result() for f in futures],
            list(exe.map(calc_pair, [[2, 1], [2, 2], [2, 3], [2, 4]])),
            list(exe.map(add, range(7), range(7), chunksize=3)),
            list(exe.map(add, [1, 2], timeout=WAIT_S))]


@pytest.fixture
def own_cluster():
    """A fresh 2-worker LocalCluster (its workers may be killed)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


# -- the standard interface ------------------------------------------------------------
def test_examples_and_standard_semantics(client):
    with Executor() as exe:
        assert exe.submit(sum, [1, 1]).result() == 2
        assert list(exe.map(calc_pair, [[2, 1], [2, 2], [2, 3], [2, 4]])) == [3, 4, 5, 6]
        futures = [exe.submit(calc_pair, [2, j]) for j in (1, 2, 3, 4)]
        assert all(type(f) is not cf.Future and isinstance(f, cf.Future) for f in futures)
        assert [f.result() for f in futures] == [3, 4, 5, 6]
        got = standard_workload(exe)
    with cf.ThreadPoolExecutor(2) as standard:
        assert got == standard_workload(standard)
    assert client.status == "running"  # attached: left running


def test_wait_and_as_completed(client, tmp_path):
    gate = tmp_path / "gate"
    with Executor() as exe:
        quick = exe.submit(add, 1, 2)
        blocked = exe.submit(wait_for_file, str(gate), "late")
        done, not_done = cf.wait([quick, blocked], timeout=WAIT_S,
                                 return_when=cf.FIRST_COMPLETED)
        assert done == {quick} and not_done == {blocked}
        gate.touch()
        futures = [exe.submit(add, i, i) for i in range(5)] + [blocked]
        results = [f.result() for f in cf.as_completed(futures, timeout=WAIT_S)]
        assert sorted(map(str, results)) == sorted(map(str, [0, 2, 4, 6, 8, "late"]))
        done, not_done = cf.wait(futures, timeout=WAIT_S)
        assert not not_done


def test_futures_as_arguments(client):
    with Executor() as exe:
        a = exe.submit(add, 1)                    # 1
        b = exe.submit(add, a, 1)                 # 2
        c = exe.submit(add, b, b=a)               # 3: a chain of three
        assert c.result() == 3
        nested = exe.submit(total, [a, (b, c)][:1] + [b, c], {"x": a, "y": c})
        assert nested.result() == 1 + 2 + 3 + 1 + 3


def test_failures_keep_type_and_traceback(client):
    with Executor() as exe:
        failed = exe.submit(fail, 7)
        dependent = exe.submit(add, failed, 1)
        nested = exe.submit(total, [1, failed], {})
        for future in (failed, dependent, nested):
            with pytest.raises(ValueError, match="^bad input 7$"):
                future.result(timeout=WAIT_S)
            text = "".join(traceback.format_exception(future.exception()))
            assert "in fail" in text and 'raise ValueError(f"bad input {x}")' in text
        assert exe.submit(add, 2, 2).result() == 4  # the executor keeps working


def test_foreign_futures_are_refused(client):
    with Executor() as exe, Executor() as other, cf.ThreadPoolExecutor(1) as pool:
        with pytest.raises(TypeError, match="another acme.Executor"):
            exe.submit(add, other.submit(add, 1))
        with pytest.raises(TypeError, match="only futures of this acme.Executor"):
            exe.submit(add, pool.submit(int))


def test_shutdown_cancels_what_has_not_started(client, tmp_path):
    gate = tmp_path / "gate"
    exe = Executor()
    running = [exe.submit(wait_for_file, str(gate), i) for i in range(2)]  # 2 workers
    wait_until(lambda: all(f.running() for f in running), "both calls to start")
    queued = [exe.submit(add, i) for i in range(6)]
    exe.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    assert not any(f.cancel() for f in running)  # running calls cannot be cancelled
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        exe.submit(add, 1)
    gate.touch()
    assert [f.result(timeout=WAIT_S) for f in running] == [0, 1]
    done, _ = cf.wait(queued, timeout=0)  # cancelled futures count as done for waiters
    assert done == set(queued)


def test_ctrl_c_in_the_block_cancels_what_has_not_started(client, tmp_path):
    gate = tmp_path / "gate"
    with pytest.raises(KeyboardInterrupt):
        with Executor() as exe:
            running = [exe.submit(wait_for_file, str(gate), i) for i in range(2)]
            wait_until(lambda: all(f.running() for f in running), "both calls to start")
            queued = [exe.submit(add, i) for i in range(4)]
            # the running calls may end only once the queued ones are cancelled
            queued[-1].add_done_callback(lambda future: gate.touch())
            raise KeyboardInterrupt
    assert all(f.cancelled() for f in queued)
    assert [f.result(timeout=0) for f in running] == [0, 1]  # waited for by the exit


def test_leaving_map_early_cancels_the_rest(client, tmp_path):
    gate = tmp_path / "gate"
    with Executor() as exe:
        results = exe.map(wait_for_file, [str(gate)] * 6, range(6), timeout=0.5)
        with pytest.raises(TimeoutError):
            next(results)
        gate.touch()
        assert list(exe.map(add, [5])) == [5]


def test_a_call_that_kills_its_worker(own_cluster):
    with Executor(client=own_cluster) as exe:
        killer = exe.submit(die)
        others = [exe.submit(add, i, 1) for i in range(6)]
        assert [f.result(timeout=WAIT_S) for f in others] == [1, 2, 3, 4, 5, 6]
        with pytest.raises(KilledWorker, match="die-.*workers died while running it"):
            killer.result(timeout=4 * WAIT_S)
        assert exe.submit(add, 1, 1).result(timeout=WAIT_S) == 2


# -- init_function -------------------------------------------------------------------
def test_init_function_fills_parameters(client, tmp_path):
    with Executor(init_function=counting_init(tmp_path)) as exe:
        assert exe.submit(calc, 2, j=5).result() == 10     # 2 + 5 + 3; "l" ignored
        assert exe.submit(calc, 1).result() == 8
        assert list(exe.map(calc, [1, 2], chunksize=2)) == [8, 9]
        assert exe.submit(calc, 1, 1, 1).result() == 3
        name = exe._plugin
    # unregistered again from the client that stays running
    assert all(name not in plugins for plugins in client.run(
        lambda dask_worker: list(dask_worker.plugins)).values())


def test_init_function_once_per_worker_process(own_cluster, tmp_path):
    def counts():
        return {int(p.name.split("-")[1]): p.read_text().count("x")
                for p in tmp_path.glob("init-*")}

    def worker_pids():
        return set(own_cluster.run(os.getpid, on_error="ignore").values())

    with Executor(client=own_cluster, init_function=counting_init(tmp_path)) as exe:
        assert list(exe.map(calc, range(20))) == [i + 7 for i in range(20)]
        first = worker_pids()
        assert counts() == dict.fromkeys(first, 1)
        # kill -9 one worker process: its nanny starts a new one, which runs init again
        victim = next(iter(first))
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(worker_pids() - {victim}) == 2, "the killed worker's successor")
        # restart the other one through dask
        other = [addr for addr, p in own_cluster.run(os.getpid).items() if p in first]
        assert len(other) == 1
        own_cluster.restart_workers(other)
        wait_until(lambda: len(worker_pids()) == 2 and not worker_pids() & first,
                   "the restarted worker")
        assert list(exe.map(calc, range(20))) == [i + 7 for i in range(20)]
        assert counts() == dict.fromkeys(first | worker_pids(), 1)
        assert len(counts()) == 4


def test_init_function_errors_fail_the_calls(client):
    def broken():
        return ["not", "a", "dict"]

    with Executor(init_function=broken) as exe:
        with pytest.raises(TypeError, match="`init_function` has to return a dict"):
            exe.submit(calc, 1).result(timeout=WAIT_S)


def test_parallelmap_init_function(client, tmp_path):
    init = counting_init(tmp_path)
    with acme.ParallelMap(calc, [1, 2, 3], init_function=init,
                          write_worker_results=False) as pmap:
        assert pmap.compute() == [8, 9, 10]
    assert {p.read_text() for p in tmp_path.glob("init-*")} <= {"x\n"}
    assert all(pmap.func.name not in plugins for plugins in client.run(
        lambda dask_worker: list(dask_worker.plugins)).values())
    with acme.ParallelMap(calc, [1, 2], [5, 5], init_function=init,
                          write_worker_results=False) as pmap:
        assert pmap.compute(debug=True) == [9, 10]  # in this process, init runs here
    assert (tmp_path / f"init-{os.getpid()}").read_text() == "x\n"


# -- threads ---------------------------------------------------------------------------
def test_threads_per_worker_local(monkeypatch):
    # this machine runs a test SLURM; the local cluster is what is tested here
    monkeypatch.setattr("acme.clusters.detect.slurm_available", lambda: False)
    with Executor(max_workers=1, threads_per_worker=2) as exe:
        own = exe.client
        blas, env = exe.submit(thread_report).result(timeout=WAIT_S)
    assert own.status == "closed"  # started by the executor: stopped by it
    assert blas and set(blas) == {2}
    assert env == dict.fromkeys(THREAD_VARIABLES, "2")
    with acme.ParallelMap(thread_report, n_inputs=1, n_workers=1, threads_per_worker=2,
                          write_worker_results=False) as pmap:
        [(blas, env)] = pmap.compute()
    assert blas and set(blas) == {2}
    assert env == dict.fromkeys(THREAD_VARIABLES, "2")


def test_threads_set_before_the_script_imports_numpy(tmp_path):
    # Worker processes re-import the script (spawn), which loads OpenBLAS at once; and an
    # earlier cluster left OMP_NUM_THREADS=1 in this process's environment.
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import numpy
        import threadpoolctl
        import distributed
        import acme
        import acme.clusters.detect

        def blas_threads():
            return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                    if i["user_api"] == "blas"]

        if __name__ == "__main__":
            acme.clusters.detect.slurm_available = lambda: False  # a local cluster
            with distributed.LocalCluster(n_workers=1, dashboard_address=":0"):
                pass
            assert numpy and __import__("os").environ["OMP_NUM_THREADS"] == "1"
            with acme.Executor(max_workers=1, threads_per_worker=2) as exe:
                print("BLAS", exe.submit(blas_threads).result(timeout=60))
    """))
    env = {name: value for name, value in os.environ.items() if name not in THREAD_VARIABLES}
    env["PYTHONPATH"] = str(Path(acme.__file__).parents[1])
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=4 * WAIT_S, env=env, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "BLAS [2]" in proc.stdout.splitlines()


def test_local_cluster_setup_threads_survive_a_restart():
    # 2: OpenBLAS never starts more threads than the machine has cores (2 here)
    client = local_cluster_setup(n_workers=1, interactive=False, threads_per_worker=2)
    try:
        report = client.submit(thread_report, pure=False).result(timeout=WAIT_S)
        client.restart_workers(list(client.scheduler_info()["workers"]))
        assert client.submit(thread_report, pure=False).result(timeout=WAIT_S) == report
        assert set(report[0]) == {2}
        assert report[1] == dict.fromkeys(THREAD_VARIABLES, "2")
    finally:
        acme.cluster_cleanup(client)


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, message", [
    ({"max_workers": 0}, ValueError, "`max_workers` has to be an integer between 1"),
    ({"max_workers": "4"}, ValueError, "`max_workers` has to be 'auto' or an integer"),
    ({"max_workers": 2, "n_workers": 3}, TypeError, "either as `max_workers` or as"),
    ({"n_workers": 2.5}, ValueError, "`n_workers` has to be an integer"),
    ({"threads_per_worker": 0}, ValueError, "`threads_per_worker` has to be an integer between 1 and inf"),
    ({"threads_per_worker": "2"}, TypeError, "`threads_per_worker` has to be an integer"),
    ({"init_function": {"j": 1}}, TypeError, "`init_function` has to be None or a callable"),
    ({"mem_per_worker": "lots"}, ValueError, "`mem_per_worker` has to be a positive amount"),
    ({"partition": 3}, TypeError, "`partition` has to be a string"),
    ({"client": "tcp://x"}, TypeError, "`client` has to be a distributed.Client"),
])
def test_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        Executor(**kwargs)


def test_bad_input_starts_nothing_and_map_checks_chunksize(monkeypatch):
    monkeypatch.setattr("acme.clients.acquire_client", _no_cluster)
    exe = Executor()  # constructing starts no cluster
    with pytest.raises(ValueError, match="chunksize must be >= 1"):
        exe.map(add, [1], chunksize=0)
    with pytest.raises(TypeError, match="`fn` has to be callable"):
        exe.submit(3)
    exe.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        exe.submit(add, 1)
    with pytest.raises(TypeError, match="`init_function` has to be None or a callable"):
        acme.ParallelMap(calc, [1], init_function=3)
    with pytest.raises(ValueError, match="`threads_per_worker` has to be an integer between 1 and inf"):
        acme.ParallelMap(calc, [1], 2, 3, threads_per_worker=0)


def _no_cluster(*args, **kwargs):
    raise AssertionError("no cluster may be started here")


def test_dask_config_untouched():
    assert dask.config.get("distributed.nanny.pre-spawn-environ")["OMP_NUM_THREADS"] == 1
