"""Async producer of board inspection events (used by `spi-crrn simulate --to-kafka`).

Events are JSON (`inspection_to_json`) keyed by printer_id, so one printer's boards stay in order on one
partition. `rate` > 0 paces sends to that many boards per second; 0 sends as fast as the broker takes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaProducer

from schemas.codec import inspection_to_json
from schemas.inspection import BoardInspection
from streams.kafka.connection import client_options
from streams.settings import Settings


async def publish_boards(
    settings: Settings,
    boards: Iterable[BoardInspection],
    rate: float = 0.0,
    topic: str | None = None,
    on_send: Callable[[BoardInspection], None] | None = None,
) -> int:
    """Send every board to `topic` (default Settings.topic_inspections); returns the number sent.
    `on_send(board)` is called just before each board is handed to the producer (latency benchmarks)."""
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        compression_type="gzip",
        max_request_size=settings.kafka_max_message_bytes,
        linger_ms=5,
    )
    target = topic or settings.topic_inspections
    await producer.start()
    sent = 0
    started = time.monotonic()
    pending: list[asyncio.Future[object]] = []
    try:
        for board in boards:
            if rate > 0:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if on_send is not None:
                on_send(board)
            pending.append(
                await producer.send(target, inspection_to_json(board), key=board.printer_id.encode())
            )
            sent += 1
            if len(pending) >= 256:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    return sent
