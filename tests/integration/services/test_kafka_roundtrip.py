"""Real broker: topics exist, a record round-trips, and a consumer group commits and resumes."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from streams.kafka.admin import ensure_topics, topic_specs
from streams.kafka.connection import MAX_MESSAGE_BYTES, client_options
from streams.settings import Settings

pytestmark = pytest.mark.integration


def _unique_topics(settings: Settings) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return settings.with_(
        topic_inspections=f"test.{tag}.inspections",
        topic_alarms=f"test.{tag}.alarms",
        topic_defects=f"test.{tag}.defects",
        topic_dlq=f"test.{tag}.inspections.dlq",
        topic_partitions=3,
    )


async def _describe(settings: Settings, names: list[str]) -> dict[str, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


def test_ensure_topics_creates_each_topic_once(settings: Settings) -> None:
    fresh = _unique_topics(settings)
    names = [spec.name for spec in topic_specs(fresh)]

    first = ensure_topics(fresh)
    second = ensure_topics(fresh)

    assert sorted(first) == sorted(names)
    assert second == []
    assert asyncio.run(_describe(fresh, names)) == dict.fromkeys(names, 3)


def test_default_topics_exist_after_setup(settings: Settings) -> None:
    names = [settings.topic_inspections, settings.topic_alarms, settings.topic_defects, settings.topic_dlq]
    partitions = asyncio.run(_describe(settings, names))
    assert set(partitions) == set(names)


async def _produce_then_consume_in_group(
    settings: Settings, topic: str, payloads: list[bytes]
) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    options = client_options(settings)
    producer = AIOKafkaProducer(max_request_size=MAX_MESSAGE_BYTES, **options)
    await producer.start()
    try:
        for i, payload in enumerate(payloads):
            await producer.send_and_wait(topic, payload, key=f"printer-{i % 2}".encode())
    finally:
        await producer.stop()

    group = f"test-group-{uuid.uuid4().hex[:8]}"
    received: list[bytes] = []
    consumer = AIOKafkaConsumer(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=MAX_MESSAGE_BYTES,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        **options,
    )
    await consumer.start()
    try:
        while len(received) < len(payloads):
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=60)
            for records in batch.values():
                received.extend(r.value for r in records if r.value is not None)
        await consumer.commit()
    finally:
        await consumer.stop()

    # A second member of the same group resumes after the committed offsets: nothing left to read.
    again = AIOKafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", **options)
    await again.start()
    try:
        leftover = await again.getmany(timeout_ms=3000)
    finally:
        await again.stop()
    assert sum(len(v) for v in leftover.values()) == 0
    return received


def test_produce_consume_with_consumer_group(settings: Settings) -> None:
    fresh = _unique_topics(settings)
    ensure_topics(fresh)
    # One large record (a board with ~50,000 pads is a few MB of JSON) and a few small ones.
    big = json.dumps({"pads": {"volume_pct": [100.0 + i % 7 for i in range(400_000)]}}).encode()
    assert len(big) > 2 * 1024 * 1024
    payloads = [big] + [f"small-{i}".encode() for i in range(5)]

    received = asyncio.run(_produce_then_consume_in_group(fresh, fresh.topic_inspections, payloads))

    assert sorted(received) == sorted(payloads)
