"""Soak: one worker under a steady offered rate for N minutes on the local services (prints, asserts nothing).

    spi-crrn bench soak --minutes 10 --rate 4 --printers 8 --pads 400 [--model M.pt]

Publishes a simulated fleet to private topics at `--rate` boards/s for `--minutes`, with one
`spi-crrn worker` subprocess consuming them, and every `--every` seconds prints one line: boards
published and stored, the consumer group's lag (records on the input topic beyond its committed
offsets), the worker's RSS and open file descriptors, PostgreSQL connections of the worker's database
role, and the WARNING / ERROR lines the worker has logged. A healthy run keeps lag, RSS, connections and
errors bounded: flat lines, not growing ones. Without `--model`, an untrained network calibrated on
normal boards of the same simulated recipe is used (benchmarks/_live.py; a minute to build).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import tempfile
import threading
import time
from pathlib import Path

from _live import Worker, bench_bundle, open_fds, private_settings, stored_count
from sqlalchemy import text

from crrn.sim.fleet import FleetSpec, simulate_fleet
from streams.db.engine import make_engine
from streams.kafka.publish import publish_boards
from streams.settings import Settings


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

    settings = private_settings("soak")
    per_printer = math.ceil(args.rate * args.minutes * 60 / args.printers)
    first = int(time.time()) % 10**9 * 1000 + 1
    spec = FleetSpec(
        printers=args.printers, pads=args.pads, boards_per_printer=per_printer, first_print_index=first
    )
    simulated = [b for b, _ in simulate_fleet(spec, args.seed)]
    boards = sorted(simulated, key=lambda b: (b.print_index, b.printer_id))
    model = args.model
    if not model:
        print("building a model of the simulated recipe (benchmarks/_live.py) ...", flush=True)
        train_spec = FleetSpec(printers=2, pads=args.pads, boards_per_printer=30, first_print_index=1)
        bundle = bench_bundle([b for b, _ in simulate_fleet(train_spec, args.seed)], T=5)
        model = str(bundle.save(Path(tempfile.mkdtemp(prefix="bench-soak-")) / "bench.pt"))
    ids = [b.event_id for b in boards]
    worker = Worker(settings, model)
    engine = make_engine(settings.database_url)
    published = [0]
    try:
        worker.wait_assigned()

        def publish() -> None:
            published[0] = asyncio.run(publish_boards(settings, boards, rate=args.rate))

        publisher = threading.Thread(target=publish, daemon=True)
        started = time.monotonic()
        publisher.start()
        print(f"soak: {len(ids)} boards, {args.printers} printers x {args.pads} pads at {args.rate} boards/s "
              f"for {args.minutes} min; worker log {worker.log_path}")  # fmt: skip
        print(f"{'t_s':>6} {'offered':>8} {'stored':>7} {'lag':>5} {'rss_mb':>7} {'fds':>5} {'pg_conn':>7} "
              f"{'warn':>5} {'error':>5}")  # fmt: skip
        end = started + args.minutes * 60
        while True:
            time.sleep(max(1.0, min(args.every, end + args.every - time.monotonic())))
            t = time.monotonic() - started
            with engine.connect() as conn:
                stored = stored_count(conn, ids)
                pg_conn = (
                    conn.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE usename = current_user")
                    ).scalar_one()
                    - 1
                )  # this connection
            log_text = worker.log_text()
            offered = min(len(ids), int(t * args.rate))
            print(
                f"{t:6.0f} {offered:8d} {stored:7d} {group_lag(settings):5d} {worker.rss_mb():7.0f} "
                f"{open_fds(worker.proc.pid):5d} {pg_conn:7d} {log_text.count(' WARNING '):5d} "
                f"{log_text.count(' ERROR '):5d}",
                flush=True,
            )
            worker.check_alive()
            if time.monotonic() >= end and stored >= len(ids):
                break
            if time.monotonic() > end + 120:
                print(f"not all boards stored 120 s after the end of the offered load ({stored}/{len(ids)})")
                break
    finally:
        worker.stop()
        engine.dispose()


if __name__ == "__main__":
    main()
