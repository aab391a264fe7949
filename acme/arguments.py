"""Turn ``ParallelMap(func, *args, **kwargs)`` into a plan of calls.

Pure: no dask, no I/O. Rules (ACME's, minus its defects):

* lists, tuples, ranges and arrays that are 1-D after squeezing are *split* when their
  length is the number of calls; everything else (strings, dicts, scalars, other
  arrays, other objects) is *broadcast*, i.e. passed whole to every call;
* ``n_inputs="auto"`` needs all splittable objects to agree on one length;
* an explicit ``n_inputs`` broadcasts every object of another length, which is how
  identical calls are repeated;
* a keyword whose default is a list/tuple of the same length is not counted as a
  candidate (it is most likely meant whole), nor is an array given for an array default;
* the function and every argument must be picklable (they travel to the workers):
  checked here, so that the error names the argument before anything has started.

A parameter space (:class:`~acme.Param`) as the only positional argument is another
kind of plan: one call per assignment, ``func(**assignment, **kwargs)``, with every
keyword passed whole (see :func:`plan_space`).
"""

from __future__ import annotations

import inspect
import io
import sys
from collections.abc import Callable, ItemsView, Iterator, KeysView, ValuesView
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import numpy as np

from .errors import ArgumentError
from .lazy import LazyInputs, is_lazy
from .options import check_int
from .params import ParamSpace

__all__ = ["CallPlan", "plan_calls", "plan_space", "size_mb", "func_name", "describe_plan"]

_PREFIX = "<ParallelMap>"


@dataclass(frozen=True)
class CallPlan:
    """How to build the arguments of each of ``n_calls`` calls of ``func``.

    ``args``/``kwargs`` hold the broadcast values; positions listed in ``split_pos`` and
    names in ``split_kw`` are placeholders whose per-call values are ``split_values``
    (one list per split argument, each of length ``n_calls``).
    """

    func: Callable[..., Any]
    n_calls: int
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    split_pos: tuple[int, ...] = ()
    split_kw: tuple[str, ...] = ()
    split_values: tuple[Any, ...] = ()
    pass_task_id: bool = False
    notes: tuple[str, ...] = field(default=())
    #: The parameter space of a run over one (``split_kw`` are then its keys).
    space: ParamSpace | None = None
    #: Split values read lazily from iterators (see :mod:`acme.lazy`), else None.
    lazy: LazyInputs | None = None

    def call_values(self, index: int) -> tuple[Any, ...]:
        """The split values of call ``index``, in ``split_pos + split_kw`` order."""
        if self.space is not None:
            return self.space.values_at(index)
        if self.lazy is not None:
            return self.lazy.values(index)
        return tuple(_item(values, index) for values in self.split_values)

    def release(self, index: int) -> None:
        """Call ``index``'s outcome is final: a lazy run drops its items."""
        if self.lazy is not None:
            self.lazy.release(index)

    def arguments(self, index: int) -> tuple[list[Any], dict[str, Any]]:
        """The complete ``(args, kwargs)`` of call ``index`` (``taskID`` not included)."""
        return assemble(self.args, self.kwargs, self.split_pos, self.split_kw,
                        self.call_values(index))


def assemble(args: tuple[Any, ...], kwargs: dict[str, Any], split_pos: tuple[int, ...],
             split_kw: tuple[str, ...], values: tuple[Any, ...]
             ) -> tuple[list[Any], dict[str, Any]]:
    """Fill the split placeholders of ``args``/``kwargs`` with one call's ``values``."""
    call_args = list(args)
    for pos, value in zip(split_pos, values, strict=False):
        call_args[pos] = value
    call_kwargs = dict(kwargs)
    for name, value in zip(split_kw, values[len(split_pos):], strict=False):
        call_kwargs[name] = value
    return call_args, call_kwargs


def _item(values: Any, index: int) -> Any:
    if isinstance(values, np.ndarray) and values.ndim > 1:
        # (n, 1) and (1, n) are split alike: call i gets shape (1,)
        axis = next((ax for ax, n in enumerate(values.shape) if n != 1), 0)
        return np.take(values, index, axis=axis)
    return values[index]


def _length(obj: Any) -> int | None:
    """Length of ``obj`` if it can be split, else None."""
    if isinstance(obj, (list, tuple, range)):
        return len(obj)
    if isinstance(obj, np.ndarray) and obj.ndim >= 1:
        non_single = [n for n in obj.shape if n != 1]
        if len(non_single) <= 1:
            return obj.size
    return None


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        # builtins without a signature: accept anything
        return inspect.Signature([
            inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
            inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])


