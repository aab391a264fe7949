"""Questions to the user on a terminal, with an optional time limit.

Cluster set-up asks only when standard input is a terminal; in scripts, batch jobs,
notebooks and tests it never blocks.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Sequence
from typing import IO

__all__ = ["stdin_is_tty", "ask"]


#: Invalid answers tolerated before the default is taken.
MAX_INVALID_ANSWERS = 4


def stdin_is_tty() -> bool:
    """Whether standard input is an interactive terminal."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


def ask(question: str, choices: Sequence[str], default: str | None,
        timeout: float | None = None, stream: IO[str] | None = None) -> str | None:
    """Ask ``question`` until one of ``choices`` (case-insensitive) is answered.

    Parameters
    ----------
    question : str
        Printed to standard output, followed by a space.
    choices : sequence of str
        Accepted answers (lower case).
    default : str or None
        Returned for an empty answer and at end of input.
    timeout : float, optional
        Seconds to wait in total; afterwards ``default`` is returned. ``None`` waits
        forever.
    stream : file-like, optional
        Where answers are read from (default ``sys.stdin``); needs a ``fileno`` when a
        timeout is given.

    Returns
    -------
    str or None
        The chosen answer, or ``default``.
    """
    stream = sys.stdin if stream is None else stream
    deadline = None if timeout is None else time.monotonic() + timeout
    valid = [choice.lower() for choice in choices]
    for _ in range(MAX_INVALID_ANSWERS + 1):
        line = _answer(question, stream, deadline)
        if line is None:
            print(f"\n(no answer within {timeout:g} s)", flush=True)
            return default
        if not line:  # end of input
            return default
        answer = line.strip().lower()
        if not answer:
            return default
        if answer in valid:
            return answer
        print(f"Please answer one of {', '.join(valid)}.", flush=True)
    # Bounded: input that never gives a valid answer (e.g. a replaced input()) must not
    # keep the run asking forever.
    print(f"No valid answer after {MAX_INVALID_ANSWERS + 1} tries; using the default "
          f"{default!r}.", flush=True)
    return default


def _answer(question: str, stream: IO[str], deadline: float | None) -> str | None:
    """Ask once; the answer line ('' at end of input), or None when ``deadline`` passes."""
    if deadline is None and stream is sys.stdin:
        # Without a time limit, through input(): line editing in a terminal, and code
        # (and tests, such as ACME's) that replaces input() answers here too.
        try:
            return input(question + " ") + "\n"
        except EOFError:
            return ""
    print(question, end=" ", flush=True)
    return _readline(stream, deadline)


def _readline(stream: IO[str], deadline: float | None) -> str | None:
    """One line from ``stream`` ('' at end of input), or None when ``deadline`` passes.

    Reads the file descriptor byte by byte, so that no typed-ahead input hides in Python's
    buffer where ``select`` cannot see it.
    """
    if deadline is None:
        return stream.readline()
    fd = stream.fileno()
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        byte = os.read(fd, 1)
        if not byte:
            break
        data += byte
    return data.decode(errors="replace")
