"""Questions to the user on a terminal, with an optional time limit.

Cluster set-up asks only when standard input is a terminal; in scripts, batch jobs,
notebooks and tests it never blocks.
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Sequence
from typing import TextIO

__all__ = ["stdin_is_tty", "ask"]


def stdin_is_tty() -> bool:
    """Whether standard input is an interactive terminal."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


def ask(question: str, choices: Sequence[str], default: str | None,
        timeout: float | None = None, stream: TextIO | None = None) -> str | None:
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
    while True:
        print(question, end=" ", flush=True)
        if deadline is not None:
            remaining = deadline - time.monotonic()
            ready = remaining > 0 and select.select([stream], [], [], remaining)[0]
            if not ready:
                print(f"\n(no answer within {timeout:g} s)", flush=True)
                return default
        line = stream.readline()
        if not line:  # end of input
            return default
        answer = line.strip().lower()
        if not answer:
            return default
        if answer in valid:
            return answer
        print(f"Please answer one of {', '.join(valid)}.", flush=True)
