"""Payload files in a process started the way dask's nanny starts workers.

``MALLOC_TRIM_THRESHOLD_`` (dask sets 64 KiB) switches off glibc's dynamic mmap threshold,
so without :func:`acme.heap.payload_heap` every HDF5 file maps, faults in and unmaps a
fresh 512 KiB table. Counted here as minor page faults of a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import pytest

from acme import heap

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="glibc's mallopt only")

ROOT = Path(__file__).resolve().parents[1]
N_FILES = 100

SCRIPT = f"""
import json, resource, sys
from acme.heap import payload_heap
from acme.storage.payloads import StorageSpec, write_result

spec = StorageSpec("hdf5", sys.argv[1], "f")

def faults(start):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(start, start + {N_FILES}):
        write_result(float(i), i, spec)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults(1000)                      # imports and first-file set-up out of the way
outside = faults(0)
with payload_heap():
    faults(2000)
    inside = faults({N_FILES})
after = faults({2 * N_FILES})
print(json.dumps([outside, inside, after]))
"""


def page_faults(tmp_path: Path, trim_threshold: str | None) -> list[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = str(ROOT)
    if trim_threshold is not None:
        env["MALLOC_TRIM_THRESHOLD_"] = trim_threshold
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


def test_payload_files_stay_on_the_heap_in_a_dask_like_worker(tmp_path):
    outside, inside, after = page_faults(tmp_path, "65536")
    # Without the fix every file faults in its 512 KiB table (128 pages) anew ...
    assert outside >= 100 * N_FILES
    # ... with it, the table is reused ...
    assert inside < outside / 10
    # ... and the process gets its own settings back when the block ends.
    assert after >= 100 * N_FILES
    # Every file was written and reads back.
    with h5py.File(tmp_path / f"f_{N_FILES + 7}.h5", "r") as h5f:
        assert h5f["result_0"][()].tolist() == [N_FILES + 7.0]


def test_nothing_changes_where_glibc_adapts_by_itself(tmp_path):
    outside, inside, after = page_faults(tmp_path, None)
    assert outside < 10 * N_FILES and inside < 10 * N_FILES and after < 10 * N_FILES


class RecordingLibc:
    """Stands in for glibc where the real one cannot be observed (mallopt has no getter)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int] | tuple[str, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_overlapping_blocks_in_threads_set_once_and_restore_once(monkeypatch):
    libc = RecordingLibc()
    monkeypatch.setattr(heap, "_libc", lambda: libc)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    entered, release = threading.Barrier(3), threading.Event()

    def chunk() -> None:
        with heap.payload_heap():
            entered.wait()
            release.wait()

    threads = [threading.Thread(target=chunk) for _ in range(2)]
    for t in threads:
        t.start()
    entered.wait()
    assert libc.calls == [("mallopt", heap._M_MMAP_THRESHOLD, 1 << 20),
                          ("mallopt", heap._M_TRIM_THRESHOLD, 4 << 20)]
    release.set()
    for t in threads:
        t.join()
    assert libc.calls[2:] == [("mallopt", heap._M_TRIM_THRESHOLD, 65536),
                              ("mallopt", heap._M_MMAP_THRESHOLD, 128 * 1024),
                              ("malloc_trim", 0)]
    assert heap._active == 0


@pytest.mark.parametrize("value", [None, "lots"])
def test_left_alone_without_a_readable_trim_threshold(monkeypatch, value):
    libc = RecordingLibc()
    monkeypatch.setattr(heap, "_libc", lambda: libc)
    if value is None:
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    else:
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", value)
    with heap.payload_heap():
        pass
    assert libc.calls == []
