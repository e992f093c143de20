"""No import cycle among pytest_fgbmk's modules.

Every module under ``pytest_fgbmk/`` is parsed with :mod:`ast` (nothing is imported). An
edge A → B is any ``import B`` / ``from B import x`` / ``from . import x`` in A that names a
module of the package, wherever it appears: imports inside functions count (they run, and a
cycle through them is still a cycle a reader must untangle); imports under
``if TYPE_CHECKING:`` do not (they never run). ``from P import name`` counts as an edge to
``P.name`` when that is a module, else to ``P``. Importing ``P.Q`` also imports the package
``P`` (its ``__init__``), which counts as an edge to ``P`` unless it is the importer's own
package.

The one cycle still known is allow-listed below; the orchestration rewrite of issue 12
removes it, and then the entry must go (the test fails on an allow-listed cycle that no
longer exists, so the list cannot go stale).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_fgbmk

PACKAGE = "pytest_fgbmk"
ROOT = Path(pytest_fgbmk.__file__).parent

#: Cycles still known, each as the sorted tuple of its modules (none: the last one,
#: plugin <-> report.hook, went with the pytest layer's own package, issue 12).
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def module_names() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Import nodes, skipping the bodies of ``if TYPE_CHECKING:`` (their ``else`` counts)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    graph: dict[str, set[str]] = {m: set() for m in modules}

    def add(src: str, target: str) -> None:
        # the target module and every package above it (their __init__ runs too)
        parts = target.split(".")
        for i in range(len(parts), 0, -1):
            name = ".".join(parts[:i])
            if name in modules and name != src and not src.startswith(name + "."):
                graph[src].add(name)

    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        add(name, alias.name)
            else:
                base = _resolve(name, is_package, node)
                if base.split(".")[0] != PACKAGE:
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    add(name, sub if sub in modules else base)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[tuple[str, ...]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(tuple(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_sees_function_level_imports_and_skips_type_checking_ones():
    graph = import_graph()
    # report.writer builds the HTML page through an import inside a function
    assert "pytest_fgbmk.report.html" in graph["pytest_fgbmk.report.writer"]
    # plots names FriedmanResult only for type checking
    assert "pytest_fgbmk.report.friedman" not in graph["pytest_fgbmk.report.plots"]
    assert len(graph) > 80


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [("a", "b", "c")]


def test_no_import_cycle_beyond_the_known_one():
    found = set(cycles(import_graph()))
    new = sorted(found - KNOWN_CYCLES)
    assert not new, "import cycles among pytest_fgbmk modules:\n" + "\n".join(
        " <-> ".join(c) for c in new
    )


def test_every_allow_listed_cycle_still_exists():
    gone = sorted(KNOWN_CYCLES - set(cycles(import_graph())))
    if gone:
        pytest.fail(f"remove these from KNOWN_CYCLES, they no longer exist: {gone}")
