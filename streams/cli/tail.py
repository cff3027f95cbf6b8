"""`spi-crrn tail TOPIC`: print a topic's records (key, value) as they are, for a quick look.

What MES integrators and operators use to see the alarm, defect and dead-letter topics without a Kafka
distribution's console tools. Reads without a consumer group, so it never moves anybody's offsets.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    tail = subparsers.add_parser(
        "tail",
        help="print the records of a topic (e.g. spi.alarms)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    tail.add_argument("topic", help="topic name, e.g. spi.alarms, spi.defects, spi.inspections.dlq")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tail.add_argument("--max", type=int, default=0, help="stop after N records (0: never)")
    tail.add_argument("--timeout-s", type=float, default=0.0, help="stop after S idle seconds (0: never)")
    tail.set_defaults(func=_tail)


async def _records(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer

    from streams.kafka.connection import client_options
    from streams.settings import Settings

    settings = Settings.from_env()
    consumer = AIOKafkaConsumer(  # no group_id: every partition is read, no offsets are committed
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        max_partition_fetch_bytes=settings.kafka_max_message_bytes,
        fetch_max_bytes=settings.kafka_max_message_bytes,
    )
    await consumer.start()
    try:
        if args.topic not in await consumer.topics():
            where = settings.kafka_bootstrap_servers
            print(f"topic {args.topic!r} does not exist on {where}", file=sys.stderr)
            return 2
        consumer.subscribe([args.topic])
        seen = 0
        timeout_ms = int(args.timeout_s * 1000) if args.timeout_s > 0 else 1000
        while True:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch and args.timeout_s > 0:
                return 0
            for records in batch.values():
                for r in records:
                    key = r.key.decode(errors="replace") if r.key else ""
                    value = r.value.decode(errors="replace") if r.value else ""
                    print(f"{r.partition}@{r.offset} key={key} {value}", flush=True)
                    seen += 1
                    if args.max and seen >= args.max:
                        return 0
    finally:
        await consumer.stop()


def _tail(args: argparse.Namespace) -> int:
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # records on stdout, not client chatter
    try:
        return asyncio.run(_records(args))
    except KeyboardInterrupt:
        return 0