def _names(names: list[str] | tuple[str, ...]) -> str:
    """ACME's rendering of parameter names: ('x', 'y') and ('z') for one."""
    return "(" + ", ".join(repr(n) for n in names) + ")"


def func_name(func: Callable[..., Any]) -> str:
    """The name files and messages use for ``func`` (its ``__name__``, else its type's)."""
    return getattr(func, "__name__", type(func).__name__)


def plan_calls(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
               n_inputs: int | str = "auto") -> CallPlan:
    """Check ``args``/``kwargs`` against ``func``'s signature and decide what to split."""
    if not callable(func):
        raise TypeError(f"{_PREFIX} first input has to be a callable function, not {type(func)}")
    if not (n_inputs == "auto" and isinstance(n_inputs, str)):
        if isinstance(n_inputs, str):
            raise ValueError(f"`n_inputs` has to be 'auto' or an integer >= 1, not {n_inputs!r}")
        n_inputs = check_int(n_inputs, "n_inputs", minimum=1)
    if len(args) == 1 and isinstance(args[0], ParamSpace):
        return plan_space(func, args[0], kwargs, n_inputs)
    if any(isinstance(arg, ParamSpace) for arg in list(args) + list(kwargs.values())):
        raise TypeError(f"{_PREFIX} a parameter space (acme.Param) has to be the only "
                        "positional argument: ParallelMap(func, space, **other_kwargs)")
    name = func_name(func)
    params = list(_signature(func).parameters.values())
    kinds = inspect.Parameter
    positional = [p for p in params if p.kind in (kinds.POSITIONAL_ONLY,
                                                  kinds.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    var_pos = any(p.kind == kinds.VAR_POSITIONAL for p in params)
    var_kw = any(p.kind == kinds.VAR_KEYWORD for p in params)
    by_name = {p.name: p for p in params if p.kind != kinds.POSITIONAL_ONLY
               and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)}
    keyword_names = [p.name for p in params if p.default is not p.empty]
    pass_task_id = "taskID" in by_name
    if "taskID" in kwargs:
        raise ValueError(f"{_PREFIX} `taskID` is set by ParallelMap to the index of each call "
                         f"of {name}; remove it from the arguments")

    args = tuple(list(arg) if isinstance(arg, range) else arg for arg in args)
    kwargs = {k: list(v) if isinstance(v, range) else v for k, v in kwargs.items()}

    # Positional parameters given by name move to their slot, as ACME does.
    args_list = list(args)
    for i, p in enumerate(required):
        if i >= len(args_list) and p.name in kwargs:
            args_list.append(kwargs.pop(p.name))
    unknown = [k for k in kwargs if k not in by_name and not var_kw]
    if unknown:
        raise ArgumentError(
            f"{_PREFIX} {name} accepts at maximum {len(keyword_names)} keyword arguments "
            f"{_names(keyword_names)}, found {len(kwargs)}: unexpected keyword argument "
            f"{unknown[0]!r}")
    clash = [p.name for p in positional[:len(args_list)] if p.name in kwargs]
    if clash:
        raise TypeError(f"{_PREFIX} {name} got multiple values for argument {clash[0]!r}")
    missing_kwonly = [p.name for p in params if p.kind == kinds.KEYWORD_ONLY
                      and p.default is p.empty and p.name not in kwargs and p.name != "taskID"]
    req_names = tuple(p.name for p in required)
    if len(args_list) < len(required):
        raise ValueError(f"{_PREFIX} {name} expects {len(required)} positional arguments "
                         f"{_names(req_names)}, found {len(args_list)}")
    if len(args_list) > len(positional) and not var_pos:
        raise ValueError(f"{_PREFIX} {name} expects at most {len(positional)} positional "
                         f"arguments {_names([p.name for p in positional])}, found {len(args_list)}")
    if missing_kwonly:
        raise ValueError(f"{_PREFIX} {name} expects the keyword-only argument(s) "
                         f"{_names(missing_kwonly)}, found none")

    labelled = [(f"positional argument {pos}"
                 + (f" ({positional[pos].name!r})" if pos < len(positional) else ""), arg)
                for pos, arg in enumerate(args_list)]
    labelled += [(f"keyword argument {key!r}", value) for key, value in kwargs.items()]
    auto = isinstance(n_inputs, str)
    for what, value in labelled:
        if auto and isinstance(value, Iterator) and not isinstance(value, io.IOBase):
            raise TypeError(
                f"{_PREFIX} {what} is a {type(value).__name__}: an iterator has no length, "
                "so `n_inputs` has to be given to split it across the calls (its items "
                "are then read as the calls are sent); or pass a list, e.g. `list(...)`")
    _check_picklable(func, f"the function {name}")
    for what, value in labelled:
        if not (not auto and is_lazy(value)):  # lazy items travel, and are checked, one by one
            _check_picklable(value, what)

    notes = []
    if any(callable(arg) and not isinstance(arg, type) for arg in args_list):
        notes.append("Found a single callable object in positional arguments. It will be "
                     "executed just once and shared by all workers")

    # Candidate lengths (ACME's exemption for keywords whose default has that shape).
    candidates: list[tuple[str, int, int | str]] = []
    lazy: set[int | str] = set()  # iterables without a length, read item by item
    if not auto:
        lazy = {pos for pos, arg in enumerate(args_list) if is_lazy(arg)}
        lazy |= {key for key, value in kwargs.items() if is_lazy(value)}
    for pos, arg in enumerate(args_list):
        n = int(n_inputs) if pos in lazy else _length(arg)
        if n is not None:
            candidates.append(("pos", n, pos))
    for key, value in kwargs.items():
        if key in lazy:
            candidates.append(("kw", int(n_inputs), key))
            continue
        n = _length(value)
        if n is None:
            continue
        default = by_name[key].default if key in by_name else inspect.Parameter.empty
        if isinstance(value, np.ndarray) and isinstance(default, np.ndarray):
            continue
        if isinstance(default, (list, tuple)) and len(default) == n:
            continue
        candidates.append(("kw", n, key))
    lengths = [n for _, n, _ in candidates]

    if n_inputs == "auto":
        if not lengths:
            raise ValueError(
                f"{_PREFIX} automatic input distribution failed: found 0 objects containing "
                "0 to 0 elements. Please specify `n_inputs` manually. Only lists, tuples, "
                "ranges and 1-D arrays are split into calls; "
                + _nothing_to_split(labelled))
        if len(set(lengths)) != 1:
            lo, hi = (min(lengths), max(lengths)) if lengths else (0, 0)
            raise ValueError(
                f"{_PREFIX} automatic input distribution failed: found {len(lengths)} objects "
                f"containing {lo} to {hi} elements. Please specify `n_inputs` manually. ")
        n_calls = lengths[0]
        if n_calls == 0:
            raise ValueError(f"{_PREFIX} automatic input distribution failed: the objects to "
                             "split are empty")
    else:
        n_calls = int(n_inputs)
        if lengths and n_calls not in lengths and set(lengths) != {1}:
            raise ValueError(f"{_PREFIX} No object has required length of {n_calls} "
                             "matching `n_inputs`. ")

    split = [(kind, key) for kind, n, key in candidates if n == n_calls]
    split_pos = tuple(int(key) for kind, key in split if kind == "pos")
    split_kw = tuple(str(key) for kind, key in split if kind == "kw")
    split_values = tuple(args_list[p] if p in lazy else _as_sequence(args_list[p])
                         for p in split_pos) + \
        tuple(kwargs[k] if k in lazy else _as_sequence(kwargs[k]) for k in split_kw)
    bcast_args = tuple(None if i in split_pos else a for i, a in enumerate(args_list))
    bcast_kwargs = {k: (None if k in split_kw else v) for k, v in kwargs.items()}
    lazy_inputs = None
    if lazy:
        names = tuple(f"positional argument {p}" + (f" ({positional[p].name!r})"
                                                    if p < len(positional) else "")
                      for p in split_pos) + tuple(f"keyword argument {k!r}" for k in split_kw)
        lazy_inputs = LazyInputs(n_calls, split_values,
                                 tuple(key in lazy for key in (*split_pos, *split_kw)), names)
    return CallPlan(func=func, n_calls=n_calls, args=bcast_args, kwargs=bcast_kwargs,
                    split_pos=split_pos, split_kw=split_kw, split_values=split_values,
                    pass_task_id=pass_task_id, notes=tuple(notes), lazy=lazy_inputs)


def _nothing_to_split(labelled: list[tuple[str, Any]]) -> str:
    """Why nothing was split, for the error message."""
    for what, value in labelled:
        if isinstance(value, (set, frozenset, KeysView, ValuesView, ItemsView)):
            return (f"{what} is a {type(value).__name__}, which has no order and is "
                    "therefore passed whole; to split it, pass a list, e.g. `sorted(...)`")
    return "none was given (to repeat one call, give `n_inputs`)"


def _check_picklable(value: Any, what: str) -> None:
    """Raise ``TypeError`` naming ``what`` unless ``value`` can be sent to the workers."""
    try:
        # Array buffers are left out (returning None keeps them out of band): no copy
        # of large data just for this check.
        cloudpickle.dumps(value, protocol=5, buffer_callback=lambda buffer: None)
    except Exception as err:
        raise TypeError(
            f"{_PREFIX} {what}, of type {type(value).__name__}, cannot be sent to the "
            f"workers because it cannot be pickled ({type(err).__name__}: {err}); pass "
            "something that can be pickled instead (e.g. a file name instead of an open "
            "file, or create locks and connections inside the function)") from None


def plan_space(func: Callable[..., Any], space: ParamSpace, kwargs: dict[str, Any],
               n_inputs: int | str = "auto") -> CallPlan:
    """One call per assignment of ``space``: ``func(**assignment, **kwargs)``.

    The space's values go to the calls as they are (never split or broadcast further);
    ``kwargs`` are passed whole to every call.
    """
    name = func_name(func)
    size = space.size
    if size == 0:
        raise ValueError(f"{_PREFIX} the parameter space is empty: nothing to compute")
    if size > sys.maxsize:
        raise ValueError(f"{_PREFIX} the parameter space has {size} assignments, too many "
                         "to compute")
    if not (isinstance(n_inputs, str) and n_inputs == "auto") and n_inputs != size:
        raise ValueError(f"`n_inputs` has to be 'auto' or the size of the parameter space "
                         f"({size}), not {n_inputs!r}")
    keys = space.keys()
    params = list(_signature(func).parameters.values())
    kinds = inspect.Parameter
    var_kw = any(p.kind == kinds.VAR_KEYWORD for p in params)
    by_name = {p.name: p for p in params if p.kind in (kinds.POSITIONAL_OR_KEYWORD,
                                                       kinds.KEYWORD_ONLY)}
    if "taskID" in kwargs or "taskID" in keys:
        raise ValueError(f"{_PREFIX} `taskID` is set by ParallelMap to the index of each call "
                         f"of {name}; remove it from the arguments")
    clash = [key for key in keys if key in kwargs]
    if clash:
        raise TypeError(f"{_PREFIX} {name} got multiple values for argument {clash[0]!r}: "
                        "it is a key of the parameter space and a keyword argument")
    unknown = [key for key in keys + list(kwargs) if key not in by_name and not var_kw]
    if unknown:
        raise TypeError(f"{_PREFIX} {name} has no parameter {unknown[0]!r} (a key of the "
                        "parameter space or a keyword argument)")
    absent = [p.name for p in by_name.values() if p.default is p.empty
              and p.name not in keys and p.name not in kwargs and p.name != "taskID"]
    absent += [p.name for p in params if p.kind == kinds.POSITIONAL_ONLY
               and p.default is p.empty]
    if absent:
        raise ValueError(f"{_PREFIX} {name} expects the argument(s) {_names(absent)}, "
                         "found none in the parameter space or the keyword arguments")
    return CallPlan(func=func, n_calls=size, args=(), kwargs=dict(kwargs),
                    split_kw=tuple(keys), pass_task_id="taskID" in by_name, space=space)


def _as_sequence(obj: Any) -> Any:
    return obj if isinstance(obj, (list, tuple, np.ndarray)) else list(obj)


def size_mb(obj: Any, depth: int = 0) -> float:
    """Rough size of an argument in MB (arrays exactly, containers by their items)."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes / 1e6
    size = sys.getsizeof(obj) / 1e6
    if isinstance(obj, (list, tuple)) and depth < 2:
        size += sum(size_mb(item, depth + 1) for item in obj[:10000])
    return size


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray{value.shape} {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def describe_plan(plan: CallPlan) -> str:
    """What a run splits and what it broadcasts, for the debug log."""
    params = [p.name for p in _signature(plan.func).parameters.values()
              if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                            inspect.Parameter.POSITIONAL_OR_KEYWORD)]

    def pos_name(i: int) -> str:
        return params[i] if i < len(params) else f"args[{i}]"

    if plan.space is not None:  # one call per assignment of a parameter space
        split = [f"{key} (parameter)" for key in plan.space.keys()]
    else:
        names = [pos_name(i) for i in plan.split_pos] + list(plan.split_kw)
        split = [f"{n} ({_short(v)})" for n, v in zip(names, plan.split_values, strict=True)]
    whole = [f"{pos_name(i)} ({_short(a)}, {size_mb(a):.2f} MB)"
             for i, a in enumerate(plan.args) if i not in plan.split_pos]
    whole += [f"{k} ({_short(v)}, {size_mb(v):.2f} MB)" for k, v in plan.kwargs.items()
              if k not in plan.split_kw]
    return (f"{plan.n_calls} calls of {func_name(plan.func)}: split across the calls: "
            f"{', '.join(split) or 'nothing'}; passed whole to every call (sent once): "
            f"{', '.join(whole) or 'nothing'}"
            + ("; taskID passed" if plan.pass_task_id else ""))
