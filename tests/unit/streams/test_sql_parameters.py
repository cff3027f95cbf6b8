"""SQL in streams/ only with bound parameters (#12): no statement is built from values by f-strings,
`%` or `+` concatenation or `str.format`. Identifiers composed with psycopg.sql are fine, and so are
f-strings that only splice module constants (e.g. a column list `_COLUMNS`).

Two checks over the AST of every module in streams/:
1. the first argument of every `text(...)`, `.execute(...)`, `.executemany(...)`, `.exec_driver_sql(...)`
   and `sql.SQL(...)` call is static (literals, module constants, names bound to other checked calls);
2. no string expression anywhere that looks like SQL (SELECT, INSERT, ...) is built from a non-constant
   value, so a statement assembled into a variable first is caught too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

STREAMS = Path(__file__).resolve().parents[3] / "streams"
SQL_CALLS = frozenset({"text", "execute", "executemany", "exec_driver_sql", "SQL"})
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|GRANT|REVOKE|TRUNCATE|WHERE)\b")
CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")  # a module constant by the project's naming


def _is_constant_name(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and bool(CONSTANT.match(node.id))


def _static(node: ast.expr, variables: bool = True) -> bool:
    """Is this expression free of run-time values, so that it cannot carry a value into SQL text?

    A bare variable (or attribute) as a whole argument counts as static (`variables`): where it is
    built is checked by itself (check 2). Inside an f-string or a concatenation only literals and
    module constants do.
    """
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return variables or _is_constant_name(node)
    if isinstance(node, ast.Attribute):
        return variables
    if isinstance(node, ast.Subscript):  # one statement of a module constant table, e.g. _SELECT[kind]
        return variables and _is_constant_name(node.value)
    if isinstance(node, ast.JoinedStr):
        return all(
            isinstance(part, ast.Constant)
            or (isinstance(part, ast.FormattedValue) and _is_constant_name(part.value))
            for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _static(node.left, False) and _static(node.right, False)
    if isinstance(node, ast.Call):
        func = node.func
        # psycopg composition: sql.SQL("...").format(sql.Identifier(x)) is fine; "...".format(x) is not
        if isinstance(func, ast.Attribute) and func.attr == "format":
            return not isinstance(func.value, ast.Constant) and variables
        return _call_name(node) in SQL_CALLS and variables
    return False


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _literal_text(node: ast.expr) -> str:
    """The literal parts of a string-building expression (to decide whether it looks like SQL)."""
    return " ".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def violations(source: str, name: str = "<string>") -> list[str]:
    """Every place in `source` where SQL text may be built from a value, as `name:line: why`."""
    tree = ast.parse(source)
    out: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and _call_name(node) in SQL_CALLS
            and node.args
            and not _static(node.args[0])
        ):
            out.append(f"{name}:{node.lineno}: {_call_name(node)}() gets SQL built at run time")
        built = (
            (isinstance(node, ast.JoinedStr) and not _static(node))
            or (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Mod)
                and isinstance(node.left, ast.Constant)
            )
            or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and not _static(node, False))
            or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
                and isinstance(node.func.value, ast.Constant)
            )
        )
        if built and isinstance(node, ast.expr) and SQL_WORDS.search(_literal_text(node)):
            out.append(f"{name}:{node.lineno}: SQL-looking text built from a value")
    return out


def test_streams_builds_no_sql_from_values() -> None:
    found = [
        v
        for path in sorted(STREAMS.rglob("*.py"))
        for v in violations(path.read_text(), str(path.relative_to(STREAMS.parent)))
    ]
    assert found == []


def test_the_check_catches_each_way_of_splicing_a_value() -> None:
    bad = {
        "f-string in text()": "conn.execute(text(f\"SELECT * FROM boards WHERE id = '{board_id}'\"))",
        "%-formatting": "conn.execute(\"DELETE FROM boards WHERE id = '%s'\" % board_id)",
        "+ concatenation": 'conn.execute("SELECT * FROM boards WHERE id = \'" + board_id + "\'")',
        "str.format": "cur.execute(\"UPDATE boards SET x = '{}'\".format(value))",
        "built first": "query = f\"INSERT INTO boards VALUES ('{value}')\"\nconn.execute(query)",
        "sql.SQL from a value": 'conn.execute(sql.SQL("CREATE ROLE {} " + options))',
    }
    for why, source in bad.items():
        assert violations(source), why
    good = [
        'conn.execute(text("SELECT * FROM boards WHERE id = :id"), {"id": board_id})',
        'conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))',
        'conn.execute(text(f"SELECT {_COLUMNS} FROM model_versions WHERE version = :v"), {"v": v})',
        'conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(o)))',
        "conn.execute(_BOARDS, rows)",
        'log.info(f"stored {n} boards")',
    ]
    for source in good:
        assert violations(source) == [], source
