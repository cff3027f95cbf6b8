#!/usr/bin/env bash
# Set up from a fresh clone: Python venv with the package, local Kafka + PostgreSQL, migrations.
# Idempotent: a second run reuses the venv, the downloaded Kafka jars and the running services.
# Needs Python 3.11+, Java 17+, Maven and the PostgreSQL server packages (installed with apt-get when
# run as root and missing). Set KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL to use existing services instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.spi-crrn-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
    echo "setup: installing the Python package and its dependencies into .venv (torch is a large download: the first time takes minutes)"
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    touch "$stamp"
fi

echo "setup: starting the local Kafka and PostgreSQL (the first time downloads Kafka and may apt-get install Java, Maven and PostgreSQL)"
.venv/bin/spi-crrn services up
.venv/bin/spi-crrn db upgrade
