"""Client side: the results container ``<func>.h5``.

* HDF5 payloads: built in one pass once all calls are done. Groups ``comp_<i>`` are
  *relative* external links to ``<func>_payload/<func>_<i>.h5``; with ``result_shape`` a
  virtual dataset ``result_0`` stacks every payload's ``result_0`` (sources addressed
  relative to the container, so the output directory can be moved), and further return
  values are linked as ``comp_<i>/result_<k>``. Only calls that wrote an HDF5 payload are
  linked: the container never points at a missing file.
* Single file: the client writes every result into a working copy of the container as it
  arrives. Workers never open the file, so no lock is needed and concurrent writers cannot
  exist. At each checkpoint the working copy is flushed, copied and the copy renamed to
  the container's name; a resumed run continues from a copy of the container.

Either way the container is written under a temporary name and renamed when complete, so
the file under the container's name is always a complete HDF5 file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..log import get_logger
from ..tasks import CallOutcome
from .paths import atomic_path, atomic_write, publish
from .payloads import closing_hdf5, discard_writes, fit_result, hdf5_datasets

__all__ = ["build_link_container", "SingleFileWriter"]


def _final_shape(result_shape: tuple[float | None, ...], n_calls: int,
                 outcomes: Iterable[CallOutcome], grid: tuple[int, ...] | None = None
                 ) -> tuple[tuple[int, ...], tuple[int | None, ...]]:
    """Concrete shape and maxshape: None -> n_calls (or the ``grid``'s axes), np.inf ->
    the results' largest extent."""
    inner = [d for d in result_shape if d is not None]
    extents = [0 if d == np.inf else int(d) for d in inner]
    for outcome in outcomes:
        if outcome.shape is not None:
            extents = [max(e, s) if d == np.inf else e
                       for e, s, d in zip(extents, outcome.shape, inner, strict=True)]
    it = iter(extents)
    shape: list[int] = []
    maxshape: list[int | None] = []
    for d in result_shape:
        if d is None:
            shape += grid or (n_calls,)
            maxshape += grid or (n_calls,)
        else:
            shape.append(next(it))
            maxshape.append(None if d == np.inf else shape[-1])
    return tuple(shape), tuple(maxshape)


def _slot(result_shape: tuple[float | None, ...], index: int, part: tuple[int, ...],
          grid: tuple[int, ...] | None = None) -> tuple[Any, ...]:
    """Where call ``index``'s result of shape ``part`` goes in the stacked dataset (on a
    ``grid``, call ``index`` sits at its C-order position)."""
    it = iter(part)
    stack = tuple(int(i) for i in np.unravel_index(index, grid)) if grid else (index,)
    slot: list[Any] = []
    for d in result_shape:
        slot += stack if d is None else [slice(0, next(it))]
    return tuple(slot)


def _zero(dtype: np.dtype) -> np.ndarray:
    # A fill value of the dataset's own type (a plain 0 cannot be converted to complex).
    return np.zeros((), dtype=dtype)


def record_missing(h5f: h5py.File, outcomes: list[CallOutcome | None]) -> None:
    """Store which calls have no HDF5 result in the container, as root attributes
    ``failed_tasks`` and ``pickled_tasks``: their slots of a stacked ``result_0`` hold the
    fill value (0), which is not a result."""
    done = [o for o in outcomes if o is not None]
    h5f.attrs["failed_tasks"] = np.array([o.index for o in done if not o.ok], dtype=np.int64)
    h5f.attrs["pickled_tasks"] = np.array(
        [o.index for o in done if o.ok and o.path is not None and o.path.endswith(".pickle")],
        dtype=np.int64)


#: With ``result_shape`` (no ``np.inf`` dimension, no ``result_grid``), a run of more
#: calls than this stacks its results in two levels: ``<func>_payload/blocks/block_<k>.h5``
#: maps the payloads of calls ``k * VDS_BLOCK`` to ``(k + 1) * VDS_BLOCK - 1``, and the
#: container maps the blocks. HDF5 holds about 15 kB per mapping while it writes a
#: virtual dataset (and a reader about 4 kB while it reads one): one level would cost the
#: driver that much per call at every checkpoint.
VDS_BLOCK = 1024

#: The folder of the block files, inside the payload folder.
BLOCKS = "blocks"


def build_link_container(container: Path, payload_dir: Path, outcomes: list[CallOutcome | None],
                         result_shape: tuple[float | None, ...] | None, result_dtype: str,
                         grid: tuple[int, ...] | None = None,
                         extra: Callable[[h5py.File], None] | None = None,
                         written: dict[int, Any] | None = None) -> None:
    """Write the container of a run with HDF5 payloads (see module docstring).

    ``grid`` replaces the stacking dimension by these axes (calls in C order); ``extra``
    adds more to the open file before it is published. ``written`` remembers, from one
    checkpoint to the next, which block files are current (see :data:`VDS_BLOCK`): only
    blocks whose calls changed are written again.
    """
    rel_dir = os.path.relpath(payload_dir, container.parent)
    # (outcome, payload path relative to the container) of every call with an HDF5 payload
    linked = [(o, f"{rel_dir}/{os.path.basename(o.path)}") for o in outcomes
              if o is not None and o.ok and o.path is not None and o.path.endswith(".h5")]
    blocked = (result_shape is not None and grid is None and np.inf not in result_shape
               and len(outcomes) > VDS_BLOCK)
    with atomic_write(container) as tmp, \
            closing_hdf5(h5py.File(tmp, "w", libver="latest")) as h5f:
        if result_shape is None:
            links = h5f.id.links  # low-level: a third of the high-level API's time
            for o, rel in linked:
                links.create_external(f"comp_{o.index}".encode(), rel.encode(), b"/")
        elif blocked:
            dtype = np.dtype(result_dtype)
            _blocked_vds(h5f, payload_dir, rel_dir, len(outcomes), [o for o, _ in linked],
                         result_shape, dtype, {} if written is None else written)
        else:
            dtype = np.dtype(result_dtype)
            shape, maxshape = _final_shape(result_shape, len(outcomes),
                                           [o for o, _ in linked], grid)
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype, maxshape=maxshape)
            for o, rel in linked:
                part = tuple(o.shape or ())
                layout[_slot(result_shape, o.index, part, grid)] = h5py.VirtualSource(
                    rel, "result_0", shape=part)
            h5f.create_virtual_dataset("result_0", layout, fillvalue=_zero(dtype))
        if result_shape is not None:
            for o, rel in linked:
                if o.n_values > 1:
                    group = h5f.create_group(f"comp_{o.index}")
                    for k in range(1, o.n_values):
                        group[f"result_{k}"] = h5py.ExternalLink(rel, f"/result_{k}")
        record_missing(h5f, outcomes)
        if extra is not None:
            extra(h5f)


