"""End-to-end smoke check of the local stack: Kafka round trip of one board event, one row in PostgreSQL.

Deliberately independent of `schemas/` (a minimal hand-made event): it checks the plumbing only.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from streams.settings import Settings


def smoke_event(printer_id: str = "smoke-printer") -> dict[str, Any]:
    """A small board inspection event (3 pads) with a fresh event id."""
    return {
        "schema": "spi.board_inspection.v1",
        "event_id": f"smoke-{uuid.uuid4().hex}",
        "line_id": "smoke-line",
        "printer_id": printer_id,
        "inspector_id": "smoke-spi",
        "recipe_id": "smoke-recipe",
        "board_id": f"board-{uuid.uuid4().hex[:8]}",
        "print_index": 0,
        "inspected_at": datetime.now(UTC).isoformat(),
        "squeegee_direction": "forward",
        "pads": {
            "pad_id": ["P1", "P2", "P3"],
            "x_mm": [1.0, 2.0, 3.0],
            "y_mm": [1.0, 1.0, 1.0],
            "size_x_mm": [0.5, 0.5, 0.5],
            "size_y_mm": [0.3, 0.3, 0.3],
            "shape": ["0402", "0402", "0402"],
            "volume_pct": [101.0, 98.5, 103.2],
            "height_um": [120.0, 118.0, 125.0],
            "area_pct": [99.0, 100.5, 101.0],
        },
    }


async def kafka_round_trip(settings: Settings, event: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    """Publish `event` to the inspections topic and read that exact record back (partition, offset, value)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from streams.kafka.connection import MAX_MESSAGE_BYTES, client_options

    options = client_options(settings)
    producer = AIOKafkaProducer(max_request_size=MAX_MESSAGE_BYTES, **options)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            settings.topic_inspections, json.dumps(event).encode(), key=event["printer_id"].encode()
        )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(enable_auto_commit=False, fetch_max_bytes=MAX_MESSAGE_BYTES, **options)
    await consumer.start()
    try:
        partition = TopicPartition(settings.topic_inspections, meta.partition)
        consumer.assign([partition])
        consumer.seek(partition, meta.offset)
        record = await asyncio.wait_for(consumer.getone(partition), timeout=30)
    finally:
        await consumer.stop()
    return meta.partition, meta.offset, json.loads(record.value)


def store_inspection(settings: Settings, event: dict[str, Any], partition: int, offset: int) -> int:
    """Insert one board_inspections row as the writer role (idempotent on event_id); rows with that id."""
    from sqlalchemy import text

    from streams.db.engine import make_engine

    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    """
                    INSERT INTO board_inspections (event_id, printer_id, line_id, inspector_id, recipe_id,
                        board_id, print_index, inspected_at, squeegee_direction, n_pads, status,
                        source_topic, source_partition, source_offset)
                    VALUES (:event_id, :printer_id, :line_id, :inspector_id, :recipe_id, :board_id,
                        :print_index, :inspected_at, :squeegee_direction, :n_pads, 'pending',
                        :topic, :partition, :offset)
                    ON CONFLICT (event_id) DO NOTHING
                    """
                ),
                {
                    **{
                        k: event[k]
                        for k in ("event_id", "printer_id", "line_id", "inspector_id", "recipe_id")
                    },
                    "board_id": event["board_id"],
                    "print_index": event["print_index"],
                    "inspected_at": datetime.fromisoformat(event["inspected_at"]),
                    "squeegee_direction": event["squeegee_direction"],
                    "n_pads": len(event["pads"]["pad_id"]),
                    "topic": settings.topic_inspections,
                    "partition": partition,
                    "offset": offset,
                },
            )
            count = conn.execute(
                text("SELECT count(*) FROM board_inspections WHERE event_id = :e"), {"e": event["event_id"]}
            ).scalar_one()
    finally:
        engine.dispose()
    return int(count)


def run_smoke(settings: Settings) -> list[str]:
    """Run the smoke check; returns what it did, line by line (raises on any failure)."""
    from streams.db.engine import redact

    event = smoke_event()
    partition, offset, received = asyncio.run(kafka_round_trip(settings, event))
    if received != event:
        raise RuntimeError(f"consumed record at {partition}/{offset} differs from the published event")
    rows = store_inspection(settings, event, partition, offset)
    if rows != 1:
        raise RuntimeError(f"expected 1 board_inspections row for {event['event_id']}, found {rows}")
    return [
        f"published {event['event_id']} ({len(event['pads']['pad_id'])} pads) to "
        f"{settings.topic_inspections} at {settings.kafka_bootstrap_servers}: "
        f"partition {partition}, offset {offset}",
        "consumed it back: identical",
        f"stored it in board_inspections via {redact(settings.database_url)} (status 'pending')",
        "smoke: OK",
    ]
