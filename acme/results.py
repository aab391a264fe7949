"""What :meth:`ParallelMap.compute` returns, assembled from the calls' outcomes.

* HDF5 payloads or pickles: the path of each call's file, in call order;
* a single file: ``[container]``;
* in memory: each call's return value, in call order; with ``result_shape``, the
  array of the stacked return values (as ACME returns it) or, when the function returns
  more than one value, ``[array, extras]`` with ``extras[i]`` the tuple of call ``i``'s
  further return values.

Failed calls are ``None`` (their slot of a stacked array holds zeros).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .options import RunOptions
from .storage.paths import StorageMode
from .tasks import CallOutcome

__all__ = ["assemble_results"]


def assemble_results(outcomes: list[CallOutcome | None], opts: RunOptions,
                     container: str | None, grid: tuple[int, ...] | None = None) -> Any:
    """The return value of a run with options ``opts`` (see the module docstring); a
    ``grid`` replaces the stacking dimension by its axes (calls in C order)."""
    ok = [o if o is not None and o.ok else None for o in outcomes]
    if opts.storage == StorageMode.SINGLE:
        return [container]
    if opts.storage in (StorageMode.HDF5, StorageMode.PICKLE):
        return [o.path if o else None for o in ok]
    if opts.result_shape is None:
        return [o.value if o else None for o in ok]
    shape: list[int] = []
    for d in opts.result_shape:
        shape += (grid or (len(ok),)) if d is None else (int(d),)
    stacked = np.zeros(shape, dtype=np.dtype(opts.result_dtype))
    dim = opts.result_shape.index(None)
    extras = []
    for i, o in enumerate(ok):
        values = (list(o.value) if isinstance(o.value, tuple) else [o.value]) if o else None
        if values is not None:
            at = tuple(int(j) for j in np.unravel_index(i, grid)) if grid else (i,)
            index = (slice(None),) * dim + at
            stacked[index] = values[0]
        extras.append(tuple(values[1:]) if values is not None else None)
    if any(o is not None and o.n_values > 1 for o in ok):
        return [stacked, extras]
    return stacked