def _block_shape(result_shape: tuple[float | None, ...], n: int) -> tuple[int, ...]:
    return tuple(n if d is None else int(d) for d in result_shape)


def _blocked_vds(h5f: h5py.File, payload_dir: Path, rel_dir: str, n_calls: int,
                 done: list[CallOutcome], result_shape: tuple[float | None, ...],
                 dtype: np.dtype, written: dict[int, Any]) -> None:
    """``result_0`` of ``h5f`` as a virtual dataset of block files (see
    :data:`VDS_BLOCK`); writes the block files whose calls differ from ``written``."""
    by_block: dict[int, list[CallOutcome]] = {}
    for o in done:
        by_block.setdefault(o.index // VDS_BLOCK, []).append(o)
    folder = payload_dir / BLOCKS
    folder.mkdir(exist_ok=True)
    shape = _block_shape(result_shape, n_calls)
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype, maxshape=shape)
    for k, calls in sorted(by_block.items()):
        start = k * VDS_BLOCK
        size = min(VDS_BLOCK, n_calls - start)
        path = folder / f"block_{k}.h5"
        signature = tuple((o.index, o.shape) for o in calls)
        if written.get(k) != signature or not path.exists():
            part_layout = h5py.VirtualLayout(shape=_block_shape(result_shape, size),
                                             dtype=dtype)
            for o in calls:
                part = tuple(o.shape or ())
                # relative to the block file, so the output directory can be moved
                part_layout[_slot(result_shape, o.index - start, part)] = \
                    h5py.VirtualSource(f"../{os.path.basename(o.path or '')}", "result_0",
                                       shape=part)
            with atomic_write(path) as tmp, \
                    closing_hdf5(h5py.File(tmp, "w", libver="latest")) as block:
                block.create_virtual_dataset("result_0", part_layout, fillvalue=_zero(dtype))
            written[k] = signature
        slot = tuple(slice(start, start + size) if d is None else slice(0, int(d))
                     for d in result_shape)
        layout[slot] = h5py.VirtualSource(f"{rel_dir}/{BLOCKS}/block_{k}.h5", "result_0",
                                          shape=_block_shape(result_shape, size))
    h5f.create_virtual_dataset("result_0", layout, fillvalue=_zero(dtype))


