"""The "ACME" logger, configured for the duration of one run only.

Importing :mod:`acme` adds a ``NullHandler`` and nothing else. A run attaches a console
handler and (optionally) a log file, sets the level its ``verbose`` asks for, and puts
everything back as it was when it ends.

Several runs may be active at once, in different threads of one process. They share the
one "ACME" logger, so each run's handlers take only the records logged by the thread that
runs it (records of threads that run nothing, such as a helper thread, go to every
run), and the logger's level and propagation are restored when the last run ends.

A log file that cannot be written (a full disk, a deleted directory) never fails the run
and never hides its real error: the first write error is reported once as a warning, and
the rest of the run is logged to the console only.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
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


class _Active:
    """The runs attached to the logger: which thread runs which, and the logger's state
    from before the first of them (the logger is process-wide, so this is too)."""

    lock = threading.Lock()
    by_thread: dict[int, RunLog] = {}
    saved: tuple[int, bool] | None = None


class _LogFile(logging.FileHandler):
    """A run's log file: a write error is reported once and never raised."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8")
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self._broken(sys.exc_info()[1])

    def close(self) -> None:
        try:
            super().close()  # closes the file also when its final flush fails
        except OSError as err:
            self._broken(err)

    def _broken(self, err: BaseException | None) -> None:
        if self.broken:
            return
        self.broken = True
        warnings.warn(f"ACME could not write its log file {self.baseFilename} ({err}); "
                      "the rest of this run is logged to the console only",
                      RuntimeWarning, stacklevel=2)


class RunLog:
    """Console and file logging of one run; :meth:`close` restores the logger."""

    def __init__(self, verbose: bool | None, logfile: Path | None) -> None:
        self.logger = get_logger()
        self.logfile = logfile
        self.level = _LEVELS[verbose]
        self.thread = threading.get_ident()
        self._handlers: list[logging.Handler] = []
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        # Long per-task tracebacks go to the log file only.
        console.addFilter(lambda record: not getattr(record, "file_only", False))
        handlers: list[logging.Handler] = [console]
        if logfile is not None:
            if logfile.exists():
                warnings.warn(f"ACME log-file {logfile} already exists, appending to it",
                              UserWarning, stacklevel=4)
            file_handler = _LogFile(logfile)  # may raise: nothing is attached yet
            file_handler.setFormatter(logging.Formatter(
                "%(asctime)s %(name)s %(levelname)s: %(message)s"))
            handlers.append(file_handler)
        for handler in handlers:
            self._add(handler)
        with _Active.lock:
            if not _Active.by_thread:
                _Active.saved = (self.logger.level, self.logger.propagate)
            # A run started inside another run's thread (nested) hands it back on close.
            self._outer = _Active.by_thread.get(self.thread)
            _Active.by_thread[self.thread] = self
            # Our own console output; the root logger would print everything twice.
            self.logger.propagate = False
            self._set_level()

    def _owns(self, record: logging.LogRecord) -> bool:
        owner = _Active.by_thread.get(record.thread or 0)
        return owner is None or owner is self

    def _add(self, handler: logging.Handler) -> None:
        handler.setLevel(self.level)
        handler.addFilter(self._owns)
        self.logger.addHandler(handler)
        self._handlers.append(handler)

    def _set_level(self) -> None:
        # The most verbose active run decides what is logged; each handler keeps to
        # its own run's level.
        self.logger.setLevel(min(run.level for run in _Active.by_thread.values()))

    def adopt_thread(self) -> None:
        """Log this thread's records to this run (a run continued in another thread)."""
        with _Active.lock:
            if _Active.by_thread.get(self.thread) is self:
                del _Active.by_thread[self.thread]
            self.thread = threading.get_ident()
            self._outer = _Active.by_thread.get(self.thread)
            _Active.by_thread[self.thread] = self

    def close(self) -> None:
        """Detach and close this run's handlers; when no other run is active, restore
        the logger's level and propagation. Never raises (see the module docstring)."""
        for handler in self._handlers:
            self.logger.removeHandler(handler)
            handler.close()
        self._handlers.clear()
        with _Active.lock:
            if _Active.by_thread.get(self.thread) is self:
                del _Active.by_thread[self.thread]
                if self._outer is not None and self._outer._handlers:
                    _Active.by_thread[self.thread] = self._outer
            if _Active.by_thread:
                self._set_level()
            elif _Active.saved is not None:
                self.logger.setLevel(_Active.saved[0])
                self.logger.propagate = _Active.saved[1]
                _Active.saved = None


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
