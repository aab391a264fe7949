"""Removal of old auto-named output directories (``cleanup_threshold_days``).

Runs without an ``output_dir`` put their results into a new ``ACME_YYYYMMDD-hhmmss-ffffff``
directory of the current working directory, and these pile up. When such a run starts:

* ``cleanup_threshold_days=N`` removes the auto-named directories there that are older
  than ``N`` days (``0``: all of them), after a confirmation on a terminal;
* ``cleanup_threshold_days=None`` (the default) removes nothing, but warns when there
  are more than 20 of them (and, on a terminal, offers to remove the old ones).

Only directories whose name is exactly an auto-generated one (:data:`AUTO_DIR_PATTERN`)
are ever considered; other files and directories, symbolic links and the starting run's
own directory are never touched. A directory's age counts from the later of the time in
its name (when its run started) and its last modification, so a directory you added
files to recently is treated as recent.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from .prompt import ask
from .storage.paths import AUTO_DIR_PATTERN

__all__ = ["AutoDir", "find_auto_dirs", "select_old", "clean_old_dirs", "cleanup_for_run",
           "DIR_COUNT_WARNING"]

#: More auto-named directories than this in one place trigger a warning (ACME's limit).
DIR_COUNT_WARNING = 20

#: Default answer of the ">20 directories" question: keep (deleting needs an explicit
#: answer; ACME's default was to delete those older than 7 days).
_KEEP = "k"

_DAY = 86400.0


@dataclass(frozen=True)
class AutoDir:
    """An auto-named output directory and its age in days."""

    path: Path
    age_days: float


def _age_days(entry: os.DirEntry[str], now: float) -> float:
    started = datetime.strptime(entry.name, "ACME_%Y%m%d-%H%M%S-%f").timestamp()
    modified = entry.stat(follow_symlinks=False).st_mtime
    return (now - max(started, modified)) / _DAY


def find_auto_dirs(base: Path, now: float | None = None,
                   exclude: Sequence[Path] = ()) -> list[AutoDir]:
    """Auto-named output directories directly inside ``base``, oldest first.

    Only real directories (no symbolic links) whose whole name matches
    :data:`AUTO_DIR_PATTERN` are listed; ``exclude`` lists directories to leave out.
    """
    now = time.time() if now is None else now
    skip = {os.path.abspath(p) for p in exclude}
    found = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return []
    for entry in entries:
        if not AUTO_DIR_PATTERN.fullmatch(entry.name) or os.path.abspath(entry.path) in skip:
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            age = _age_days(entry, now)
        except (OSError, ValueError):  # vanished meanwhile, or not a real date
            continue
        found.append(AutoDir(Path(entry.path), age))
    return sorted(found, key=lambda d: -d.age_days)


def select_old(dirs: Sequence[AutoDir], threshold_days: int) -> list[AutoDir]:
    """Those of ``dirs`` older than ``threshold_days`` days; all of them for ``0``."""
    if threshold_days == 0:
        return list(dirs)
    return [d for d in dirs if d.age_days > threshold_days]


def _remove(dirs: Sequence[AutoDir], log: logging.Logger) -> list[Path]:
    removed = []
    for old in dirs:
        try:
            shutil.rmtree(old.path)
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("Could not remove old ACME directory %s: %s", old.path, err)
            continue
        removed.append(old.path)
        log.info("Deleted old ACME directory %s (age: %d days)", old.path, int(old.age_days))
    return removed


def _ask(question: str, choices: Sequence[str], default: str,
         stream: IO[str] | None) -> str:
    return ask(question, choices, default=default, stream=stream) or default


def clean_old_dirs(base: Path, threshold_days: int | None, *, interactive: bool,
                   log: logging.Logger, keep: Sequence[Path] = (),
                   stream: IO[str] | None = None, now: float | None = None) -> list[Path]:
    """Remove old auto-named directories in ``base`` as ``cleanup_threshold_days`` says.

    Parameters
    ----------
    base : Path
        Where auto-named directories are created (the current working directory).
    threshold_days : int or None
        Remove those older than this many days (``0``: all); ``None``: only warn if
        there are more than :data:`DIR_COUNT_WARNING`.
    interactive : bool
        Ask before removing anything (standard input is a terminal and
        ``setup_interactive``); otherwise remove without asking.
    log : Logger
        Receives the warning and one line per removed directory.
    keep : sequence of Path
        Directories never to remove (the starting run's own).
    stream : file-like, optional
        Where answers are read from instead of ``sys.stdin`` (tests).
    now : float, optional
        The current time (``time.time()``), for tests.

    Returns
    -------
    list of Path
        The directories removed.
    """
    dirs = find_auto_dirs(base, now, keep)
    if threshold_days is None:
        if len(dirs) <= DIR_COUNT_WARNING:
            return []
        log.warning("Found %d ACME directories in %s. Pass `cleanup_threshold_days=N` to "
                    "remove those older than N days (0 removes all of them)", len(dirs), base)
        if not interactive:
            return []
        answer = _ask("Do you want to [k]eep these directories or delete entries older "
                      f"than N days (N = 0...99)? [Default: '{_KEEP}']",
                      [_KEEP] + [str(n) for n in range(100)], _KEEP, stream)
        if answer == _KEEP:
            return []
        return _remove(select_old(dirs, int(answer)), log)
    old = select_old(dirs, threshold_days)
    if not old:
        return []
    if interactive:
        answer = _ask(f"Do you want to proceed removing {len(old)} directories? [y/N]",
                      ["y", "n", "yes", "no"], "n", stream)
        if answer not in ("y", "yes"):
            log.info("Keeping %d old ACME directories in %s", len(old), base)
            return []
    return _remove(old, log)


def cleanup_for_run(threshold_days: int | None, own_dir: Path | None, *, auto_named: bool,
                    interactive: bool, log: logging.Logger,
                    stream: IO[str] | None = None) -> list[Path]:
    """The clean-up step of a starting run.

    Only a run whose output directory is auto-named looks at its siblings (as in ACME);
    for other runs a threshold is ignored with a warning.
    """
    if not auto_named or own_dir is None:
        if threshold_days is not None:
            log.warning("`cleanup_threshold_days` only applies to auto-named output "
                        "directories (runs without `output_dir`); ignoring it")
        return []
    return clean_old_dirs(own_dir.parent, threshold_days, interactive=interactive, log=log,
                          keep=[own_dir], stream=stream)
