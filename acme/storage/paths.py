"""Where a run puts its files: the storage modes, and one object that derives every name.

Layout (ACME's)::

    ACME_YYYYMMDD-hhmmss-ffffff/        # or output_dir
      <func>.h5                         # container (hdf5 and single-file storage)
      <func>_payload/<func>_<i>.h5      # one payload per call (hdf5 storage)
      <func>_payload/<func>_<i>.pickle  # a call whose result HDF5 cannot hold
      <func>_<i>.pickle                 # write_pickle=True, and single_file=True for a
                                        #   call whose result HDF5 cannot hold
      ACME_<func>_<YYYYmmdd-HHMMSS>.log # log file
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

__all__ = ["StorageMode", "RunPaths", "payload_name", "pickle_name", "auto_dir_name",
           "AUTO_DIR_PATTERN", "atomic_path", "publish", "atomic_write"]


class StorageMode(str, Enum):
    """Where a run keeps its results (a ``str``: records and JSON hold the value)."""

    HDF5 = "hdf5"      # one HDF5 payload per call, linked by the container
    SINGLE = "single"  # every result in the container (single_file=True)
    PICKLE = "pickle"  # one pickle per call (write_pickle=True)
    MEMORY = "memory"  # collected by the driver (write_worker_results=False)

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def has_container(self) -> bool:
        """Whether the run writes the container ``<func>.h5``."""
        return self in (StorageMode.HDF5, StorageMode.SINGLE)


def payload_name(func_name: str, index: int) -> str:
    """File name of call ``index``'s HDF5 payload."""
    return f"{func_name}_{index}.h5"


def pickle_name(func_name: str, index: int) -> str:
    """File name of call ``index``'s pickle (``write_pickle=True`` or emergency)."""
    return f"{func_name}_{index}.pickle"

#: Names of auto-generated output directories; only these are ever cleaned up.
AUTO_DIR_PATTERN = re.compile(r"^ACME_\d{8}-\d{6}-\d{6}$")


def auto_dir_name(now: datetime | None = None) -> str:
    """``ACME_YYYYMMDD-hhmmss-ffffff`` for ``now``."""
    return (now or datetime.now()).strftime("ACME_%Y%m%d-%H%M%S-%f")


@dataclass(frozen=True)
class RunPaths:
    """All file names of one run, derived from the output directory and function name."""

    output_dir: Path
    func_name: str
    storage: StorageMode

    @property
    def container(self) -> Path | None:
        """The results container, or None when pickling."""
        if StorageMode(self.storage).has_container:
            return self.output_dir / f"{self.func_name}.h5"
        return None

    @property
    def payload_dir(self) -> Path:
        """Directory of per-call files: ``<func>_payload`` for HDF5 payloads, else the
        output directory itself (pickles, and the emergency pickles of a single file)."""
        if self.storage == StorageMode.HDF5:
            return self.output_dir / f"{self.func_name}_payload"
        return self.output_dir

    def payload(self, index: int) -> Path:
        """Per-call HDF5 payload of call ``index``."""
        return self.payload_dir / payload_name(self.func_name, index)

    def pickle(self, index: int) -> Path:
        """Per-call pickle of call ``index``."""
        return self.payload_dir / pickle_name(self.func_name, index)

    def default_logfile(self, started: datetime) -> Path:
        """ACME's default log-file name inside the output directory."""
        return self.output_dir / f"ACME_{self.func_name}_{started:%Y%m%d-%H%M%S}.log"

    def existing_results(self) -> list[Path]:
        """Files or folders of this layout that already exist (never overwritten)."""
        candidates = [self.container,
                      self.payload_dir if self.storage == StorageMode.HDF5 else None]
        found = [p for p in candidates if p is not None and p.exists()]
        if self.storage == StorageMode.PICKLE and self.output_dir.is_dir():
            found += sorted(self.output_dir.glob(f"{self.func_name}_*.pickle"))[:1]
        return found


def atomic_path(final: Path | str) -> str:
    """A unique temporary name next to ``final``, to be :func:`publish`-ed when complete."""
    final = str(final)
    return f"{final}.{uuid.uuid4().hex[:12]}.tmp"


def publish(tmp: str, final: Path | str) -> None:
    """Move a completed temporary file to its final name (atomic on POSIX)."""
    os.replace(tmp, final)


@contextmanager
def atomic_write(final: Path | str) -> Iterator[str]:
    """Yield a temporary name to write ``final`` under; publish it if the block
    completes, remove it if the block raises. Readers never see a partial file."""
    tmp = atomic_path(final)
    try:
        yield tmp
        publish(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
