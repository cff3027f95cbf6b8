"""End-to-end throughput of the streaming worker on the local services (prints numbers, asserts nothing).

    .venv/bin/python benchmarks/bench_pipeline.py --model .spi-crrn/models/demo-p4-pads400.pt \
        --printers 4 --boards 100 --pads 400 --seed 7

Publishes a simulated fleet to private topics (fresh names per run), starts one `spi-crrn worker`
subprocess on them, and reports the time until every board is in PostgreSQL: boards/s end to end,
excluding the worker's start-up (the clock starts when the worker has joined its group). The model
must have been trained on the same simulator seed, printers and pads (e.g. the demo's cached model).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from crrn.sim.fleet import FleetSpec, simulate_fleet
from streams.db.engine import make_engine
from streams.kafka.admin import ensure_topics
from streams.kafka.publish import publish_boards
from streams.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--printers", type=int, default=4)
    parser.add_argument("--boards", type=int, default=100)
    parser.add_argument("--pads", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-batch", type=int, default=32)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    settings = Settings.from_env().with_(
        topic_inspections=f"bench-{run}.inspections",
        topic_alarms=f"bench-{run}.alarms",
        topic_defects=f"bench-{run}.defects",
        topic_dlq=f"bench-{run}.dlq",
        worker_id=f"bench-{run}",
    )
    ensure_topics(settings)
    first = int(time.time()) % 10**9 * 1000 + 1
    spec = FleetSpec(
        printers=args.printers, pads=args.pads, boards_per_printer=args.boards, first_print_index=first
    )
    boards = [b for b, _ in simulate_fleet(spec, args.seed)]
    ids = [b.event_id for b in boards]
    env = {
        **os.environ,
        "TOPIC_INSPECTIONS": settings.topic_inspections,
        "TOPIC_ALARMS": settings.topic_alarms,
        "TOPIC_DEFECTS": settings.topic_defects,
        "TOPIC_DLQ": settings.topic_dlq,
        "WORKER_ID": settings.worker_id,
    }
    log_path = Path(tempfile.mkdtemp(prefix="bench-pipeline-")) / "worker.log"
    cmd = [
        sys.executable, "-c", "from streams.cli.main import main; main()",
        "worker", "--model", args.model, "--max-batch", str(args.max_batch),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        worker = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    engine = make_engine(settings.database_url)
    try:
        while "partitions assigned" not in log_path.read_text(errors="replace"):
            if worker.poll() is not None:
                raise SystemExit(f"worker exited; see {log_path}")
            time.sleep(0.2)
        started = time.monotonic()
        asyncio.run(publish_boards(settings, boards))
        published = time.monotonic() - started
        done = 0
        while done < len(ids):
            time.sleep(0.2)
            with engine.connect() as conn:
                done = conn.execute(
                    text("SELECT count(*) FROM board_inspections WHERE event_id = ANY(:ids)"), {"ids": ids}
                ).scalar_one()
        elapsed = time.monotonic() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        engine.dispose()
    print(f"boards={len(ids)} printers={args.printers} pads={args.pads} max_batch={args.max_batch}")
    print(
        f"publish {published:.1f} s; all in PostgreSQL after {elapsed:.1f} s: "
        f"{len(ids) / elapsed:.1f} boards/s"
    )


if __name__ == "__main__":
    main()
