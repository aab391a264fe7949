"""Failures reported as themselves: a disk that fills up, or an output directory that
turns read-only or disappears in the middle of a run.

The disk is a small real tmpfs (mounting needs root; the tests are skipped otherwise),
filled by the mapped function itself at one call, as another program would.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from acme import ParallelMap, ParallelMapError

ROOT = Path(__file__).resolve().parents[1]
#: The call that fills the disk: the first of the last chunk, so that the calls of the
#: earlier chunks (dask runs them in order) have stored their results.
AT = 35


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs, unmounted again after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for a full disk: {proc.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(disk)], check=True, timeout=30)


def fill_disk(path: str) -> None:
    """Write ``path`` until the file system holding it is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for block in (1 << 16, 1 << 12):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)


def fills_disk_at(x, at, filler):
    if x == at:
        fill_disk(filler)
    return np.full(100, float(x))


def turns_read_only_at(x, at, directory):
    if x == at:
        # The remount is refused (busy) while the other worker has a payload open for
        # writing: try again, up to 10 s, as an administrator would.
        for _ in range(200):
            proc = subprocess.run(["mount", "-o", "remount,ro", directory],
                                  capture_output=True, text=True, timeout=30)
            if proc.returncode == 0:
                break
            time.sleep(0.05)  # builds the scenario (noqa: sleep-ok)
        else:
            raise RuntimeError(f"cannot remount {directory} read-only: {proc.stderr}")
    return np.full(100, float(x))


def deletes_output_at(x, at, directory):
    if x == at:
        # Another worker may create a payload file while the tree is removed (rmtree
        # then fails with "Directory not empty"): remove until it is gone.
        while os.path.exists(directory):
            shutil.rmtree(directory, ignore_errors=True)
    return np.full(100, float(x))


def open_hdf5_files() -> int:
    return h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)


def check_reported(err: ParallelMapError, n_calls: int, first_failed: int, reason: str,
                   stored: bool = True) -> None:
    """The error names every failed call with its reason, and lists every stored one."""
    assert first_failed in err.failed
    assert len(err.failed) < n_calls  # the calls before stored their results
    assert reason in err.failed[first_failed]
    for index, tb in err.failed.items():
        # Each failed on the file system: calls racing the fault may see another of the
        # file system's errors (HDF5: "can't retrieve stat info" while the directory goes).
        kind = re.findall(r"^(\w+Error):", tb, re.MULTILINE)[-1]
        assert kind in ("OSError", "FileNotFoundError", "PermissionError"), (index, kind)
    assert len(err.results) == n_calls
    for i, path in enumerate(err.results):
        assert (path is None) == (i in err.failed), i
        if path is not None and stored:
            with h5py.File(path, "r") as h5f:
                np.testing.assert_array_equal(h5f["result_0"][()], np.full(100, float(i)))
    assert err.container_error is not None and reason in err.container_error
    assert "the results container could not be written" in str(err)


@pytest.mark.usefixtures("client")
def test_full_disk_reports_the_failed_calls_not_the_log_file(small_disk, capfd):
    out = small_disk / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ParallelMapError) as err:
            with ParallelMap(fills_disk_at, list(range(40)), AT, str(small_disk / "filler"),
                             output_dir=str(out)) as pmap:
                pmap.compute(chunk_size=5)
    check_reported(err.value, 40, AT, "No space left on device")
    # the other calls of its chunk ran after it filled the disk, on the same worker
    assert set(range(AT, AT + 5)) <= set(err.value.failed)
    # The container on disk is the last checkpoint that could be written (the first one
    # is published before any call runs): complete, and every call it lists reads back.
    container = out / "fills_disk_at.h5"
    assert pmap.results_container == str(container)
    with h5py.File(container, "r") as h5f:
        listed = [name for name in h5f if name.startswith("comp_")]
        for name in listed:
            i = int(name.split("_")[1])
            assert i not in err.value.failed
            np.testing.assert_array_equal(h5f[name]["result_0"][()], np.full(100, float(i)))
    # the log file: its first lines are there, its write error was reported once
    [logfile] = out.glob("ACME_*.log")
    assert "This is ACME v." in logfile.read_text()
    [warning] = [w for w in caught if "could not write its log file" in str(w.message)]
    assert warning.category is RuntimeWarning
    assert f"{logfile} ([Errno 28] No space left on device)" in str(warning.message)
    assert "Logging error" not in capfd.readouterr().err
    assert open_hdf5_files() == 0


@pytest.mark.usefixtures("client")
def test_output_directory_turned_read_only(small_disk, tmp_path):
    out = small_disk / "out"
    with pytest.raises(ParallelMapError) as err:
        with ParallelMap(turns_read_only_at, list(range(40)), AT, str(small_disk),
                         output_dir=str(out), logfile=str(tmp_path / "run.log"),
                         verbose=False) as pmap:
            pmap.compute(chunk_size=5)
    check_reported(err.value, 40, AT, "Read-only file system")
    assert open_hdf5_files() == 0


@pytest.mark.usefixtures("client")
def test_output_directory_deleted(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ParallelMapError) as err:
        with ParallelMap(deletes_output_at, list(range(40)), AT, str(out),
                         output_dir=str(out), verbose=False) as pmap:
            pmap.compute(chunk_size=5)
    check_reported(err.value, 40, AT, "No such file or directory", stored=False)
    assert open_hdf5_files() == 0


SINGLE_FILE_SCRIPT = textwrap.dedent('''
    import gc
    import sys

    import distributed
    import h5py

    from acme import ParallelMap, ParallelMapError
    from tests.test_full_disk import fills_disk_at

    if __name__ == "__main__":
        disk = sys.argv[1]
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as cluster, \\
                distributed.Client(cluster):
            try:
                with ParallelMap(fills_disk_at, list(range(60)), 10, f"{disk}/filler",
                                 output_dir=f"{disk}/out", single_file=True,
                                 result_shape=(None, 100), verbose=False) as pmap:
                    pmap.compute(chunk_size=5)
            except ParallelMapError as err:  # a checkpoint or the final copy failed
                print("raised", type(err).__name__, "[Errno 28]" in err.container_error,
                      flush=True)
            except OSError as err:  # a result could not be written into the working copy
                print("raised", type(err).__name__, err.errno == 28, flush=True)
            del pmap
        gc.collect()  # h5py crashed here (SIGSEGV) on a file that failed to close
        print("open HDF5 files:", h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL,
                                                         h5py.h5f.OBJ_FILE), flush=True)
''')


def test_full_disk_single_file_closes_the_container(small_disk, tmp_path):
    script = tmp_path / "single_file_full.py"
    script.write_text(SINGLE_FILE_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(small_disk)], capture_output=True,
                          text=True, timeout=240, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The disk error is reported (as itself, or as the container error of the run), the
    # process does not crash at garbage collection, and no HDF5 file is left open.
    lines = proc.stdout.splitlines()
    assert lines[-1] == "open HDF5 files: 0"
    assert lines[0] in ("raised OSError True", "raised ParallelMapError True")
    # What is on disk under the container's name is its last checkpoint: complete, and
    # every call it holds has the right values.
    with h5py.File(small_disk / "out" / "fills_disk_at.h5", "r") as h5f:
        data = h5f["result_0"][()]
        failed = set(h5f.attrs.get("failed_tasks", []))
    for i, row in enumerate(data):
        if i not in failed and row.any():  # a slot not written yet holds zeros
            np.testing.assert_array_equal(row, np.full(100, float(i)))
