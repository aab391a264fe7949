"""Helper for the tests of functions whose module installs a signal handler at import
(as every module importing ``dask_jobqueue`` does)."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

SOURCE = textwrap.dedent('''
    import os
    import signal

    # What dask_jobqueue.runner does at import; harmless here (SIGUSR2 keeps its default).
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)

    def where(x):
        return x * 2, os.getpid(), os.environ.get("SLURM_JOB_ID")
''')


@contextmanager
def signal_module(directory: Path) -> Iterator[ModuleType]:
    """A module of a new name (so no worker has imported it yet) in ``directory``."""
    name = f"sigmod_{uuid.uuid4().hex[:8]}"
    (directory / f"{name}.py").write_text(SOURCE)
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop(name, None)
