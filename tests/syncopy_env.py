"""A separate virtual environment with Syncopy (ESI's analysis toolkit, ACME's main
downstream user) and this package, for the Syncopy integration tests.

The environment is cached under a path keyed by the requirements and the Python version
(``$ACME_TEST_CACHE``, default ``~/.cache/acme-parallel``), so a rerun only reinstalls
this package (non-editable, from a copy of the tree under test). A file lock serialises
concurrent test runs. If the package index cannot be reached the tests are skipped, or
fail when the environment variable ``CI`` is set.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

SYNCOPY = "esi-syncopy==2023.9"
#: Syncopy 2023.9's tests also need pytz, and numpy < 2.4 (newer numpy rejects them).
REQUIREMENTS = [SYNCOPY, "pytz", "numpy<2.4", "pytest", "setuptools>=77"]
ROOT = Path(__file__).resolve().parents[1]
#: Seconds allowed for creating the environment (downloads) and for one pip call.
INSTALL_TIMEOUT = 1200


def _cache_dir() -> Path:
    return Path(os.environ.get("ACME_TEST_CACHE", Path.home() / ".cache" / "acme-parallel"))


def venv_path() -> Path:
    key = hashlib.sha256("\n".join([*REQUIREMENTS, sys.version]).encode()).hexdigest()[:12]
    return _cache_dir() / f"syncopy-2023.9-py{sys.version_info[0]}.{sys.version_info[1]}-{key}"


def _run(cmd: Sequence[str], timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                          check=False, **kwargs)


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed with exit code {proc.returncode}:\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _create(venv: Path) -> None:
    """Create the environment under a temporary name, then rename it (whole or absent)."""
    with tempfile.TemporaryDirectory() as probe_dir:
        probe = _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                      probe_dir, SYNCOPY], timeout=300)
    if probe.returncode != 0:
        _unavailable(f"cannot download {SYNCOPY} from the package index: "
                     f"{probe.stderr.strip()[-500:]}")
    tmp = venv.with_name(venv.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    _check(_run([sys.executable, "-m", "venv", str(tmp)], timeout=300), "python -m venv")
    _check(_run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", *REQUIREMENTS],
                timeout=INSTALL_TIMEOUT), f"pip install {' '.join(REQUIREMENTS)}")
    tmp.rename(venv)


def _install_this_package(python: Path) -> None:
    """Install the tree under test (not editable) from a copy, so that the build leaves
    nothing behind in the tree."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "acme-parallel"
        src.mkdir()
        for name in ("pyproject.toml", "README.rst", "LICENSE"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / "acme", src / "acme",
                        ignore=shutil.ignore_patterns("__pycache__"))
        _check(_run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                     "--no-build-isolation", "--force-reinstall", str(src)],
                    timeout=600), "pip install acme-parallel")
    # The package's own dependencies as the tree declares them now: a cached environment
    # gets those added since it was made (pip leaves what already satisfies them alone).
    import tomllib  # noqa: PLC0415 (Python >= 3.11; the test environment has it)
    with open(ROOT / "pyproject.toml", "rb") as fh:
        dependencies = tomllib.load(fh)["project"]["dependencies"]
    _check(_run([str(python), "-m", "pip", "install", "-q", "numpy<2.4", *dependencies],
                timeout=INSTALL_TIMEOUT), "pip install the dependencies of acme-parallel")


@contextmanager
def syncopy_python() -> Iterator[Path]:
    """The Python of the Syncopy environment, with this package installed; held under a
    lock so that concurrent runs do not reinstall it under each other."""
    venv = venv_path()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not venv.exists():
                _create(venv)
            python = venv / "bin" / "python"
            _install_this_package(python)
            yield python
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def syncopy_env(workdir: Path, local: bool) -> dict[str, str]:
    """Environment of a Syncopy subprocess: its directories under ``workdir``; without
    PYTHONPATH (the environment's own install is tested).

    With ``local``, ``srun`` fails and ``sinfo`` succeeds (printing nothing), whether or
    not SLURM runs here: Syncopy's test configuration then starts a LocalCluster
    instead of asking for ESI's partitions (it looks for ``srun``), and Syncopy computes
    through ParallelMap (it does so only where ``sinfo`` succeeds), which attaches to
    the tests' client.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for name in ("SPYDIR", "SPYTMPDIR", "SPYLOGDIR"):
        path = workdir / name.lower()
        path.mkdir(exist_ok=True)
        env[name] = str(path)
    if local:
        bin_dir = workdir / "bin"
        bin_dir.mkdir(exist_ok=True)
        for command, status in (("srun", 1), ("sinfo", 0)):
            path = bin_dir / command
            path.write_text(f"#!/bin/sh\nexit {status}\n")
            path.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env
