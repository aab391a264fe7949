"""Client side: the results container ``<func>.h5``.

* HDF5 payloads: built in one pass once all calls are done. Groups ``comp_<i>`` are
  *relative* external links to ``<func>_payload/<func>_<i>.h5``; with ``result_shape`` a
  virtual dataset ``result_0`` stacks every payload's ``result_0`` (sources addressed
  relative to the container, so the output directory can be moved), and further return
  values are linked as ``comp_<i>/result_<k>``. Only calls that wrote an HDF5 payload are
  linked: the container never points at a missing file.
* Single file: the client writes every result into the container as it arrives. Workers
  never open the file, so no lock is needed and concurrent writers cannot exist.

Either way the container is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .outputs import atomic_path, publish
from .payloads import hdf5_datasets
from .tasks import CallOutcome

__all__ = ["build_link_container", "SingleFileWriter"]


def _final_shape(result_shape: tuple[float | None, ...], n_calls: int,
                 outcomes: Iterable[CallOutcome]) -> tuple[tuple[int, ...], tuple[int | None, ...]]:
    """Concrete shape and maxshape: None -> n_calls, np.inf -> the results' largest extent."""
    inner = [d for d in result_shape if d is not None]
    extents = [0 if d == np.inf else int(d) for d in inner]
    for outcome in outcomes:
        if outcome.shape is not None:
            extents = [max(e, s) if d == np.inf else e
                       for e, s, d in zip(extents, outcome.shape, inner)]
    it = iter(extents)
    shape = tuple(n_calls if d is None else next(it) for d in result_shape)
    maxshape = tuple(None if d == np.inf else s for d, s in zip(result_shape, shape))
    return shape, maxshape


def _slot(result_shape: tuple[float | None, ...], index: int, part: tuple[int, ...]
          ) -> tuple[Any, ...]:
    it = iter(part)
    return tuple(index if d is None else slice(0, next(it)) for d in result_shape)


def build_link_container(container: Path, payload_dir: Path, outcomes: list[CallOutcome | None],
                         result_shape: tuple[float | None, ...] | None, result_dtype: str
                         ) -> None:
    """Write the container of a run with HDF5 payloads (see module docstring)."""
    linked = [o for o in outcomes if o is not None and o.ok and o.path
              and o.path.endswith(".h5")]
    rel_dir = os.path.relpath(payload_dir, container.parent)
    tmp = atomic_path(container)
    try:
        with h5py.File(tmp, "w", libver="latest") as h5f:
            if result_shape is None:
                for o in linked:
                    h5f[f"comp_{o.index}"] = h5py.ExternalLink(
                        f"{rel_dir}/{os.path.basename(o.path)}", "/")
            else:
                shape, maxshape = _final_shape(result_shape, len(outcomes), linked)
                layout = h5py.VirtualLayout(shape=shape, dtype=np.dtype(result_dtype),
                                            maxshape=maxshape)
                for o in linked:
                    rel = f"{rel_dir}/{os.path.basename(o.path)}"
                    part = tuple(o.shape or ())
                    layout[_slot(result_shape, o.index, part)] = h5py.VirtualSource(
                        rel, "result_0", shape=part)
                h5f.create_virtual_dataset("result_0", layout, fillvalue=0)
                for o in linked:
                    if o.n_values > 1:
                        group = h5f.create_group(f"comp_{o.index}")
                        rel = f"{rel_dir}/{os.path.basename(o.path)}"
                        for k in range(1, o.n_values):
                            group[f"result_{k}"] = h5py.ExternalLink(rel, f"/result_{k}")
        publish(tmp, container)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class SingleFileWriter:
    """Writes each call's result into the one container as outcomes arrive."""

    def __init__(self, container: Path, n_calls: int,
                 result_shape: tuple[float | None, ...] | None, result_dtype: str) -> None:
        self.container = container
        self.result_shape = result_shape
        self._tmp = atomic_path(container)
        self._h5 = h5py.File(self._tmp, "w")
        self._data = None
        if result_shape is not None:
            shape, maxshape = _final_shape(result_shape, n_calls, [])
            unlimited = any(m is None for m in maxshape)
            self._data = self._h5.create_dataset(
                "result_0", shape=shape, maxshape=maxshape, dtype=np.dtype(result_dtype),
                chunks=True if unlimited else None, fillvalue=0)

    def write(self, outcome: CallOutcome) -> None:
        """Store one successful call's value (an unstorable value raises TypeError)."""
        value = outcome.value
        if self._data is None or self.result_shape is None:
            datasets = hdf5_datasets(value, shaped=False)
            group = self._h5.create_group(f"comp_{outcome.index}")
            try:
                for name, data in datasets.items():
                    group.create_dataset(name, data=data)
            except TypeError:
                del self._h5[f"comp_{outcome.index}"]
                raise
            return
        values = list(value) if isinstance(value, tuple) else [value]
        first = np.asarray(values[0])
        grow = [max(cur, new) if m is None else cur for cur, new, m in
                zip(self._data.shape, _embed(self.result_shape, first.shape), self._data.maxshape)]
        if tuple(grow) != self._data.shape:
            self._data.resize(tuple(grow))
        self._data[_slot(self.result_shape, outcome.index, first.shape)] = first
        if len(values) > 1:
            group = self._h5.create_group(f"comp_{outcome.index}")
            for k, extra in enumerate(values[1:], start=1):
                data = hdf5_datasets(extra, shaped=True)["result_0"]
                group.create_dataset(f"result_{k}", data=data)

    def close(self) -> None:
        """Finish the file and move it to its final name (also after a failure)."""
        self._h5.close()
        publish(self._tmp, self.container)


def _embed(result_shape: tuple[float | None, ...], part: tuple[int, ...]) -> tuple[int, ...]:
    it = iter(part)
    return tuple(0 if d is None else next(it) for d in result_shape)
