"""The pure packages (crrn/, schemas/) never import IO libraries: checked on the syntax tree of every file."""

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
