"""Soak: one worker under a steady offered rate for N minutes on the local services (prints, asserts nothing).

    spi-crrn bench soak --minutes 10 --rate 4 --printers 8 --pads 400 [--model M.pt]

Publishes a simulated fleet to private topics at `--rate` boards/s for `--minutes`, with one
`spi-crrn worker` subprocess consuming them, and every `--every` seconds prints one line: boards
published and stored, the consumer group's lag (records on the input topic beyond its committed
offsets), the worker's RSS and open file descriptors, PostgreSQL connections of the worker's database
role, and the WARNING / ERROR lines the worker has logged. A healthy run keeps lag, RSS, connections and
errors bounded: flat lines, not growing ones. Without `--model`, a tiny model of the same simulated
recipe is trained first (about 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from crrn.sim.fleet import FleetSpec, simulate_fleet
from streams.db.engine import make_engine
from streams.kafka.admin import ensure_topics
from streams.kafka.publish import publish_boards
from streams.settings import Settings


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def group_lag(settings: Settings) -> int:
    """Records of the input topic beyond the consumer group's committed offsets (all partitions)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def lag() -> int:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.worker_id,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            parts = [TopicPartition(settings.topic_inspections, p) for p in range(settings.topic_partitions)]
            end = await consumer.end_offsets(parts)
            total = 0
            for tp in parts:
                committed = await consumer.committed(tp)
                total += end[tp] - (committed or 0)
            return total
        finally:
            await consumer.stop()

    return asyncio.run(lag())


def tiny_model(boards: list, window: int) -> str:  # type: ignore[type-arg]
    from crrn.model_training import TrainOptions, train_bundle

    bundle = train_bundle(boards, TrainOptions(window=window, epochs=2, max_minutes=1.0, device="cpu"))
    return str(bundle.save(Path(tempfile.mkdtemp(prefix="bench-soak-")) / "tiny.pt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=4.0, help="offered boards/s (all printers together)")
    parser.add_argument("--printers", type=int, default=8)
    parser.add_argument("--pads", type=int, default=400)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between report lines")
    parser.add_argument("--model", default="", help="model file (default: train a tiny one first)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # the lag probe joins the group each time

    run = uuid.uuid4().hex[:8]
    settings = Settings.from_env().with_(
        topic_inspections=f"soak-{run}.inspections",
        topic_alarms=f"soak-{run}.alarms",
        topic_defects=f"soak-{run}.defects",
        topic_dlq=f"soak-{run}.dlq",
        worker_id=f"soak-{run}",
    )
    ensure_topics(settings)
    per_printer = math.ceil(args.rate * args.minutes * 60 / args.printers)
    first = int(time.time()) % 10**9 * 1000 + 1
    spec = FleetSpec(
        printers=args.printers, pads=args.pads, boards_per_printer=per_printer, first_print_index=first
    )
    simulated = [b for b, _ in simulate_fleet(spec, args.seed)]
    boards = sorted(simulated, key=lambda b: (b.print_index, b.printer_id))
    model = args.model
    if not model:
        print("training a tiny model of the simulated recipe ...", flush=True)
        train_spec = FleetSpec(printers=2, pads=args.pads, boards_per_printer=60, first_print_index=1)
        model = tiny_model([b for b, _ in simulate_fleet(train_spec, args.seed)], window=5)
    ids = [b.event_id for b in boards]
    env = {
        **os.environ,
        "TOPIC_INSPECTIONS": settings.topic_inspections,
        "TOPIC_ALARMS": settings.topic_alarms,
        "TOPIC_DEFECTS": settings.topic_defects,
        "TOPIC_DLQ": settings.topic_dlq,
        "WORKER_ID": settings.worker_id,
    }
    log_path = Path(tempfile.mkdtemp(prefix="bench-soak-")) / "worker.log"
    cmd = [sys.executable, "-c", "from streams.cli.main import main; main()", "worker", "--model", model]
    with log_path.open("wb") as log:
        worker = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    engine = make_engine(settings.database_url)
    published = [0]
    try:
        while "partitions assigned" not in log_path.read_text(errors="replace"):
            if worker.poll() is not None:
                raise SystemExit(f"worker exited; see {log_path}")
            time.sleep(0.2)

        def publish() -> None:
            published[0] = asyncio.run(publish_boards(settings, boards, rate=args.rate))

        publisher = threading.Thread(target=publish, daemon=True)
        started = time.monotonic()
        publisher.start()
        print(f"soak: {len(ids)} boards, {args.printers} printers x {args.pads} pads at {args.rate} boards/s "
              f"for {args.minutes} min; worker log {log_path}")  # fmt: skip
        print(f"{'t_s':>6} {'offered':>8} {'stored':>7} {'lag':>5} {'rss_mb':>7} {'fds':>5} {'pg_conn':>7} "
              f"{'warn':>5} {'error':>5}")  # fmt: skip
        end = started + args.minutes * 60
        while True:
            time.sleep(max(0.0, min(args.every, end + args.every - time.monotonic())))
            t = time.monotonic() - started
            with engine.connect() as conn:
                stored = conn.execute(
                    text("SELECT count(*) FROM board_inspections WHERE event_id = ANY(:ids)"), {"ids": ids}
                ).scalar_one()
                pg_conn = (
                    conn.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE usename = current_user")
                    ).scalar_one()
                    - 1
                )  # this connection
            log_text = log_path.read_text(errors="replace")
            offered = min(len(ids), int(t * args.rate))
            print(
                f"{t:6.0f} {offered:8d} {stored:7d} {group_lag(settings):5d} {rss_mb(worker.pid):7.0f} "
                f"{open_fds(worker.pid):5d} {pg_conn:7d} {log_text.count(' WARNING '):5d} "
                f"{log_text.count(' ERROR '):5d}",
                flush=True,
            )
            if worker.poll() is not None:
                raise SystemExit(f"worker exited during the soak; see {log_path}")
            if time.monotonic() >= end and stored >= len(ids):
                break
            if time.monotonic() > end + 120:
                print(f"not all boards stored 120 s after the end of the offered load ({stored}/{len(ids)})")
                break
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        engine.dispose()


if __name__ == "__main__":
    main()
