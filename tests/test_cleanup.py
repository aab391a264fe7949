"""``cleanup_threshold_days``: only auto-named ACME directories are ever removed."""

from __future__ import annotations

import io
import logging
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from acme import ParallelMap
from acme.cleanup import DIR_COUNT_WARNING, clean_old_dirs, find_auto_dirs
from acme.storage.paths import auto_dir_name
from tests import funcs

LOG = logging.getLogger("ACME")
DAY = 86400


def make_auto_dir(base: Path, days_ago: float, modified_days_ago: float | None = None,
                  content: bool = True) -> Path:
    """An ``ACME_<timestamp>`` directory started ``days_ago`` days ago."""
    now = time.time()
    path = base / auto_dir_name(datetime.now() - timedelta(days=days_ago))
    path.mkdir()
    if content:
        (path / "f_payload").mkdir()
        (path / "f_payload" / "f_0.h5").write_bytes(b"x")
    modified = days_ago if modified_days_ago is None else modified_days_ago
    stamp = now - modified * DAY
    os.utime(path, (stamp, stamp))
    return path


def look_alikes(base: Path, outside: Path) -> list[Path]:
    """Entries a clean-up must never touch, though their names resemble ACME's."""
    made = []
    for name in ("ACME_20200101-120000-00000", "ACME_20200101-120000-0000000",
                 "ACME_20200101-120000-000000x", "ACME_20200101-120000", "ACME_foo",
                 "ACME_20200101-120000-000000.bak", "acme_20200101-120000-000000",
                 "xACME_20200101-120000-000000", "results"):
        (base / name).mkdir()
        (base / name / "data.txt").write_text("keep")
        made.append(base / name)
    for name in ("ACME_20200101-120000-000001", "ACME_f_20200101-120000.log"):
        (base / name).write_text("a file, not a directory")
        made.append(base / name)
    target = outside / "linked"
    target.mkdir()
    (target / "data.txt").write_text("keep")
    link = base / "ACME_20200101-120000-000002"
    link.symlink_to(target, target_is_directory=True)
    made += [link, target / "data.txt"]
    nested = base / "results" / "ACME_20200101-120000-000003"
    nested.mkdir()
    made.append(nested)
    old = time.time() - 1000 * DAY
    for path in made:
        os.utime(path, (old, old), follow_symlinks=False)
    return made


def test_threshold_zero_removes_only_auto_named_directories(tmp_path):
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    keep = look_alikes(base, outside)
    auto = [make_auto_dir(base, 400), make_auto_dir(base, 0.001)]
    removed = clean_old_dirs(base, 0, interactive=False, log=LOG)
    assert sorted(removed) == sorted(auto)
    assert not any(p.exists() for p in auto)
    assert all(p.exists() or p.is_symlink() for p in keep)
    assert (base / "ACME_20200101-120000-000002" / "data.txt").read_text() == "keep"


def test_threshold_days_removes_older_ones_only(tmp_path, acme_log):
    old = make_auto_dir(tmp_path, 10)
    recent = make_auto_dir(tmp_path, 3)
    touched = make_auto_dir(tmp_path, 10, modified_days_ago=1)  # changed since: recent
    removed = clean_old_dirs(tmp_path, 7, interactive=False, log=LOG)
    assert removed == [old]
    assert recent.exists() and touched.exists()
    assert f"Deleted old ACME directory {old} (age: 10 days)" in acme_log.messages()


def test_oldest_first_with_ages(tmp_path):
    first, second = make_auto_dir(tmp_path, 5), make_auto_dir(tmp_path, 2)
    found = find_auto_dirs(tmp_path, exclude=[second])
    assert [d.path for d in found] == [first]
    assert found[0].age_days == pytest.approx(5, abs=0.01)


@pytest.mark.parametrize(("answer", "removed"), [("y\n", True), ("n\n", False),
                                                 ("\n", False), ("", False)])
def test_confirmation_on_a_terminal(tmp_path, capsys, answer, removed):
    old = make_auto_dir(tmp_path, 10)
    result = clean_old_dirs(tmp_path, 7, interactive=True, log=LOG,
                            stream=io.StringIO(answer))
    assert result == ([old] if removed else [])
    assert old.exists() is not removed
    assert "Do you want to proceed removing 1 directories? [y/N]" in capsys.readouterr().out


def test_many_directories_warn_and_offer_removal(tmp_path, acme_log, capsys):
    ages = [30.5 - n for n in range(DIR_COUNT_WARNING)]  # 30.5 ... 11.5 days
    dirs = [make_auto_dir(tmp_path, age, content=False) for age in ages]
    assert clean_old_dirs(tmp_path, None, interactive=False, log=LOG) == []
    assert acme_log.messages() == []  # 20 are fine
    dirs.append(make_auto_dir(tmp_path, 1, content=False))
    assert clean_old_dirs(tmp_path, None, interactive=False, log=LOG) == []
    [warning] = acme_log.messages()
    assert warning.startswith(f"Found 21 ACME directories in {tmp_path}")
    assert capsys.readouterr().out == ""  # no question without a terminal
    # on a terminal: the default keeps them, a number removes those older than that
    assert clean_old_dirs(tmp_path, None, interactive=True, log=LOG,
                          stream=io.StringIO("\n")) == []
    assert "[k]eep these directories" in capsys.readouterr().out
    removed = clean_old_dirs(tmp_path, None, interactive=True, log=LOG,
                             stream=io.StringIO("25\n"))
    assert sorted(removed) == sorted(dirs[:6])  # 30.5 ... 25.5 days old
    assert all(d.exists() for d in dirs[6:])


def test_run_with_threshold_zero_keeps_its_own_directory(in_tmp, acme_log):
    base = Path.cwd()
    (base / "elsewhere").mkdir()
    keep = look_alikes(base, base / "elsewhere")
    old = [make_auto_dir(base, 2), make_auto_dir(base, 0.0001)]
    with ParallelMap(funcs.f, [1, 2], 4, cleanup_threshold_days=0) as pmap:
        paths = pmap.compute(debug=True)
    assert not any(p.exists() for p in old)
    assert all(Path(p).exists() for p in paths)
    assert Path(pmap.results_container).parent.parent == base
    assert all(p.exists() or p.is_symlink() for p in keep)


def test_explicit_output_dir_ignores_the_threshold(tmp_path, monkeypatch, acme_log):
    monkeypatch.chdir(tmp_path)
    old = make_auto_dir(tmp_path, 100)
    with ParallelMap(funcs.f, [1, 2], 4, output_dir=tmp_path / "out",
                     cleanup_threshold_days=0) as pmap:
        pmap.compute(debug=True)
    assert old.exists()
    assert any("`cleanup_threshold_days` only applies to auto-named" in m
               for m in acme_log.messages())
