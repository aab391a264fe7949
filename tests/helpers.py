"""Helpers shared by the tests (reading what a run left on disk)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from acme.record import DONE

#: ParallelMap keywords of every storage mode, by a short name.
STORAGE_MODES = {
    "hdf5": {},
    "hdf5-shape": {"result_shape": (3, None)},
    "single": {"single_file": True},
    "single-shape": {"single_file": True, "result_shape": (3, None)},
    "pickle": {"write_pickle": True},
    "memory": {"write_worker_results": False},
    "memory-shape": {"write_worker_results": False, "result_shape": (3, None)},
}


def h5_tree(group: h5py.Group | Path) -> dict:
    """An HDF5 file or group as a dict: datasets by value (as lists), groups recursively,
    external links by their target ``(filename, path)``."""
    if isinstance(group, Path):
        with h5py.File(group, "r") as h5:
            return h5_tree(h5)
    tree: dict = {}
    for name in group:
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            tree[name] = (link.filename, link.path)
        elif isinstance(group[name], h5py.Group):
            tree[name] = h5_tree(group[name])
        else:
            tree[name] = np.asarray(group[name][()]).tolist()
    return tree


def done_calls(output_dir: Path, func: str = "work") -> int:
    """How many calls the run record of ``func`` in ``output_dir`` counts as done (0 while
    there is no record yet), read with plain h5py as any reader would."""
    path = output_dir / f"acme_run_{func}.h5"
    if not path.exists():
        return 0
    with h5py.File(path, "r") as h5f:
        return int((h5f["status"][()] == DONE).sum())
