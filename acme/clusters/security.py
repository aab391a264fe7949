"""TLS for the clusters acme starts: temporary credentials, handed to jobs privately.

A dask scheduler runs whatever a connected client sends it (pickled functions), as the
user who started it. On a shared cluster its port is reachable by every other user, so
the SLURM clusters acme starts use TLS with mutual authentication by default:
``distributed.security.Security.temporary()`` creates a certificate authority and one
certificate in memory; the scheduler and this process's client use them directly, and
dask-jobqueue writes the worker's copies (files readable by the owner only) into a
private directory (mode 0700) that the jobs can read, because it is on the file system
they share with this process (the job output directory). A client without these
credentials cannot connect. The directory is removed when the cluster is collected or
the process ends.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from distributed.security import Security

__all__ = ["temporary_credentials", "remove_with"]


def temporary_credentials(shared_dir: Path) -> tuple[Security, Path]:
    """New temporary TLS credentials and a new private directory for the workers' copies.

    Parameters
    ----------
    shared_dir : pathlib.Path
        An existing directory on a file system the jobs share with this process.

    Returns
    -------
    (Security, pathlib.Path)
        The credentials (``require_encryption`` is set) and the directory, created with
        mode 0700 inside ``shared_dir``.
    """
    private = Path(tempfile.mkdtemp(prefix=".acme-tls-", dir=shared_dir))  # mode 0700
    return Security.temporary(), private


def remove_with(cluster: Any, directory: Path) -> None:
    """Remove ``directory`` when ``cluster`` is garbage-collected or the process exits.

    dask-jobqueue keeps the workers' credential files open as temporary files on the
    cluster (attributes ``_job_<key>``); they are closed (which deletes them) first.
    """
    files = [value for name, value in vars(cluster).items() if name.startswith("_job_")
             and hasattr(value, "close")]
    weakref.finalize(cluster, _remove, files, str(directory))


def _remove(files: list[Any], directory: str) -> None:
    for handle in files:
        try:
            handle.close()
        except OSError:
            pass
    shutil.rmtree(directory, ignore_errors=True)
