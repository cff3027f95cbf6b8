"""Layering, checked on the syntax tree of every file.

- The pure packages (crrn/, schemas/) never import IO libraries nor streams/.
- The pipeline core (streams/pipeline/) imports no IO library and nothing of streams/ but itself.
- Library code never imports the command line (streams/cli/).
- No import cycle between modules of crrn/, schemas/ and streams/pipeline/ (imports at any depth).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("crrn", "schemas")
FORBIDDEN = {"faust", "aiokafka", "sqlalchemy", "psycopg", "psycopg2", "alembic", "streams"}


def imported_top_level_modules(source: str) -> set[str]:
    """Top-level names of every `import x.y` / `from x.y import z` (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_detector_sees_nested_and_from_imports() -> None:
    source = (
        "import os\nfrom aiokafka.admin import X\ndef f():\n    import sqlalchemy.orm as o\nfrom . import y\n"
    )
    assert imported_top_level_modules(source) == {"os", "aiokafka", "sqlalchemy"}


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_imports_no_io_library(package: str) -> None:
    files = _python_files(package)
    assert files, f"{package}/ has no Python files"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_level_modules(path.read_text()) & FORBIDDEN)
        for path in files
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}, f"IO imports in pure code (move them to streams/): {offenders}"


IO_LIBRARIES = FORBIDDEN - {"streams"}


def imported_modules(source: str) -> set[str]:
    """Full dotted names of every absolute import (`from a.b import c` gives `a.b` and `a.b.c`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_pipeline_core_imports_no_io_library_and_no_adapter() -> None:
    files = _python_files("streams/pipeline")
    assert files, "streams/pipeline/ has no Python files"
    offenders: dict[str, list[str]] = {}
    for path in files:
        mods = imported_modules(path.read_text())
        bad = {m for m in mods if m.split(".")[0] in IO_LIBRARIES}
        bad |= {m for m in mods if m.startswith("streams.") and not m.startswith("streams.pipeline")}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}, f"the pipeline core imports IO or adapters (use a port instead): {offenders}"


def test_library_code_never_imports_the_command_line() -> None:
    offenders = {  # the command modules themselves may import each other
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path.read_text()) if m.startswith("streams.cli")
        )
        for package in ("crrn", "schemas", "streams")
        for path in _python_files(package)
        if "cli" not in path.relative_to(ROOT).parts
    }
    offenders = {path: mods for path, mods in offenders.items() if mods}
    assert offenders == {}, f"library code imports streams/cli/ (move the shared piece out): {offenders}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycles_in_the_pure_code() -> None:
    paths = [p for pkg in ("crrn", "schemas", "streams/pipeline") for p in _python_files(pkg)]
    modules = {_module_name(p): p for p in paths}
    graph = {
        name: {m for m in imported_modules(path.read_text()) if m in modules and m != name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], f"import cycles: {cycles}"
