"""Run options of :class:`~acme.ParallelMap`: one frozen record, validated up front.

Every keyword is checked here, before any directory, client or file exists. Messages
name the argument and what was expected (ACME's wording where users rely on it).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArgumentError
from .storage.paths import StorageMode
from .validators import check_bool, check_int, parse_mem_mb

__all__ = ["RunOptions", "validate_options", "check_bool", "check_int", "parse_mem_mb",
           "check_threads_per_worker", "check_init_function"]


@dataclass(frozen=True)
class RunOptions:
    """The validated keywords of one :class:`~acme.ParallelMap` run."""

    write_worker_results: bool = True
    output_dir: Path | None = None
    result_shape: tuple[float | None, ...] | None = None
    result_dtype: str = "float"
    single_file: bool = False
    write_pickle: bool = False
    partition: str = "auto"
    n_workers: int | str = "auto"
    mem_per_worker: str = "auto"
    setup_timeout: int = 60
    setup_interactive: bool = True
    stop_client: bool | str = "auto"
    verbose: bool | None = None
    dryrun: bool = False
    logfile: bool | Path | None = None
    cleanup_threshold_days: int | None = None
    processes_per_worker: int = 1
    threads_per_worker: int = 1
    init_function: Callable[[], dict[str, Any]] | None = None

    @property
    def storage(self) -> StorageMode:
        """Where the results go, as the keywords say."""
        if not self.write_worker_results:
            return StorageMode.MEMORY
        if self.write_pickle:
            return StorageMode.PICKLE
        return StorageMode.SINGLE if self.single_file else StorageMode.HDF5

    @property
    def stacking_dim(self) -> int | None:
        """Index of the ``None`` entry of ``result_shape`` (``None`` without a shape)."""
        if self.result_shape is None:
            return None
        return self.result_shape.index(None)


def check_threads_per_worker(value: Any) -> int:
    """Threads of the numerical libraries per worker process: an integer >= 1."""
    return check_int(value, "threads_per_worker", minimum=1)


def check_init_function(value: Any) -> Callable[[], dict[str, Any]] | None:
    """``init_function``: None or a callable taking no arguments (it returns a dict)."""
    if value is None:
        return None
    if not callable(value):
        raise TypeError(f"`init_function` has to be None or a callable taking no arguments "
                        f"and returning a dict, not {type(value)}")
    return value


def _check_result_shape(shape: Any, write_worker_results: bool, write_pickle: bool
                        ) -> tuple[float | None, ...] | None:
    if shape is None:
        return None
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"`result_shape` has to be either `None` or tuple, not {type(shape)}")
    shape = tuple(shape)
    if sum(dim is None for dim in shape) != 1:
        raise ValueError("`result_shape` must contain exactly one `None` entry (the "
                         f"stacking dimension), not {shape}")
    dims = [dim for dim in shape if dim is not None]
    if any(isinstance(dim, bool) or not isinstance(dim, numbers.Number) for dim in dims):
        raise ValueError(f"`result_shape` must only contain numerical values, not {shape}")
    n_inf = sum(1 for dim in dims if math.isinf(dim))
    # A size of 0 would leave no room for any result: every call would fail.
    if any(dim <= 0 or (not math.isinf(dim) and not float(dim).is_integer()) for dim in dims):
        raise ValueError(f"`result_shape` must only contain positive integers "
                         f"(and at most one `np.inf`), not {shape}")
    if n_inf > 1:
        raise ValueError("cannot use more than one `np.inf` in `result_shape`")
    if n_inf and not write_worker_results:
        raise ValueError("using `np.inf` in `result_shape` is only valid if "
                         "`write_worker_results` is `True`")
    return tuple(None if dim is None else (np.inf if math.isinf(dim) else int(dim))
                 for dim in shape)


def _check_dtype(dtype: Any) -> str:
    if not isinstance(dtype, str):
        raise TypeError(f"`result_dtype` has to be a string, not {type(dtype)}")
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        raise ArgumentError(f"`result_dtype` has to be a valid NumPy datatype specification, "
                         f"not {dtype!r}") from None
    # The stacked dataset holds numbers only (ResultTypeError for anything else).
    if kind not in "biufc":
        raise ValueError(f"`result_dtype` has to be a numeric NumPy datatype (bool, integer, "
                         f"float or complex, e.g. 'float32'), not {dtype!r}")
    return dtype


def _check_logfile(logfile: Any) -> bool | Path | None:
    if logfile is None or isinstance(logfile, bool):
        return logfile
    if not isinstance(logfile, (str, os.PathLike)):
        raise TypeError("`logfile` has to be `None`, `True`, `False` or a valid file-name, "
                        f"not {type(logfile)}")
    path = Path(logfile).expanduser().absolute()
    if path.is_dir():
        raise OSError("`logfile` has to be `None`, `True`, `False` or a valid file-name, "
                      "not a directory")
    if not path.parent.is_dir():
        raise OSError(f"`logfile`: the directory {path.parent} does not exist")
    return path


def _check_output_dir(output_dir: Any) -> Path | None:
    if output_dir is None:
        return None
    if not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(f"`output_dir` has to be `None` or a path, not {type(output_dir)}")
    path = Path(output_dir).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise OSError(f"`output_dir` {path} exists and is not a directory")
    return path


def _check_choice(value: Any, name: str, word: str) -> None:
    if isinstance(value, str) and value != word:
        raise ValueError(f"`{name}` has to be '{word}' or an integer >= 1, not {value!r}")


def validate_options(**kw: Any) -> tuple[RunOptions, list[str]]:
    """Check every :class:`~acme.ParallelMap` keyword and freeze them.

    Returns the options and a list of warnings for ignored settings (logged once the
    run starts, so constructing a ``ParallelMap`` stays free of side effects).
    """
    notes: list[str] = []
    for name in ("write_worker_results", "single_file", "write_pickle", "setup_interactive",
                 "dryrun"):
        check_bool(kw[name], name)
    wwr = kw["write_worker_results"]
    if kw["verbose"] is not None:
        if not isinstance(kw["verbose"], bool):
            raise TypeError(f"`verbose` has to be `True`, `False` or `None`, not {kw['verbose']!r}")
    stop = kw["stop_client"]
    if not (isinstance(stop, bool) or stop == "auto"):
        # a wrong string is a wrong value (ACME: ValueError); anything else a wrong type
        error = ArgumentError if isinstance(stop, str) else TypeError
        raise error(f"`stop_client` has to be 'auto' or Boolean, not {stop!r}")
    n_workers = kw["n_workers"]
    _check_choice(n_workers, "n_workers", "auto")
    if not isinstance(n_workers, str):
        n_workers = check_int(n_workers, "n_workers", minimum=1)
    for name in ("partition", "mem_per_worker"):
        if not isinstance(kw[name], str):
            raise TypeError(f"`{name}` has to be a string, not {type(kw[name])}")
    if kw["mem_per_worker"] != "auto":
        parse_mem_mb(kw["mem_per_worker"])
    timeout = check_int(kw["setup_timeout"], "setup_timeout", minimum=0)
    processes = check_int(kw.get("processes_per_worker", 1), "processes_per_worker", minimum=1)
    days = kw["cleanup_threshold_days"]
    if days is not None:
        days = check_int(days, "cleanup_threshold_days", minimum=0)
    shape = _check_result_shape(kw["result_shape"], wwr, kw["write_pickle"])
    dtype = _check_dtype(kw["result_dtype"])
    if kw["write_pickle"] and kw["single_file"] and wwr:
        raise ValueError("Pickling of results does not support single output file creation.")
    output_dir = _check_output_dir(kw["output_dir"])
    threads = check_threads_per_worker(kw.get("threads_per_worker", 1))
    init_function = check_init_function(kw.get("init_function"))
    logfile = _check_logfile(kw["logfile"])
    if not wwr:
        if output_dir is not None:
            notes.append("Output directory specification has no effect if "
                         "`write_worker_results` is `False`.")
            output_dir = None
        if kw["single_file"]:
            notes.append("Generating a single output file only possible if "
                         "`write_worker_results` is `True`. Ignoring `single_file`.")
        if kw["write_pickle"]:
            notes.append("Pickling of results only possible if `write_worker_results` is "
                         "`True`. Ignoring `write_pickle`.")
    elif kw["write_pickle"] and shape is not None:
        notes.append("Pickling of results does not support output array shape "
                     "specification. Ignoring `result_shape`.")
        shape = None
    options = RunOptions(
        write_worker_results=wwr, output_dir=output_dir, result_shape=shape,
        result_dtype=dtype, single_file=kw["single_file"] and wwr,
        write_pickle=kw["write_pickle"] and wwr, partition=kw["partition"],
        n_workers=n_workers, mem_per_worker=kw["mem_per_worker"], setup_timeout=timeout,
        setup_interactive=kw["setup_interactive"], stop_client=stop, verbose=kw["verbose"],
        dryrun=kw["dryrun"], logfile=logfile, cleanup_threshold_days=days,
        processes_per_worker=processes,
        threads_per_worker=threads, init_function=init_function)
    return options, notes
