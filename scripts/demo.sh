#!/usr/bin/env bash
# The demo from a fresh clone: setup (venv, local Kafka + PostgreSQL, migrations), then the demo.
# Until the pipeline's `spi-crrn demo` lands this runs `spi-crrn services smoke`: one board event
# through Kafka and into PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
.venv/bin/spi-crrn services smoke