class SingleFileWriter:
    """Writes each call's result into the one container as outcomes arrive.

    Only the client process writes, one outcome at a time, so there is no lock and
    no concurrent writer. A value HDF5 cannot hold raises ``TypeError`` before the
    file is touched (the caller pickles it instead); any other error is a real write
    error and propagates unchanged. After such an error :meth:`close` neither raises
    (which would hide the original error) nor publishes the incomplete file, which may
    well be unreadable (e.g. after a full disk): it keeps its temporary name, and a
    warning says where. The file is closed on every path (see
    :func:`~acme.storage.payloads.close_hdf5`).
    """

    def __init__(self, container: Path, n_calls: int,
                 result_shape: tuple[float | None, ...] | None, result_dtype: str,
                 grid: tuple[int, ...] | None = None,
                 extra: Callable[[h5py.File], None] | None = None,
                 resume: bool = False) -> None:
        self.container = container
        self.result_shape = result_shape
        self.grid = grid
        self.extra = extra  # adds more to the file before it is published
        self.result_dtype = result_dtype
        self.failed = False
        self._tmp = atomic_path(container)
        if resume and container.exists():
            # Continue from the last checkpoint; the published file stays as it is.
            shutil.copyfile(container, self._tmp)
            self._h5 = h5py.File(self._tmp, "a")
        else:
            self._h5 = h5py.File(self._tmp, "w")
        self._data = None
        if "result_0" in self._h5:
            self._data = self._h5["result_0"]
        elif result_shape is not None:
            dtype = np.dtype(result_dtype)
            shape, maxshape = _final_shape(result_shape, n_calls, [], grid)
            unlimited = any(m is None for m in maxshape)
            self._data = self._h5.create_dataset(
                "result_0", shape=shape, maxshape=maxshape, dtype=dtype,
                chunks=True if unlimited else None, fillvalue=_zero(dtype))

    def write(self, outcome: CallOutcome) -> None:
        """Store one successful call's value.

        Raises, with the file untouched, :class:`~acme.storage.payloads.ResultShapeError` or
        :class:`~acme.storage.payloads.ResultTypeError` if the first value does not fit the
        ``result_shape`` dataset, and ``TypeError`` if HDF5 cannot hold a value.
        """
        shaped = self._data is not None
        datasets = hdf5_datasets(outcome.value, shaped=shaped)
        first = datasets.pop("result_0", None) if shaped else None
        if first is not None and self.result_shape is not None:
            # Converted by the worker already; checked again where the file is written.
            first = fit_result(first, self.result_shape, self.result_dtype)
        try:
            name = f"comp_{outcome.index}"
            if name in self._h5:  # written after the last checkpoint the record knew of
                del self._h5[name]
            if datasets or not shaped:
                group = self._h5.create_group(f"comp_{outcome.index}")
                for name, data in datasets.items():
                    group.create_dataset(name, data=data)
            if first is not None:
                self._store_first(outcome.index, first)
        except BaseException:
            self.failed = True
            with contextlib.suppress(Exception):  # so that close() can close it
                discard_writes(self._h5.id)
            raise

    def _store_first(self, index: int, first: np.ndarray) -> None:
        assert self._data is not None and self.result_shape is not None
        grow = tuple(max(cur, new) if m is None else cur for cur, new, m in
                     zip(self._data.shape, _embed(self.result_shape, first.shape, self.grid),
                         self._data.maxshape, strict=True))
        if grow != self._data.shape:
            self._data.resize(grow)
        self._data[_slot(self.result_shape, index, first.shape, self.grid)] = first

    def checkpoint(self, outcomes: list[CallOutcome | None]) -> None:
        """Publish a complete copy of the file as it is now (the copy is flushed, then
        renamed to the container's name). Not after a write error: the last published
        copy stays."""
        if self.failed:
            return
        record_missing(self._h5, outcomes)
        self._h5.flush()
        with atomic_write(self.container) as tmp:
            shutil.copyfile(self._tmp, tmp)

    def discard(self) -> None:
        """Close and remove the working copy (nothing was written to it yet)."""
        self._h5.close()
        os.unlink(self._tmp)

    def close(self, outcomes: list[CallOutcome | None], quiet: bool = False) -> None:
        """Finish the file and move it to its final name (also after a failed call).

        If the file cannot be finished, it is closed and left under its temporary name
        (with a warning); the error is raised unless ``quiet`` (another error is on its
        way to the user) or a write error was raised already.
        """
        try:
            with closing_hdf5(self._h5) as h5f:
                if not self.failed:
                    record_missing(h5f, outcomes)
                    if self.extra is not None:
                        self.extra(h5f)
            if not self.failed:
                publish(self._tmp, self.container)
                return
        except Exception:
            already_reported, self.failed = self.failed, True
            if not (quiet or already_reported):
                self._warn_incomplete()
                raise
        self._warn_incomplete()

    def _warn_incomplete(self) -> None:
        get_logger().warning(
            "Writing to the results container failed; the incomplete file is left as %s "
            "(not renamed to %s; it may be unreadable)%s", self._tmp, self.container.name,
            "; the container holds the last checkpoint" if self.container.exists() else "")


def _embed(result_shape: tuple[float | None, ...], part: tuple[int, ...],
           grid: tuple[int, ...] | None = None) -> tuple[int, ...]:
    it = iter(part)
    out: list[int] = []
    for d in result_shape:
        out += [0] * len(grid or (0,)) if d is None else [next(it)]
    return tuple(out)
