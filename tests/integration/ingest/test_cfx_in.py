"""Real RabbitMQ (AMQP 1.0) + Kafka: CFX UnitsInspected messages become board events equal to the simulator's,
malformed ones land on the dead-letter topic with the reason, and a delivery is settled only after Kafka
acknowledged its records (a failure before that leaves it on the queue, and the next run publishes it)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import numpy as np
import pytest

from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.cfx import CfxContext, board_to_units_inspected
from schemas.messages import DeadLetter
from schemas.validation import parse_inspection
from streams.ingest import cfx_in
from streams.ingest.amqp import connect
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import MAX_MESSAGE_BYTES, client_options
from streams.settings import Settings

pytestmark = pytest.mark.integration


def _settings(kafka_bootstrap: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    settings = Settings.from_env(kafka_bootstrap_servers=kafka_bootstrap).with_(
        topic_inspections=f"test.{tag}.inspections", topic_dlq=f"test.{tag}.dlq", topic_partitions=1
    )
    ensure_topics(settings)
    return settings


def _send(url: str, address: str, bodies: list[bytes]) -> None:
    from proton import Message

    conn = connect(url)
    try:
        sender = conn.create_sender(address)
        for body in bodies:
            sender.send(Message(body=body, content_type="application/json", durable=True))
    finally:
        conn.close()


async def _read(settings: Settings, topic: str) -> list[Any]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), group_id=f"t-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
    )  # fmt: skip
    await consumer.start()
    out: list[Any] = []
    try:
        quiet = time.monotonic()
        while time.monotonic() - quiet < 3:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
                quiet = time.monotonic()
    finally:
        await consumer.stop()
    return out


def _queue_empty(url: str, address: str) -> bool:
    from proton import Timeout

    conn = connect(url)
    try:
        receiver = conn.create_receiver(address)
        try:
            receiver.receive(timeout=2)
        except Timeout:
            return True
        receiver.release()
        return False
    finally:
        conn.close()


def test_units_inspected_to_board_events_and_dead_letters(amqp_url: str, kafka_bootstrap: str) -> None:
    settings = _settings(kafka_bootstrap)
    address = f"/queue/test.{uuid.uuid4().hex[:8]}.inspected"
    boards = [b for b, _ in simulate_fleet(FleetSpec(printers=1, pads=250, boards_per_printer=3), 9)]
    bodies = [json.dumps(board_to_units_inspected(b, "SPI-L01")).encode() for b in boards]
    bad_vol = json.loads(bodies[0])
    bad_vol["UniqueID"] = "other"
    bad_vol["MessageBody"]["InspectedUnits"][0]["Inspections"][0]["Measurements"][4]["Vol"] = "lots"
    _send(amqp_url, address, [bodies[0], b"{not json", bodies[1], json.dumps(bad_vol).encode(), bodies[2]])

    stats = cfx_in.run_cfx_ingest(settings, amqp_url, address, CfxContext("P01", "L01"), max_messages=5)

    assert (stats.messages, stats.boards, stats.dead_letters) == (5, 3, 2)
    got = [parse_inspection(r.value) for r in asyncio.run(_read(settings, settings.topic_inspections))]
    assert [g.barcode for g in got] == [b.barcode for b in boards]
    for g, b in zip(got, boards, strict=True):
        assert (g.printer_id, g.recipe_id, g.inspected_at) == ("P01", b.recipe_id, b.inspected_at)
        assert np.array_equal(g.pads.pad_id, b.pads.pad_id)
        assert np.allclose(g.pads.volume_pct, b.pads.volume_pct)
    letters = [
        DeadLetter.from_dict(json.loads(r.value)) for r in asyncio.run(_read(settings, settings.topic_dlq))
    ]
    assert [(d.error_field, d.source_topic, d.source_offset) for d in letters] == [
        ("message", f"amqp:{address}", 1),
        ("MessageBody.InspectedUnits[0].SolderPasteMeasurements[4].Vol", f"amqp:{address}", 3),
    ]
    assert letters[0].original == b"{not json"
    assert _queue_empty(amqp_url, address)  # every delivery was settled


def test_delivery_is_settled_only_after_kafka_has_the_event(
    amqp_url: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(kafka_bootstrap)
    address = f"/queue/test.{uuid.uuid4().hex[:8]}.inspected"
    (board,) = [b for b, _ in simulate_fleet(FleetSpec(printers=1, pads=250, boards_per_printer=1), 10)]
    _send(amqp_url, address, [json.dumps(board_to_units_inspected(board, "SPI-L01")).encode()])

    def kafka_down(self: Any, records: Any) -> None:
        raise ConnectionError("Kafka unreachable (injected)")

    with monkeypatch.context() as patch:
        patch.setattr(cfx_in.KafkaSide, "send_all", kafka_down)
        with pytest.raises(ConnectionError):
            cfx_in.run_cfx_ingest(settings, amqp_url, address, CfxContext("P01"), max_messages=1)
    assert asyncio.run(_read(settings, settings.topic_inspections)) == []
    stats = cfx_in.run_cfx_ingest(settings, amqp_url, address, CfxContext("P01"), max_messages=1)
    assert stats.boards == 1  # the unsettled delivery came back
    (record,) = asyncio.run(_read(settings, settings.topic_inspections))
    assert parse_inspection(record.value).barcode == board.barcode
    assert _queue_empty(amqp_url, address)
