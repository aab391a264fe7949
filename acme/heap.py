"""Worker side: keep glibc from mapping and unmapping memory once per HDF5 file.

Every HDF5 file opens with a 512 KiB metadata-cache table (``calloc``) that is freed when
the file closes. glibc serves an allocation that large from the heap once its *dynamic*
mmap threshold has grown past it, and then reuses the same memory for every next file.
Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set (64 KiB by default, so
that freed memory goes back to the system). Setting that variable switches the dynamic
threshold off, so in a dask worker every payload file costs a fresh ``mmap``, about 130
page faults on zeroed pages, and a ``munmap``: on the benchmark machine that doubled the
time to write a small payload (1.4 s -> 2.9 s for 5,000 files).

:func:`payload_heap` raises the two thresholds while a chunk of calls writes its files and
puts back the values the process was started with afterwards, then returns the freed
memory to the system (``malloc_trim``), so the worker's memory use looks as before. It
does nothing where the variable is not set (glibc adapts by itself there) or where the C
library has no ``mallopt`` (macOS, Windows).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["payload_heap"]

# mallopt parameters (glibc's <malloc.h>)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Thresholds while a chunk writes HDF5 files: above the 512 KiB table, far below 1 GiB.
_CHUNK_MMAP_THRESHOLD = 1 << 20
_CHUNK_TRIM_THRESHOLD = 4 << 20
_GLIBC_MMAP_THRESHOLD = 128 * 1024   # glibc's default when MALLOC_MMAP_THRESHOLD_ is unset

_lock = threading.Lock()
_active = 0   # chunks inside payload_heap in this process (worker threads share the heap)


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    """glibc's ``mallopt`` and ``malloc_trim``, or None where they do not exist."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def _started_with() -> tuple[int, int] | None:
    """The (trim, mmap) thresholds fixed by the environment, or None if glibc's dynamic
    threshold is in charge (or the values cannot be read)."""
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    if trim is None:
        return None
    try:
        return int(trim), int(os.environ.get("MALLOC_MMAP_THRESHOLD_",
                                             _GLIBC_MMAP_THRESHOLD))
    except ValueError:
        return None


@contextmanager
def payload_heap() -> Iterator[None]:
    """Keep per-file HDF5 allocations on the heap for the duration of the block."""
    global _active
    libc, started = _libc(), _started_with()
    if libc is None or started is None:
        yield
        return
    with _lock:
        if _active == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, max(_CHUNK_MMAP_THRESHOLD, started[1]))
            libc.mallopt(_M_TRIM_THRESHOLD, max(_CHUNK_TRIM_THRESHOLD, started[0]))
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                libc.mallopt(_M_TRIM_THRESHOLD, started[0])
                libc.mallopt(_M_MMAP_THRESHOLD, started[1])
                libc.malloc_trim(0)
