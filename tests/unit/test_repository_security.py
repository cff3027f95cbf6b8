"""No secret in the repository, and no loader that can run code from a file (#12).

1. Tracked files hold no private key, cloud or forge token, and no password inside a URL except the
   documented placeholders: the docker-compose defaults behind `${VAR:-default}` (local development
   only, README "IT") and the obvious examples of the URL-redaction tests.
2. Every `torch.load` in crrn/ and streams/ passes `weights_only=True` (tensors and plain containers
   only; tests/unit/crrn/test_model_file.py and diagnosis/test_classifier.py show a pickled object is
   refused), and nothing calls pickle.load(s), eval or exec.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "password assignment": re.compile(
        r"(?i)\b[a-z_]*(?:password|passwd|secret|api_key|token)\s*[:=]\s*['\"][^'\"\s$]{12,}['\"]"
    ),
}
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s'\"/]+)@")
# Placeholders, not secrets: compose defaults (`${SPI_WRITER_PASSWORD:-writer}`), f-string / format
# templates (`{db_secret}`: filled at run time), the redacted form,
# the usage text's `[:PASSWORD]`, the redaction tests' examples, and RabbitMQ's built-in `guest:guest`
# (the broker accepts it from loopback only: the local and compose CFX broker).
PLACEHOLDER_PASSWORDS = {"***", "PASSWORD]", "p", "p%40ss", "s3cret", "secret", "hunter2-db", "guest"}


def tracked_text_files() -> list[Path]:
    names = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    out = []
    for name in filter(None, names):
        path = ROOT / name
        if path.is_file() and b"\0" not in path.read_bytes()[:8192]:  # skip binary files (figures)
            out.append(path)
    return out


def secrets_in(text: str) -> list[str]:
    found = [what for what, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    for match in URL_PASSWORD.finditer(text):
        password = match.group(1)
        if password not in PLACEHOLDER_PASSWORDS and not password.startswith(("${", "{")):  # or a template
            found.append(f"password in URL ({match.group(0)[:40]}...)")
    return found


def test_no_secret_in_tracked_files() -> None:
    files = tracked_text_files()
    assert len(files) > 100  # the listing worked
    found = {str(p.relative_to(ROOT)): s for p in files if (s := secrets_in(p.read_text(errors="replace")))}
    assert found == {}


def test_the_secret_patterns_fire() -> None:
    key = "-----BEGIN " + "RSA PRIVATE KEY-----"  # split so this file does not match itself
    assert secrets_in(key) == ["private key"]
    assert secrets_in("DATABASE_URL=postgresql://spi_writer:" + "Zq81-live-pw@db.prod:5432/spi") != []
    assert secrets_in("aws = 'AKIA" + "ABCDEFGHIJKLMNOP'") == ["AWS access key"]
    assert secrets_in('KAFKA_SASL_PASSWORD = "' + 'correct-horse-battery"') == ["password assignment"]
    assert secrets_in("postgresql+psycopg://spi_writer:${SPI_WRITER_PASSWORD:-writer}@postgres/db") == []
    assert secrets_in("postgresql+psycopg://admin:***@db.example:6543/spi_crrn") == []
    assert secrets_in('f"postgresql://w:{secret}@h/d"') == []


def _unsafe_loads(source: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        if owner == "torch" and name == "load":
            weights_only = [k for k in node.keywords if k.arg == "weights_only"]
            if not (
                weights_only
                and isinstance(weights_only[0].value, ast.Constant)
                and weights_only[0].value.value is True
            ):
                out.append(f"{node.lineno}: torch.load without weights_only=True")
        if (owner in {"pickle", "dill", "joblib", "marshal"} and name in {"load", "loads"}) or (
            isinstance(func, ast.Name) and name in {"eval", "exec"}
        ):
            out.append(f"{node.lineno}: {owner + '.' if owner else ''}{name}")
    return out


def test_model_files_load_without_code_execution() -> None:
    found = {
        str(path.relative_to(ROOT)): bad
        for package in ("crrn", "streams", "schemas")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (bad := _unsafe_loads(path.read_text()))
    }
    assert found == {}
    assert _unsafe_loads("torch.load(p, map_location='cpu')") != []
    assert _unsafe_loads("torch.load(p, weights_only=False)") != []
    assert _unsafe_loads("pickle.loads(raw)") != []
    assert _unsafe_loads("torch.load(p, map_location='cpu', weights_only=True)") == []
