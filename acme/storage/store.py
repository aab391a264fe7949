"""Client side: where the results of one run go, as the run pipeline sees it.

:func:`create_output_dirs` makes the run's directories when it opens; a
:class:`ResultStore` then takes each call's outcome as it arrives (a single file's
results are written into the container here, a value HDF5 cannot hold is pickled next
to it) and publishes the container at each checkpoint and at the end. Workers write
their own payloads (:mod:`acme.storage.payloads`); nothing else in :mod:`acme` writes a
result.
"""

from __future__ import annotations

import shutil
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import h5py

from ..errors import ResultShapeError, ResultTypeError
from ..options import RunOptions
from ..tasks import CallOutcome
from .containers import SingleFileWriter, build_link_container
from .paths import RunPaths, StorageMode
from .payloads import StorageSpec, pickled_warning, write_pickle

__all__ = ["ResultStore", "create_output_dirs", "remove_created", "describe_storage"]

#: Publishes the container for a snapshot of the outcomes (None: not yet finished).
Publisher = Callable[[list[CallOutcome | None]], None]


def create_output_dirs(paths: RunPaths, exist_ok: bool) -> list[Path]:
    """Create the output directory (and the payload directory of HDF5 payloads).

    Returns what was created, outermost first, to be removed again if the run ends
    before it starts. ``exist_ok``: the user named the directory (it may exist).

    Raises
    ------
    OSError
        If a directory cannot be created; nothing created is left behind.
    """
    output_dir = paths.output_dir
    created = [p for p in (output_dir, *output_dir.parents) if not p.exists()][-1:]
    try:
        output_dir.mkdir(parents=True, exist_ok=exist_ok)
        if paths.storage == StorageMode.HDF5 and not paths.payload_dir.is_dir():
            paths.payload_dir.mkdir()
            created.append(paths.payload_dir)
    except OSError as err:
        remove_created([p for p in created if p.exists()])  # what the failure left
        raise OSError(f"automatic creation of output folder {output_dir} failed: "
                      f"{err}") from err
    return created


def remove_created(paths: Iterable[Path]) -> None:
    """Remove files and directories a run created before it was abandoned.

    Paths that are already gone are skipped; directories go with their content.
    """
    for path in reversed(list(paths)):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def describe_storage(storage: StorageMode, paths: RunPaths | None) -> str:
    """Where a run's results go, for the log."""
    if storage == StorageMode.MEMORY or paths is None:
        return "in memory, collected by this process"
    if storage == StorageMode.PICKLE:
        return f"as pickle files in {paths.output_dir}"
    if storage == StorageMode.SINGLE:
        return f"in one HDF5 file, {paths.container}"
    return f"as HDF5 payloads in {paths.payload_dir}, linked by {paths.container}"


class ResultStore:
    """Takes the outcomes of one run and keeps the container current.

    Parameters
    ----------
    paths : RunPaths or None
        The run's files (None: results in memory).
    options : RunOptions
        The run's storage mode, ``result_shape`` and ``result_dtype``.
    func_name : str
        Name of the run's function (file names, and what workers report).
    n_calls : int
        Calls of the run.
    grid : tuple of int or None
        Axes that replace the stacking dimension (``result_grid``).
    extra : callable or None
        Adds more to the container before it is published (parameter spaces).
    resume : bool
        The run continues an earlier one (a single file continues from its container).
    """

    def __init__(self, paths: RunPaths | None, options: RunOptions, func_name: str,
                 n_calls: int,
                 grid: tuple[int, ...] | None = None,
                 extra: Callable[[h5py.File], None] | None = None,
                 resume: bool = False) -> None:
        self.paths = paths
        self.mode = options.storage
        #: What the workers need to write results (sent once per run).
        self.spec = StorageSpec.for_run(self.mode, paths, func_name, options.result_shape,
                                        options.result_dtype)
        self._writer: SingleFileWriter | None = None
        self._links: Publisher | None = None
        container = paths.container if paths is not None else None
        if container is None:
            return
        if self.mode == StorageMode.SINGLE:
            self._writer = SingleFileWriter(container, n_calls, options.result_shape,
                                            options.result_dtype, grid, extra, resume=resume)
        elif self.mode == StorageMode.HDF5:
            payload_dir = paths.payload_dir if paths is not None else Path()
            written: dict[int, Any] = {}  # block files already current (result_shape)

            def links(snapshot: list[CallOutcome | None]) -> None:
                build_link_container(container, payload_dir, snapshot, options.result_shape,
                                     options.result_dtype, grid, extra, written)
            self._links = links

    @property
    def publish(self) -> Publisher | None:
        """Publishes the container as it is now (for a checkpoint), or None."""
        return self._writer.checkpoint if self._writer is not None else self._links

    @property
    def finish(self) -> Publisher | None:
        """Writes the final container, or None."""
        return self._writer.close if self._writer is not None else self._links

    def discard(self) -> None:
        """Drop what the store opened (the run ends before any call ran)."""
        if self._writer is not None:
            self._writer.discard()

    def keep(self, outcome: CallOutcome) -> None:
        """Store one call's outcome; only results in memory keep their value."""
        if outcome.ok and self._writer is not None:
            self._write_single(self._writer, outcome)
        if self.mode != StorageMode.MEMORY:
            outcome.value = None

    def _write_single(self, writer: SingleFileWriter, outcome: CallOutcome) -> None:
        try:
            writer.write(outcome)
        except (ResultShapeError, ResultTypeError) as err:
            # Does not fit the result_shape dataset (e.g. complex for a real dtype): the
            # call fails, as it would on a worker.
            outcome.error = "".join(traceback.format_exception(err))
            outcome.summary = f"{type(err).__name__}: {err}"
        except TypeError as err:
            # HDF5 cannot hold this value (the writer has not touched the container):
            # pickle it for this call only, as <func>_<i>.pickle next to the container.
            path = self.spec.pickle(outcome.index)
            write_pickle(outcome.value, path)
            outcome.path = path
            outcome.warning = pickled_warning(outcome.index, err, path)
