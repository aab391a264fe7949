"""Run the Python code blocks of one documentation page, in order, as a reader would.

Usage: ``python tests/docs_blocks.py PAGE.rst`` (run by ``tests/test_docs.py`` in a
fresh working directory). The blocks of a page share one namespace, as when a reader
pastes them one after the other into one session: ``.. code-block:: python`` blocks are
executed; blocks made of ``>>>`` lines are checked as doctests (with ``...`` standing for
any text, e.g. a timestamped path). A block preceded by the comment
``.. docs-test: skip <reason>`` is not run (e.g. it needs another site's cluster); the
reason is printed. A two-worker local cluster is started first and is the default client,
so the runs attach to it (``ParallelMap`` would otherwise start a cluster per run).

Exit status 0 when every block ran; otherwise the failing block's line and traceback.
"""

from __future__ import annotations

import doctest
import re
import sys
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path

_DIRECTIVE = re.compile(r"^\.\. code-block:: python\s*$")
_SKIP = re.compile(r"^\.\. docs-test: skip (?P<reason>.+)$")


@dataclass(frozen=True)
class Block:
    """One ``code-block:: python`` of a page."""

    line: int           # 1-based line of the directive
    source: str         # dedented code
    skip_reason: str | None

    @property
    def is_doctest(self) -> bool:
        return self.source.lstrip().startswith(">>>")


def python_blocks(text: str) -> list[Block]:
    """The ``.. code-block:: python`` blocks of an rst text, in order."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if not _DIRECTIVE.match(line):
            continue
        skip = None
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (m := _SKIP.match(lines[j].strip())):
            skip = m.group("reason")
        body = []
        k = i + 1
        while k < len(lines) and (not lines[k].strip() or lines[k].startswith((" ", "\t"))):
            body.append(lines[k])
            k += 1
        source = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        blocks.append(Block(line=i + 1, source=source, skip_reason=skip))
    return blocks


def run_page(page: Path) -> int:
    import acme  # after parsing: a page that does not parse fails without a cluster

    blocks = python_blocks(page.read_text(encoding="utf-8"))
    namespace: dict = {"__name__": "__main__"}
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    parser = doctest.DocTestParser()
    client = acme.local_cluster_setup(n_workers=2, interactive=False)
    try:
        for block in blocks:
            where = f"{page.name}:{block.line}"
            if block.skip_reason:
                print(f"{where}: skipped ({block.skip_reason})", flush=True)
                continue
            print(f"{where}: running", flush=True)
            try:
                if block.is_doctest:
                    test = parser.get_doctest(block.source, namespace, where, str(page),
                                              block.line)
                    result = runner.run(test, clear_globs=False)
                    if result.failed:
                        print(f"{where}: doctest failed", flush=True)
                        return 1
                else:
                    exec(compile(block.source, where, "exec"), namespace)
            except BaseException:
                print(f"{where}: failed\n{traceback.format_exc()}", flush=True)
                return 1
    finally:
        acme.cluster_cleanup(client)
    return 0


if __name__ == "__main__":
    sys.exit(run_page(Path(sys.argv[1])))
