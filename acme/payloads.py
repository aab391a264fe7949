"""Worker side: write one call's return value to its own file.

Every file is written under a temporary name and renamed when complete, so a payload
that exists is always whole, and a call only ever writes its own file names.
"""

from __future__ import annotations

import numbers
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .outputs import atomic_path, publish

__all__ = ["StorageSpec", "write_result", "hdf5_datasets", "check_shape", "ResultShapeError"]


class ResultShapeError(ValueError):
    """A result does not fit ``result_shape``."""


@dataclass(frozen=True)
class StorageSpec:
    """What a worker needs to store results (plain data, sent once per run)."""

    storage: str                     # "hdf5" | "pickle" | "single" | "memory"
    payload_dir: str
    func_name: str
    result_shape: tuple[float | None, ...] | None = None

    def payload(self, index: int) -> str:
        return os.path.join(self.payload_dir, f"{self.func_name}_{index}.h5")

    def pickle(self, index: int) -> str:
        return os.path.join(self.payload_dir, f"{self.func_name}_{index}.pickle")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (numbers.Number, np.number, np.bool_)) and not isinstance(value, bool)


def _as_hdf5(value: Any) -> Any:
    """Values h5py would reject but that have an obvious HDF5 form."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return np.array(value, dtype=h5py.string_dtype())
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        return value.astype(h5py.string_dtype())
    return value


def hdf5_datasets(result: Any, shaped: bool) -> dict[str, Any]:
    """ACME's write rule: which datasets a return value becomes.

    A non-tuple return is one value. Without ``result_shape``, values that are all numbers
    (or all strings) are stored together as one vector ``result_0`` (so a scalar 18 reads
    back as ``[18]``); otherwise each value ``k`` becomes ``result_<k>``.
    """
    values = list(result) if isinstance(result, (list, tuple)) else [result]
    if result is None:
        return {}
    if not shaped and values and (all(_is_scalar(v) for v in values)
                                  or all(isinstance(v, str) for v in values)):
        return {"result_0": _as_hdf5(values) if isinstance(values[0], str) else
                np.asarray(values)}
    return {f"result_{k}": _as_hdf5(v) for k, v in enumerate(values)}


def check_shape(value: Any, result_shape: tuple[float | None, ...]) -> None:
    """Raise :class:`ResultShapeError` unless ``value`` fits one slot of ``result_shape``."""
    expected = tuple(dim for dim in result_shape if dim is not None)
    actual = np.shape(value)
    fits = len(actual) == len(expected) and all(
        exp == np.inf or exp == act for exp, act in zip(expected, actual))
    if not fits:
        shown = tuple("inf" if dim == np.inf else dim for dim in expected)
        raise ResultShapeError(
            f"result has shape {actual}, but `result_shape` {_shape_str(result_shape)} "
            f"expects each result to have shape {shown}")


def _shape_str(shape: tuple[float | None, ...]) -> str:
    return "(" + ", ".join("np.inf" if d == np.inf else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _write_hdf5(datasets: dict[str, Any], path: str) -> None:
    tmp = atomic_path(path)
    try:
        with h5py.File(tmp, "w") as h5f:
            for name, data in datasets.items():
                h5f.create_dataset(name, data=data)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_pickle(result: Any, path: str) -> None:
    tmp = atomic_path(path)
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_result(result: Any, index: int, spec: StorageSpec) -> tuple[str, str | None]:
    """Store ``result`` of call ``index``; return ``(path, warning or None)``.

    A return value HDF5 cannot hold is pickled to ``<func>_<index>.pickle`` instead
    (emergency pickling), with a warning naming the call and the reason.
    """
    if spec.storage == "pickle":
        path = spec.pickle(index)
        _write_pickle(result, path)
        return path, None
    path = spec.payload(index)
    try:
        _write_hdf5(hdf5_datasets(result, spec.result_shape is not None), path)
        return path, None
    except TypeError as err:
        fallback = spec.pickle(index)
        _write_pickle(result, fallback)
        return fallback, (f"Could not write the result of task {index} to HDF5 ({err}); "
                          f"it has been pickled to {Path(fallback).name} instead")
