"""``RunPaths``: every file name of a run, derived in one place (ACME's layout)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from acme.storage.paths import AUTO_DIR_PATTERN, RunPaths, auto_dir_name


def test_hdf5_layout():
    paths = RunPaths(Path("/out"), "f", "hdf5")
    assert paths.container == Path("/out/f.h5")
    assert paths.payload_dir == Path("/out/f_payload")
    # call 15 and call 1 never share a name (ACME's rstrip(".h5") defect)
    assert paths.payload(15) == Path("/out/f_payload/f_15.h5")
    assert paths.pickle(15) == Path("/out/f_payload/f_15.pickle")
    assert paths.pickle(5) == Path("/out/f_payload/f_5.pickle")
    assert paths.default_logfile(datetime(2026, 1, 2, 3, 4, 5)) == \
        Path("/out/ACME_f_20260102-030405.log")


def test_single_file_and_pickle_layouts():
    single = RunPaths(Path("/out"), "f", "single")
    assert single.container == Path("/out/f.h5")
    pickled = RunPaths(Path("/out"), "f", "pickle")
    assert pickled.container is None
    assert pickled.payload_dir == Path("/out")
    assert pickled.pickle(3) == Path("/out/f_3.pickle")


@pytest.mark.parametrize("storage, present, found", [
    ("hdf5", ["f.h5"], ["f.h5"]),
    ("hdf5", ["f_payload/"], ["f_payload"]),
    ("hdf5", ["g.h5", "f_1.pickle", "notes.txt"], []),
    ("single", ["f.h5", "f_payload/"], ["f.h5"]),
    ("pickle", ["f_2.pickle", "f_10.pickle", "f.h5"], ["f_10.pickle"]),
    ("pickle", ["g_2.pickle"], []),
])
def test_existing_results_are_those_of_this_layout(tmp_path, storage, present, found):
    for name in present:
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_text("x")
    existing = RunPaths(tmp_path, "f", storage).existing_results()
    assert [p.relative_to(tmp_path).as_posix() for p in existing] == found


def test_existing_results_of_a_missing_directory():
    assert RunPaths(Path("/no/such/dir"), "f", "pickle").existing_results() == []


def test_auto_dir_name_matches_the_cleanup_pattern():
    name = auto_dir_name(datetime(2026, 1, 2, 3, 4, 5, 678))
    assert name == "ACME_20260102-030405-000678"
    assert AUTO_DIR_PATTERN.match(name)
    assert not AUTO_DIR_PATTERN.match("ACME_20260102-030405")  # a folder acme did not name
