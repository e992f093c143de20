"""The pytest layer is one package: nothing else in pytest_fgbmk imports pytest, syrupy or xdist."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_fgbmk

PACKAGE = Path(pytest_fgbmk.__file__).resolve().parent
#: The pytest layer (and the suites it runs, and the entry point that re-exports it).
LAYER = ("pytest_plugin/", "suites/", "plugin.py")
FORBIDDEN = ("pytest", "_pytest", "syrupy", "xdist")


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, inside functions too."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module.split(".")[0])
    return out


def test_only_the_pytest_layer_imports_pytest_syrupy_or_xdist():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(LAYER):
            continue
        bad = sorted(imported_roots(path) & set(FORBIDDEN))
        if bad:
            offenders[rel] = bad
    assert offenders == {}


def test_the_checker_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    import xdist.plugin\n    from syrupy import x\n")
    assert imported_roots(f) == {"xdist", "syrupy"}
