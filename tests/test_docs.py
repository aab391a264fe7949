"""Every Python code block of the documentation and the README runs as shown.

Each page runs in a fresh process and working directory (``tests/docs_blocks.py``): its
blocks in order, sharing one namespace, ``>>>`` blocks checked as doctests, on a local
two-worker cluster. ``breakpoint()`` is switched off (``PYTHONBREAKPOINT=0``) and standard
input is closed, as in a batch job.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from docs_blocks import python_blocks

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "docs_blocks.py"
PAGES = sorted(
    path for path in [ROOT / "README.rst", *(ROOT / "doc" / "source").glob("*.rst")]
    if python_blocks(path.read_text(encoding="utf-8")))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_blocks_run(page: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONBREAKPOINT": "0", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(RUNNER), str(page)], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=540, check=False)
    assert proc.returncode == 0, f"{page.name}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    ran = [line for line in proc.stdout.splitlines() if line.endswith(": running")]
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    assert len(ran) == sum(1 for b in blocks if not b.skip_reason)


def test_pages_have_runnable_blocks() -> None:
    """The pages the walkthrough relies on are among those tested."""
    assert {"README.rst", "index.rst", "quickstart.rst", "results.rst"} <= {p.name for p in PAGES}


def test_block_parser_reads_skip_markers_and_doctests() -> None:
    text = (
        "Intro\n\n.. code-block:: python\n\n   x = 1\n   y = x + 1\n\nText\n\n"
        ".. docs-test: skip needs ESI\n\n.. code-block:: python\n\n   esi()\n\n"
        ".. code-block:: python\n\n   >>> y\n   2\n")
    first, skipped, doctest_block = python_blocks(text)
    assert first.source == "x = 1\ny = x + 1\n" and first.line == 3
    assert skipped.skip_reason == "needs ESI" and not first.skip_reason
    assert doctest_block.is_doctest and not first.is_doctest
