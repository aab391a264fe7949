"""The argument checks every public entry point shares: one rule and one message per kind.

``ParallelMap``, ``compute``, ``acme.Executor``, the cluster helpers and the site profiles
all validate through these functions, so a keyword means the same everywhere.

Rules
-----
Integers
    Any real number whose value is a whole number: ``2``, ``numpy.int64(2)`` and ``2.0``
    are all 2 (ACME's rule, which scripts rely on); ``2.5`` is a ``ValueError``; a bool,
    a string or anything not a number is a ``TypeError``.
Booleans
    Only ``True`` and ``False`` (not ``0``/``1``, not ``"yes"``).
Memory
    A string that :func:`dask.utils.parse_bytes` reads: ``"2GB"``, ``"1500MB"``,
    ``"1.5 GB"``, ``"2GiB"``, ``"512MiB"``, ``"2e9"`` (bytes). Decimal units are powers of
    1000 (1 GB = 1000 MB, as SLURM's ``--mem`` counts and as ACME did), binary units
    (KiB, MiB, GiB, TiB) powers of 1024; at least 1 MB (a bare ``"8"`` would be 8
    bytes). SLURM requests are rounded up to whole MB.

Messages name the argument, what was expected and what was given: ``TypeError`` for a
wrong type, ``ValueError`` for a wrong value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal, overload

from dask.utils import parse_bytes

__all__ = ["check_bool", "check_int", "check_startup", "check_str_list", "parse_mem_bytes",
           "parse_mem_mb"]

#: Bytes per megabyte of the MB figures acme passes to SLURM (decimal, as ``parse_bytes``).
_MB = 1000**2


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is ``True`` or ``False``, else raise a ``TypeError``."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` has to be `True` or `False`, not {value!r}")
    return value


@overload
def check_int(value: Any, name: str, minimum: int = 0, *,
              allow_none: Literal[False] = False) -> int: ...


@overload
def check_int(value: Any, name: str, minimum: int = 0, *, allow_none: bool) -> int | None: ...


def check_int(value: Any, name: str, minimum: int = 0, *, allow_none: bool = False
              ) -> int | None:
    """Return ``value`` as an int if it is a whole number ``>= minimum``.

    ``2.0`` counts as 2 (see the module docstring); with ``allow_none`` a ``None`` passes
    through unchanged (the return type then includes None).

    Raises
    ------
    TypeError
        If ``value`` is a bool or not a real number.
    ValueError
        If it is not a whole number or smaller than ``minimum``.
    """
    if allow_none and value is None:
        return None
    expected = f"{'None or ' if allow_none else ''}an integer between {minimum} and inf"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` has to be {expected}, not {type(value)}")
    whole = isinstance(value, numbers.Integral) or float(value).is_integer()
    if not whole or value < minimum:
        raise ValueError(f"`{name}` has to be {expected}, not {value!r}")
    return int(value)  # type: ignore[call-overload]


def check_startup(n_workers_startup: Any, n_workers: int) -> int:
    """``n_workers_startup`` of the cluster helpers: an integer from 0 to ``n_workers``."""
    n_startup = check_int(n_workers_startup, "n_workers_startup", 0)
    if n_startup > n_workers:
        raise ValueError(f"`n_workers_startup` ({n_startup}) cannot exceed `n_workers` "
                         f"({n_workers})")
    return n_startup


def check_str_list(value: Any, name: str) -> list[str]:
    """Return ``value`` as a list if it is a list or tuple of strings, else ``TypeError``."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(
            isinstance(item, str) for item in value):
        raise TypeError(f"`{name}` has to be a list of strings, not {value!r}")
    return list(value)


def parse_mem_bytes(spec: Any, name: str = "mem_per_worker") -> int:
    """A memory string (see the module docstring) -> bytes (an int, at least 10**6).

    Raises
    ------
    TypeError
        If ``spec`` is not a string.
    ValueError
        If :func:`dask.utils.parse_bytes` cannot read it or it is less than 1 MB.
    """
    if not isinstance(spec, str):
        raise TypeError(f"`{name}` has to be a string like '2GB' or '1500MB', not {type(spec)}")
    try:
        size = parse_bytes(spec)
    except (ValueError, TypeError):
        size = 0
    if size < _MB:  # also catches a bare "8": 8 bytes, surely not what was meant
        raise ValueError(f"`{name}` has to be a positive amount of memory like '2GB', "
                         f"'1500MB' or '2GiB' (at least 1MB), not {spec!r}")
    return int(size)


def parse_mem_mb(spec: Any, name: str = "mem_per_worker") -> int:
    """A memory string -> whole megabytes (1 MB = 10**6 bytes), rounded up."""
    return math.ceil(parse_mem_bytes(spec, name) / _MB)
