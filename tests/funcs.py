"""Functions mapped in the tests (importable by the workers)."""

from __future__ import annotations

import os
import time

import numpy as np


def f(x, y, z=3):
    return (x + y) * z


def ident(x):
    return x


def fails_at(x, bad=(3, 57)):
    if x in bad:
        raise ValueError(f"boom {x}")
    return x


def with_task_id(x, taskID=None):
    return x, taskID


def no_positional(*, scale=2):
    return scale


def star(x, *args, **kwargs):
    return x + sum(args) + sum(kwargs.values())


def kwonly(x, *, k):
    return x * k


def shape_of(a):
    return np.asarray(np.shape(a))


def pid(x):
    return os.getpid()


def rand1(x):
    return x * np.random.default_rng().random()


def array_sum(x, arr):
    return float(x + arr.sum())


def dies_at_3(x):
    if x == 3:
        os._exit(1)  # the worker process dies: no exception to catch
    return x


def _arrives(x):
    time.sleep(1.0)  # deliberate, builds the scenario (noqa: sleep-ok)
    return x


class SlowToArrive:
    """A value that takes 1 s to unpickle in the driver, where it turns into ``x``."""

    def __init__(self, x):
        self.x = x

    def __reduce__(self):
        return (_arrives, (self.x,))


def slow_first_dies_at_2(x):
    """Call 0's value keeps the driver busy for 1 s; call 2 kills its worker process."""
    if x == 2:
        os._exit(1)
    return SlowToArrive(x) if x == 0 else x


def _refuses(x):
    raise ValueError(f"the value of call {x} cannot be rebuilt in the driver")


class Unloadable:
    """A value that pickles on the worker but cannot be unpickled in the driver."""

    def __init__(self, x):
        self.x = x

    def __reduce__(self):
        return (_refuses, (self.x,))


def unloadable_at_2(x):
    return Unloadable(x) if x == 2 else x


def fails_first_time(x, marks, bad=(3, 57)):
    """Raises on the first execution of the calls in ``bad`` only (a marker file in
    ``marks`` remembers that it failed)."""
    if x in bad:
        marker = os.path.join(marks, f"failed_{x}")
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise OSError(f"transient failure of call {x}")
    return x * 10


def fails_twice(x, marks, bad=(2,)):
    """Raises on the first two executions of the calls in ``bad``."""
    if x in bad:
        n = len([m for m in os.listdir(marks) if m.startswith(f"failed_{x}_")])
        if n < 2:
            open(os.path.join(marks, f"failed_{x}_{n}"), "w").close()
            raise OSError(f"failure {n + 1} of call {x}")
    return x * 10


def three_values(x):
    """Three return values: an array of the ``result_shape`` (3, None), a scalar, a string."""
    return np.arange(3.0) + x, x * 2, f"call {x}"


def dies_twice(x, marks, bad=(3,)):
    """Kills its worker process on the first two executions of the calls in ``bad``."""
    if x in bad:
        n = len([m for m in os.listdir(marks) if m.startswith(f"died_{x}_")])
        if n < 2:
            open(os.path.join(marks, f"died_{x}_{n}"), "w").close()
            os._exit(1)
    return x * 10


def stuck_at(x, release, bad=7):
    """Call ``bad`` blocks until the file ``release`` exists (an hour at most); the
    others return ``x * 10`` at once."""
    if x == bad:
        deadline = time.monotonic() + 3600
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)  # noqa: sleep-ok (a call stuck until the test releases it)
    return x * 10


def never_returns_at(x, bad=7):
    """Call ``bad`` sleeps for an hour (it never returns in a test)."""
    if x == bad:
        time.sleep(3600)  # noqa: sleep-ok (the call that never returns)
    return x * 10


def logs_start(x, log):
    """Appends ``x`` to the file ``log`` when it starts; returns ``x * 10``."""
    with open(log, "a") as f:
        f.write(f"{x}\n")
    return x * 10
