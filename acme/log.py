"""The "ACME" logger, configured for the duration of one run only.

Importing :mod:`acme` adds a ``NullHandler`` and nothing else. A run attaches a console
handler and (optionally) a log file, sets the level its ``verbose`` asks for, and puts
everything back as it was when it ends.
"""

from __future__ import annotations

import functools
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["LOGGER_NAME", "get_logger", "RunLog", "shows_messages"]

_F = TypeVar("_F", bound=Callable[..., Any])

LOGGER_NAME = "ACME"
_LEVELS = {None: logging.INFO, True: logging.DEBUG, False: logging.WARNING}


def get_logger() -> logging.Logger:
    """The library's logger (name "ACME", as in ACME)."""
    return logging.getLogger(LOGGER_NAME)


class RunLog:
    """Console and file logging of one run; :meth:`close` restores the logger."""

    def __init__(self, verbose: bool | None, logfile: Path | None) -> None:
        self.logger = get_logger()
        self.logfile = logfile
        self._saved = (self.logger.level, self.logger.propagate)
        self.logger.setLevel(_LEVELS[verbose])
        # Our own console output; the root logger would print everything twice.
        self.logger.propagate = False
        self._handlers: list[logging.Handler] = []
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        # Long per-task tracebacks go to the log file only.
        console.addFilter(lambda record: not getattr(record, "file_only", False))
        self._add(console)
        if logfile is not None:
            if logfile.exists():
                warnings.warn(f"ACME log-file {logfile} already exists, appending to it",
                              UserWarning, stacklevel=4)
            handler = logging.FileHandler(logfile, mode="a", encoding="utf-8")
            handler.setFormatter(logging.Formatter(
                "%(asctime)s %(name)s %(levelname)s: %(message)s"))
            self._add(handler)

    def _add(self, handler: logging.Handler) -> None:
        self.logger.addHandler(handler)
        self._handlers.append(handler)

    def close(self) -> None:
        """Detach and close this run's handlers; restore level and propagation."""
        for handler in self._handlers:
            self.logger.removeHandler(handler)
            handler.close()
        self._handlers.clear()
        self.logger.setLevel(self._saved[0])
        self.logger.propagate = self._saved[1]


def _handled(logger: logging.Logger) -> bool:
    """Whether someone (a run, or the application) already shows ACME's messages."""
    if any(not isinstance(h, logging.NullHandler) for h in logger.handlers):
        return True
    return logger.propagate and bool(logging.getLogger().handlers)


def shows_messages(func: _F) -> _F:
    """For public helpers called on their own (``local_cluster_setup``, ...): show
    ACME's messages, such as the dashboard link, on the console for the duration of the
    call, unless a run or the application's logging configuration already does."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _handled(get_logger()):
            return func(*args, **kwargs)
        runlog = RunLog(None, None)
        try:
            return func(*args, **kwargs)
        finally:
            runlog.close()
    return wrapper  # type: ignore[return-value]
