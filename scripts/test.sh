#!/usr/bin/env bash
# The whole check from a fresh clone: setup, then tests (unit + integration on real Kafka/PostgreSQL),
# ruff and mypy. Exits non-zero on any failure, and when pytest collects no test at all.
# The local services stay up afterwards (`.venv/bin/spi-crrn services down` stops them).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

status=0
.venv/bin/python -m pytest -q "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "pytest collected no tests: treating as a failure" >&2
    exit 1
elif [[ $status -ne 0 ]]; then
    exit "$status"
fi
.venv/bin/ruff check .
.venv/bin/mypy
