"""Worker side: write one call's return value to its own file.

Every file is written under a temporary name and renamed when complete, so a payload
that exists is always whole, and a call only ever writes its own file names.

A return value is turned into HDF5 datasets in two steps: :func:`hdf5_datasets` first
converts every value to an array HDF5 can hold (or raises ``TypeError`` naming the value
that has no HDF5 form), and only then is a file opened. So emergency pickling is
triggered by unstorable values only, never by an I/O error, and no half-written HDF5
file is ever left behind.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cloudpickle
import h5py
import numpy as np

from ..errors import ResultShapeError, ResultTypeError
from .paths import RunPaths, StorageMode, atomic_write, payload_name, pickle_name

__all__ = ["StorageSpec", "as_row", "write_result", "write_pickle", "pickled_warning", "hdf5_datasets",
           "to_dataset", "check_shape", "fit_result", "ResultShapeError", "ResultTypeError",
           "close_hdf5", "closing_hdf5", "discard_writes"]

_H5 = TypeVar("_H5", h5py.File, h5py.h5f.FileID)

#: dtype kinds that fit a numeric ``result_shape`` dataset (bool, int, uint, float, complex).
_NUMERIC_KINDS = "biufc"


@dataclass(frozen=True)
class StorageSpec:
    """What a worker needs to store results (plain data, sent once per run)."""

    storage: StorageMode
    payload_dir: str                 # RunPaths.payload_dir ("" in memory)
    func_name: str
    result_shape: tuple[float | None, ...] | None = None
    result_dtype: str | None = None  # dtype of the result_shape dataset (None: unchecked)

    @classmethod
    def for_run(cls, storage: StorageMode, paths: RunPaths | None, func_name: str,
                result_shape: tuple[float | None, ...] | None = None,
                result_dtype: str | None = None) -> StorageSpec:
        """The spec of a run writing to ``paths`` (None: results in memory)."""
        return cls(storage, "" if paths is None else str(paths.payload_dir), func_name,
                   result_shape, result_dtype)

    def payload(self, index: int) -> str:
        return os.path.join(self.payload_dir, payload_name(self.func_name, index))

    def pickle(self, index: int) -> str:
        return os.path.join(self.payload_dir, pickle_name(self.func_name, index))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (numbers.Number, np.number, np.bool_)) and not isinstance(value, bool)


def _no_hdf5(value: Any, why: str) -> TypeError:
    return TypeError(f"a return value of type {type(value).__name__} has no HDF5 "
                     f"equivalent: {why}")


def _check_text(value: Any, items: Any) -> None:
    """Raise unless HDF5 keeps every string and bytes item of ``items`` exactly.

    HDF5 strings end at a NUL character, and NumPy and HDF5 drop trailing NUL bytes
    of fixed-length bytes (``b"ab\\x00\\x00"`` would read back as ``b"ab"``).
    """
    for item in items:
        if isinstance(item, str) and "\x00" in item:
            raise _no_hdf5(value, "HDF5 strings cannot hold NUL characters")
        if isinstance(item, bytes) and item.endswith(b"\x00"):
            raise _no_hdf5(value, "HDF5 would drop the trailing NUL bytes of bytes")


def to_dataset(value: Any) -> np.ndarray:
    """One return value as an array h5py can write, which reads back exactly.

    Strings (also lists and arrays of strings) become variable-length UTF-8 strings,
    which h5py reads back as ``bytes``; bytes are stored as fixed-length bytes. Anything
    else HDF5 cannot hold (dicts, ``None``, object arrays, ragged nesting, sparse
    matrices, custom classes), or could hold only altered (strings with NUL
    characters, bytes ending in NUL bytes), raises ``TypeError``.
    """
    if isinstance(value, str):
        _check_text(value, [value])
        return np.array(value, dtype=h5py.string_dtype())
    try:
        array = np.asarray(value)
    except ValueError as err:        # ragged nested sequences
        raise _no_hdf5(value, str(err)) from None
    if array.dtype.kind in "SU":
        # NumPy has already dropped trailing NULs: check the values as returned.
        _check_text(value, array.flat if isinstance(value, np.ndarray)
                    else np.asarray(value, dtype=object).flat)
    if array.dtype.kind == "U":
        return array.astype(h5py.string_dtype())
    if array.dtype.kind == "O":
        if array.size and all(isinstance(item, str) for item in array.flat):
            _check_text(value, array.flat)
            return array.astype(h5py.string_dtype())
        raise _no_hdf5(value, "NumPy makes it an object array")
    try:
        h5py.h5t.py_create(array.dtype, logical=True)
    except TypeError as err:
        raise _no_hdf5(value, str(err)) from None
    return array


def hdf5_datasets(result: Any, shaped: bool) -> dict[str, np.ndarray]:
    """ACME's write rule: which datasets a return value becomes.

    A tuple holds several return values (without ``result_shape`` also a list, as in
    ACME); anything else is one value. Without ``result_shape``, values that are all
    numbers (or all strings) are stored together as one vector ``result_0`` (so a scalar
    18 reads back as ``[18]``); otherwise, and always with ``result_shape``, each value
    ``k`` becomes its own dataset ``result_<k>``. ``None`` gives no dataset at all.

    Raises ``TypeError`` if a value has no HDF5 form (see :func:`to_dataset`).
    """
    if result is None:
        return {}
    several = isinstance(result, tuple) or (not shaped and isinstance(result, list))
    values = list(result) if several else [result]
    if not shaped and values and (all(_is_scalar(v) for v in values)
                                  or all(isinstance(v, str) for v in values)):
        return {"result_0": to_dataset(values)}
    return {f"result_{k}": to_dataset(v) for k, v in enumerate(values)}


def as_row(result: Any, result_shape: tuple[float | None, ...]) -> Any:
    """A tuple of numbers that exactly fills one row of a 1-D ``result_shape`` row
    (e.g. three scores for ``result_shape=(None, 3)``) is that row: one return value,
    as an array. Any other result is returned unchanged (a tuple then holds several
    return values, the first of which is stacked)."""
    row = [dim for dim in result_shape if dim is not None]
    if (isinstance(result, tuple) and len(row) == 1 and row[0] != np.inf
            and len(result) == row[0] and all(_is_scalar(v) for v in result)):
        return np.asarray(result)
    return result


def check_shape(value: Any, result_shape: tuple[float | None, ...],
                result_dtype: str | None = None) -> None:
    """Raise unless ``value`` fits one slot of the ``result_shape`` dataset.

    :class:`ResultTypeError` if it is not numeric (a string, dict, object array, ...) or
    complex for a real ``result_dtype`` (HDF5 has no conversion for that, and the
    imaginary part would be lost); :class:`ResultShapeError` if its shape is not
    ``result_shape`` without the stacking dimension (an ``np.inf`` dimension takes any
    extent). Never truncated or padded.
    """
    try:
        array = np.asarray(value)
    except ValueError:
        array = np.empty(0, dtype=object)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise ResultTypeError(
            f"result of type {type(value).__name__} cannot be stored in the numeric "
            f"`result_shape` dataset {_shape_str(result_shape)}: only numbers and numeric "
            "arrays can be stacked (run without `result_shape` to store other values)")
    if result_dtype is not None and array.dtype.kind == "c" \
            and np.dtype(result_dtype).kind != "c":
        raise ResultTypeError(
            f"result of dtype {array.dtype} cannot be stored in the `result_shape` dataset "
            f"of `result_dtype` {result_dtype!r} without losing its imaginary part; use "
            "e.g. `result_dtype=\"complex\"`")
    expected = tuple(dim for dim in result_shape if dim is not None)
    actual = array.shape
    fits = len(actual) == len(expected) and all(
        exp == np.inf or exp == act for exp, act in zip(expected, actual, strict=True))
    if not fits:
        raise ResultShapeError(
            f"result has shape {actual}, but `result_shape` {_shape_str(result_shape)} "
            f"expects each result to have shape {_shape_str(expected)}")


def fit_result(value: Any, result_shape: tuple[float | None, ...],
               result_dtype: str) -> np.ndarray:
    """``value`` as one slot of the ``result_shape`` dataset: checked by
    :func:`check_shape`, then converted to ``result_dtype`` (NumPy's conversion, the
    same in every storage mode).

    Raises :class:`ResultTypeError`, naming the value's type and ``result_dtype``, if
    a value lies outside the range of ``result_dtype`` (or is NaN for an integer type):
    it would be stored altered.
    """
    check_shape(value, result_shape, result_dtype)
    array = np.asarray(value)
    dtype = np.dtype(result_dtype)
    if array.dtype == dtype:
        return array
    try:
        with np.errstate(over="raise", invalid="raise"):
            converted = array.astype(dtype)
        if dtype.kind in "iu" and array.dtype.kind in "iu" and array.size:
            info = np.iinfo(dtype)
            if array.min() < info.min or array.max() > info.max:
                raise FloatingPointError("overflow")
    except FloatingPointError as err:
        raise ResultTypeError(
            f"result of type {type(value).__name__} (dtype {array.dtype}) cannot be stored "
            f"in the `result_shape` dataset of `result_dtype` {result_dtype!r}: its values "
            f"do not fit that type ({err}); choose a `result_dtype` that holds them") from None
    return converted


def _shape_str(shape: tuple[float | None, ...]) -> str:
    return "(" + ", ".join("np.inf" if d == np.inf else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


@functools.lru_cache(maxsize=1)
def _file_access() -> h5py.h5p.PropFAID:
    # What h5py.File uses by default: the file is closed with its last object.
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    # The file is a temporary name no other process knows: HDF5's file lock (flock and
    # its checks, per file) protects nothing here.
    fapl.set_file_locking(False, True)
    return fapl


def close_hdf5(h5: h5py.File | h5py.h5f.FileID) -> None:
    """Close an HDF5 file opened for writing, on every path.

    HDF5 cannot close a file whose pending writes fail (a full disk, a removed
    directory), and h5py then crashes the process (SIGSEGV) when it garbage-collects
    the file's objects. So the file is flushed first; if that fails, its remaining
    writes are sent to an anonymous scratch file instead, it is closed, and the flush
    error is raised. The file on disk is then incomplete (it is a temporary name that
    is never published).
    """
    fid = h5.id if isinstance(h5, h5py.File) else h5
    try:
        h5py.h5f.flush(fid)
    except Exception:
        discard_writes(fid)
        # A second flush completes what the failed one left half done (HDF5 cannot
        # close a file in that state).
        with contextlib.suppress(Exception):
            h5py.h5f.flush(fid)
        h5.close()
        raise
    h5.close()


@contextlib.contextmanager
def closing_hdf5(h5: _H5) -> Iterator[_H5]:
    """Close ``h5`` (see :func:`close_hdf5`) when the block ends; an error raised by
    the block wins over one of the close."""
    try:
        yield h5
    except BaseException:
        with contextlib.suppress(Exception):
            close_hdf5(h5)
        raise
    close_hdf5(h5)


def discard_writes(fid: h5py.h5f.FileID) -> None:
    """Send every further write of the file ``fid`` to an anonymous scratch file.

    For a file that failed a write: HDF5 can then flush and close it (its state after
    a second failed write is beyond repair). The file on disk stays as it was.
    """
    fd = fid.get_vfd_handle()
    scratch = (os.memfd_create("acme-discarded") if hasattr(os, "memfd_create")
               else os.dup(tempfile.TemporaryFile().fileno()))
    try:
        os.dup2(scratch, fd)  # the file's descriptor now points at the scratch file
    finally:
        os.close(scratch)


def _write_numeric(path: str, datasets: dict[str, np.ndarray]) -> None:
    """The same file ``h5py.File(path, "w").create_dataset(...)`` writes, through the
    low-level API: about a sixth less CPU per payload, which is most of a small call."""
    fid = h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=_file_access())
    with closing_hdf5(fid):
        for name, data in datasets.items():
            space = (h5py.h5s.create_simple(data.shape) if data.ndim
                     else h5py.h5s.create(h5py.h5s.SCALAR))
            dset = h5py.h5d.create(fid, name.encode(), h5py.h5t.py_create(data.dtype,
                                                                           logical=True), space)
            if data.size:
                dset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data))
            dset.close()


def _write_hdf5(datasets: dict[str, np.ndarray], path: str) -> None:
    with atomic_write(path) as tmp:
        if all(data.dtype.kind in "biufc" for data in datasets.values()):
            _write_numeric(tmp, datasets)
            return
        with closing_hdf5(h5py.File(tmp, "w")) as h5f:
            for name, data in datasets.items():
                h5f.create_dataset(name, data=data)


def write_pickle(result: Any, path: str) -> None:
    """Pickle ``result`` (the raw return value) to ``path``, whole or not at all.

    Plain :mod:`pickle` stores classes and functions by reference (module and name).
    Those the worker cannot import by name, e.g. a class defined in the user's script
    (``__main__``), which reached the worker by value with the function, are pickled
    by value with ``cloudpickle``, as the function itself was.
    """
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        try:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            fh.seek(0)
            fh.truncate()
            cloudpickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)


def pickled_warning(index: int, reason: Exception, path: str) -> str:
    """The warning of an emergency-pickled call (names the task, the reason, the file)."""
    return (f"Could not write the result of task {index} to HDF5 ({reason}); it has been "
            f"pickled to {Path(path).name} instead")


def write_result(result: Any, index: int, spec: StorageSpec) -> tuple[str, str | None]:
    """Store ``result`` of call ``index``; return ``(path, warning or None)``.

    A return value HDF5 cannot hold is pickled to ``<func>_<index>.pickle`` instead
    (emergency pickling), with a warning naming the call and the reason. Its name is
    derived from the call index, so it never replaces another call's file.
    """
    if spec.storage == StorageMode.PICKLE:
        path = spec.pickle(index)
        write_pickle(result, path)
        return path, None
    try:
        datasets = hdf5_datasets(result, spec.result_shape is not None)
    except TypeError as err:
        fallback = spec.pickle(index)
        write_pickle(result, fallback)  # exactly as returned
        return fallback, pickled_warning(index, err, fallback)
    if spec.result_shape is not None and spec.result_dtype is not None \
            and "result_0" in datasets:
        # In the stacked dataset's type, so that the container's virtual dataset reads
        # back (HDF5 cannot convert e.g. real numbers into a complex dataset).
        datasets["result_0"] = fit_result(datasets["result_0"], spec.result_shape,
                                          spec.result_dtype)
    path = spec.payload(index)
    _write_hdf5(datasets, path)
    return path, None
