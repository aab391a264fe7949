"""Container side: the parameters of a run over a space, stored next to its results.

Layout added to ``<func>.h5`` of a run over a :class:`~acme.Param` space::

    params/<name>        one dataset per parameter, length n_calls: call i's value at [i]
                         (numbers as numbers, nan where a sum of spaces left a key out;
                         strings as UTF-8; any other value as its repr, attribute
                         ``stored_as = "repr"``)

With ``result_shape`` the container also opens in xarray (``engine="h5netcdf"``) with
named dimensions, which takes HDF5 dimension scales on every axis of ``result_0``:

* stacked (one axis for all calls): every ``params/<name>`` is a dimension scale of that
  axis, and a last scale ``call`` (0, 1, ..., the call index) names it: h5netcdf takes a
  dimension's name from its last scale;
* as a grid (``result_grid=True``): one axis per parameter, each labelled by a root
  dataset ``<name>`` holding that parameter's values (its coordinate);
* the other axes of ``result_0`` get netCDF's dimension-only scales ``result_0_dim_<axis>``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np

from .params import ParamSpace, grid_axes

__all__ = ["GridAxes", "check_grid", "check_names", "grid_shape", "write_params", "storable"]

#: (name, coordinate values) of each axis of a grid, in the order of the product.
GridAxes = tuple[tuple[str, tuple[Any, ...]], ...]

# Names the container's root already uses (or that the layout above adds).
_RESERVED = ("params", "call")
_RESERVED_PREFIXES = ("result_", "comp_")


def check_grid(space: ParamSpace | None, result_shape: tuple[float | None, ...] | None
               ) -> GridAxes:
    """The axes of ``result_grid=True`` for ``space``, or a ``ValueError`` saying why not."""
    if space is None:
        raise ValueError("`result_grid` needs a parameter space: "
                         "ParallelMap(func, acme.Param(...) * acme.Param(...), ...)")
    if result_shape is None:
        raise ValueError("`result_grid` needs `result_shape`: its `None` entry is the "
                         "dimension replaced by one axis per parameter")
    axes = grid_axes(space)
    if axes is None:
        raise ValueError("`result_grid` needs a pure product space (a product of Params "
                         f"of one key each), not {space!r}")
    for name, _ in axes:
        if name in _RESERVED or name.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"`result_grid`: the parameter `{name}` would clash with the "
                             "container's own datasets; rename it")
    return tuple((name, tuple(values)) for name, values in axes)


def check_names(space: ParamSpace) -> None:
    """Raise a ``ValueError`` for a parameter name that cannot name an HDF5 dataset."""
    for name in space.keys():
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"the parameter name {name!r} cannot name a dataset of the "
                             "results container: use a name without '/'")


def grid_shape(axes: GridAxes | None) -> tuple[int, ...] | None:
    """The extents of the grid's axes (``None`` without a grid)."""
    return None if axes is None else tuple(len(values) for _, values in axes)


def storable(values: Sequence[Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """``values`` as an array HDF5 holds, and the attributes that say how."""
    present = [v for v in values if not _is_nan(v)]
    if all(isinstance(v, (numbers.Number, np.bool_)) for v in values):
        array = np.asarray(values)
        if array.dtype.kind in "biufc":
            return array, {}
    if all(isinstance(v, str) for v in present):
        # nan (a key a sum of spaces left out) cannot be a string: "" and a list of calls
        data = np.array(["" if _is_nan(v) else v for v in values], dtype=object)
        absent = [i for i, v in enumerate(values) if _is_nan(v)]
        attrs = {"missing_calls": np.array(absent, dtype=np.int64)} if absent else {}
        return data.astype(h5py.string_dtype("utf-8")), attrs
    return (np.array([repr(v) for v in values], dtype=h5py.string_dtype("utf-8")),
            {"stored_as": "repr"})


def write_params(h5f: h5py.File, space: ParamSpace, stacking_dim: int | None,
                 axes: GridAxes | None = None) -> None:
    """Add the parameters of ``space`` to the open container ``h5f`` (see module doc).

    ``stacking_dim`` is the ``None`` entry of ``result_shape`` (``None`` without one),
    ``axes`` those of a grid (``result_grid=True``).
    """
    group = h5f.create_group("params")
    scales = []
    for name, values in space.build().items():
        data, attrs = storable(values)
        dataset = group.create_dataset(name, data=data)
        dataset.attrs.update(attrs)
        scales.append((name, dataset))
    result = h5f.get("result_0")
    if stacking_dim is None or not isinstance(result, h5py.Dataset):
        return
    if axes is None:
        labelled = [stacking_dim]
        scales.append(("call", h5f.create_dataset("call", data=np.arange(space.size))))
        for name, dataset in scales:
            dataset.make_scale(name)
            result.dims[stacking_dim].attach_scale(dataset)
    else:
        labelled = list(range(stacking_dim, stacking_dim + len(axes)))
        for axis, (name, coords) in zip(labelled, axes, strict=True):
            data, attrs = storable(coords)
            dataset = h5f.create_dataset(name, data=data)
            dataset.attrs.update(attrs)
            dataset.make_scale(name)
            result.dims[axis].attach_scale(dataset)
    for axis, extent in enumerate(result.shape):
        if axis not in labelled:
            # netCDF's marker of a dimension that has no coordinate values
            dim = h5f.create_dataset(f"result_0_dim_{axis}", shape=(extent,), dtype="f4")
            dim.make_scale(f"This is a netCDF dimension but not a netCDF variable.{extent:10d}")
            result.dims[axis].attach_scale(dim)


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)
