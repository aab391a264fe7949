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

import functools
import numbers
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .outputs import atomic_write

__all__ = ["StorageSpec", "as_row", "write_result", "write_pickle", "pickled_warning", "hdf5_datasets",
           "to_dataset", "check_shape", "ResultShapeError", "ResultTypeError"]

#: dtype kinds that fit a numeric ``result_shape`` dataset (bool, int, uint, float, complex).
_NUMERIC_KINDS = "biufc"


class ResultShapeError(ValueError):
    """A result does not fit ``result_shape``."""


class ResultTypeError(TypeError):
    """A result cannot be stored in the numeric ``result_shape`` dataset (e.g. a string)."""


@dataclass(frozen=True)
class StorageSpec:
    """What a worker needs to store results (plain data, sent once per run)."""

    storage: str                     # "hdf5" | "pickle" | "single" | "memory"
    payload_dir: str
    func_name: str
    result_shape: tuple[float | None, ...] | None = None
    result_dtype: str | None = None  # dtype of the result_shape dataset (None: unchecked)

    def payload(self, index: int) -> str:
        return os.path.join(self.payload_dir, f"{self.func_name}_{index}.h5")

    def pickle(self, index: int) -> str:
        return os.path.join(self.payload_dir, f"{self.func_name}_{index}.pickle")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (numbers.Number, np.number, np.bool_)) and not isinstance(value, bool)


def _no_hdf5(value: Any, why: str) -> TypeError:
    return TypeError(f"a return value of type {type(value).__name__} has no HDF5 "
                     f"equivalent: {why}")


def to_dataset(value: Any) -> np.ndarray:
    """One return value as an array h5py can write.

    Strings (also lists and arrays of strings) become variable-length UTF-8 strings,
    which h5py reads back as ``bytes``. Anything else HDF5 cannot hold (dicts, ``None``,
    object arrays, ragged nesting, sparse matrices, custom classes) raises ``TypeError``.
    """
    if isinstance(value, str):
        return np.array(value, dtype=h5py.string_dtype())
    try:
        array = np.asarray(value)
    except ValueError as err:        # ragged nested sequences
        raise _no_hdf5(value, str(err)) from None
    if array.dtype.kind == "U":
        return array.astype(h5py.string_dtype())
    if array.dtype.kind == "O":
        if array.size and all(isinstance(item, str) for item in array.flat):
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


def _write_numeric(path: str, datasets: dict[str, np.ndarray]) -> None:
    """The same file ``h5py.File(path, "w").create_dataset(...)`` writes, through the
    low-level API: about a sixth less CPU per payload, which is most of a small call."""
    fid = h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=_file_access())
    try:
        for name, data in datasets.items():
            space = (h5py.h5s.create_simple(data.shape) if data.ndim
                     else h5py.h5s.create(h5py.h5s.SCALAR))
            dset = h5py.h5d.create(fid, name.encode(), h5py.h5t.py_create(data.dtype,
                                                                           logical=True), space)
            if data.size:
                dset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data))
            dset.close()
    finally:
        fid.close()


def _write_hdf5(datasets: dict[str, np.ndarray], path: str) -> None:
    with atomic_write(path) as tmp:
        if all(data.dtype.kind in "biufc" for data in datasets.values()):
            _write_numeric(tmp, datasets)
            return
        with h5py.File(tmp, "w") as h5f:
            for name, data in datasets.items():
                h5f.create_dataset(name, data=data)


def write_pickle(result: Any, path: str) -> None:
    """Pickle ``result`` (the raw return value) to ``path``, whole or not at all."""
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)


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
    if spec.storage == "pickle":
        path = spec.pickle(index)
        write_pickle(result, path)
        return path, None
    try:
        datasets = hdf5_datasets(result, spec.result_shape is not None)
    except TypeError as err:
        fallback = spec.pickle(index)
        write_pickle(result, fallback)
        return fallback, pickled_warning(index, err, fallback)
    path = spec.payload(index)
    _write_hdf5(datasets, path)
    return path, None
