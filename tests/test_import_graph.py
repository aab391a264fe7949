"""No import cycles among acme's modules.

Every module's imports are read with ``ast`` (the code is not run). Counted: every
``import``/``from ... import`` of an acme module, at module level *and* inside functions
(a cycle closed by an import inside a function is still a cycle, only hidden until that
function runs); not counted: imports under ``if TYPE_CHECKING:`` (never executed). Relative
imports are resolved against the importing module's package; ``from pkg import name``
counts as an import of ``pkg.name`` when that is a module, else of ``pkg``. The implicit
import of a module's parent packages is not an edge (Python completes it first).
"""

from __future__ import annotations

import ast
from pathlib import Path

import acme

ROOT = Path(acme.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit_else(child)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child)

    def visit_else(node: ast.If) -> None:
        for child in node.orelse:
            visit(ast.Module(body=[child], type_ignores=[]))

    visit(tree)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """Module -> {imported acme module: line of the first such import}."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (as a path a -> b -> ... -> a) through every strongly connected part."""
    cycles, done = [], set()
    for start in sorted(graph):
        if start in done:
            continue
        # depth-first search for a path leading back to `start`
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycles.append(path + [start])
                    done.update(path)
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return cycles


def test_finder_sees_a_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b": 1}, "b": {}}) == []


def test_graph_reads_relative_and_function_level_imports():
    graph = import_graph()
    assert "acme.validators" in graph["acme.options"]          # from .validators import
    assert "acme.prompt" in graph["acme.clusters.local"]       # from .. import prompt
    assert "acme.clusters.detect" in graph["acme.clients"]     # from .clusters import detect
    assert "acme.pmap" in graph["acme"]


def test_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    shown = ["  " + c[0] + "".join(f" -[line {graph[a][b]}]-> {b}" for a, b in zip(c, c[1:], strict=False))
             for c in cycles]
    assert not cycles, "import cycles among acme's modules:\n" + "\n".join(shown)
