"""One self-contained HDF5 file of a run (``acme merge``).

The container's external links and virtual datasets become real data; the run record
(and its inputs) are copied into the group ``acme_run``; pickled results, when asked for,
become opaque byte datasets ``comp_<i>/pickle``. The file is written under a temporary
name, read back and compared with the run's files, and only then renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from .errors import MergeError
from .record import FAILED, PICKLED, find_record, inputs_path, read_record
from .storage.paths import RunPaths, StorageMode, atomic_write

__all__ = ["merge_run", "MergeError"]

#: Rows of a virtual dataset copied at a time (bounds the memory of a merge).
_ROWS = 4096


def _copy_values(src: h5py.Group, dst: h5py.Group) -> None:
    """Copy ``src``'s members into ``dst`` as real data (links followed)."""
    for name in src:
        item = src[name]   # external links resolve here
        if isinstance(item, h5py.Group):
            _copy_values(item, dst.create_group(name))
        elif item.is_virtual or item.chunks is None:
            _copy_dataset(item, dst, name)
        else:
            src.file.copy(item, dst, name)
        for key, value in item.attrs.items():
            dst[name].attrs[key] = value


def _copy_dataset(item: h5py.Dataset, dst: h5py.Group, name: str) -> None:
    if item.shape == () or item.ndim == 0:
        dst.create_dataset(name, data=item[()])
        return
    out = dst.create_dataset(name, shape=item.shape, dtype=item.dtype,
                             maxshape=item.maxshape, chunks=item.chunks,
                             fillvalue=item.fillvalue)
    for start in range(0, item.shape[0], _ROWS):
        out[start:start + _ROWS] = item[start:start + _ROWS]


def _same(a: h5py.Group, b: h5py.Group) -> bool:
    """Whether every dataset of ``a`` is in ``b`` with equal values."""
    for name in a:
        x, y = a[name], b.get(name)
        if isinstance(x, h5py.Group):
            if not isinstance(y, h5py.Group) or not _same(x, y):
                return False
        elif not isinstance(y, h5py.Dataset) or x.shape != y.shape or \
                not np.array_equal(x[()], y[()]):
            return False
    return True


def merge_run(output_dir: str | os.PathLike[str], target: str | os.PathLike[str],
              pickles: bool = False) -> Path:
    """Write the run in ``output_dir`` into the one file ``target``; return its path.

    Raises
    ------
    FileNotFoundError
        If ``output_dir`` holds no run.
    FileExistsError
        If ``target`` exists (never overwritten).
    MergeError
        If the run holds pickled results and ``pickles`` is False.
    """
    folder, target = Path(output_dir), Path(target)
    record = find_record(folder)
    attrs, calls = read_record(record)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new file name (never overwritten)")
    storage = StorageMode(str(attrs["storage"]))
    paths = RunPaths(folder, str(attrs["func_name"]), storage)
    pickled = [i for i, s in enumerate(calls.status)
               if s == PICKLED or (storage == StorageMode.PICKLE and s != FAILED and s != 0)]
    if pickled and not pickles:
        raise MergeError(f"the run in {folder} holds {len(pickled)} pickled results "
                         f"(e.g. task {pickled[0]}), which HDF5 stores only as opaque "
                         "bytes; add --pickles to include them so")
    container = folder / str(attrs["container"]) if attrs.get("container") else None
    with atomic_write(target) as tmp:
        with h5py.File(tmp, "w") as out:
            if container is not None:
                with h5py.File(container, "r") as src:
                    _copy_values(src, out)
                    for key, value in src.attrs.items():
                        out.attrs[key] = value
            for i in pickled:
                path = paths.pickle(i)
                group = out.require_group(f"comp_{i}")
                group.create_dataset("pickle", data=np.void(path.read_bytes()))
            run = out.create_group("acme_run")
            with h5py.File(record, "r") as src:
                for key, value in src.attrs.items():
                    run.attrs[key] = value
                for member in src:
                    if isinstance(src.get(member, getlink=True), h5py.ExternalLink):
                        continue
                    src.copy(src[member], run, member)
            with h5py.File(inputs_path(folder, paths.func_name), "r") as src:
                inputs = run.create_group("inputs")
                for member in src:
                    src.copy(src[member], inputs, member)
                for key, value in src.attrs.items():
                    inputs.attrs[key] = value
        with h5py.File(tmp, "r") as out:   # read back before publishing
            if container is not None:
                with h5py.File(container, "r") as src:
                    if not _same(src, out):
                        raise OSError(f"{target}: the merged values differ from the "
                                      f"container {container}")
    return target
