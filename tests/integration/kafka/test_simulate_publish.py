"""Real broker: `publish_boards` sends simulated boards (one big one too) keyed by printer, readable back."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.codec import inspection_to_dict
from schemas.validation import parse_inspection
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import MAX_MESSAGE_BYTES, client_options
from streams.kafka.publish import publish_boards
from streams.settings import Settings

pytestmark = pytest.mark.integration


async def _consume(settings: Settings, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_bytes=MAX_MESSAGE_BYTES,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
    )
    await consumer.start()
    out: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(60):
            while len(out) < count:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    out.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return out


def test_simulated_boards_round_trip_through_kafka(kafka_bootstrap: str) -> None:
    settings = Settings.from_env(kafka_bootstrap_servers=kafka_bootstrap).with_(
        topic_inspections=f"test.{uuid.uuid4().hex[:8]}.inspections", topic_partitions=2
    )
    ensure_topics(settings)
    small = [b for b, _ in simulate_fleet(FleetSpec(printers=2, pads=300, boards_per_printer=5), seed=1)]
    big = [b for b, _ in simulate_fleet(FleetSpec(pads=50_000, boards_per_printer=1), seed=2)]  # ~3.7 MB JSON
    boards = small + big

    sent = asyncio.run(publish_boards(settings, boards))
    received = asyncio.run(_consume(settings, settings.topic_inspections, len(boards)))

    assert sent == len(boards) == len(received)
    by_id = {b.event_id: b for b in boards}
    for key, value in received:
        board = parse_inspection(value)
        assert key == board.printer_id.encode()
        assert inspection_to_dict(board) == inspection_to_dict(by_id[board.event_id])
    # Per-printer order survives (one key -> one partition).
    order = [parse_inspection(v) for _, v in received]
    for printer in ("P01", "P02"):
        idx = [b.print_index for b in order if b.printer_id == printer and b.n_pads == 300]
        assert idx == sorted(idx)
