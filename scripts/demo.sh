#!/usr/bin/env bash
# The demo from a fresh clone: setup (venv, local Kafka + PostgreSQL, migrations), then `spi-crrn demo`:
# simulated printers (one developing a printer defect) stream through Kafka and the CRRN worker into
# PostgreSQL and the alarm/defect topics, ending with a per-printer summary.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
.venv/bin/spi-crrn demo "$@"
