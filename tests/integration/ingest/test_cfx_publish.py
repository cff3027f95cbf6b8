"""Real Kafka + RabbitMQ + PostgreSQL: printer defects become CFX FaultOccurred / FaultCleared with one
FaultOccurrenceId per episode, pad alarms a CFX-shaped message, and the MES's FaultAcknowledged is stored
and shown in v_defects on both rows of the episode (read as the reporter role)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from schemas.cfx import FAULT_CLEARED, FAULT_OCCURRED, PAD_ALARMS
from schemas.messages import DefectEvent, PadAlarm, Thresholds, defect_event_key
from streams.cfx_publish import CfxAddresses, acknowledgement, run_cfx_publish
from streams.db.engine import make_engine
from streams.db.writer import ResultWriter
from streams.ingest.amqp import connect
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import client_options
from streams.pipeline.results import ResultBatch
from streams.settings import Settings
from tests.unit.streams.hand_board import board

pytestmark = pytest.mark.integration
T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)


def _defect(state: str, last: int) -> DefectEvent:
    key = defect_event_key("P2", "clamp", state, "e-10", "m1")
    return DefectEvent(key, "P2", "clamp", state, 0.9, "e-10", f"e-{last}", 10, last, "m1", T0)  # type: ignore[arg-type]


async def _produce(settings: Settings, records: list[tuple[str, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        for topic, value in records:
            await producer.send_and_wait(topic, value, key=b"P2")
    finally:
        await producer.stop()


def _receive_all(url: str, address: str, n: int) -> list[dict[str, Any]]:
    conn = connect(url)
    try:
        receiver = conn.create_receiver(address)
        out = []
        for _ in range(n):
            message = receiver.receive(timeout=20)
            out.append(json.loads(bytes(message.body)))
            receiver.accept()
        return out
    finally:
        conn.close()


def _send(url: str, address: str, doc: dict[str, Any]) -> None:
    from proton import Message

    conn = connect(url)
    try:
        conn.create_sender(address).send(
            Message(body=json.dumps(doc).encode(), content_type="application/json")
        )
    finally:
        conn.close()


def test_defects_out_acknowledgements_in(amqp_url: str, kafka_bootstrap: str, fresh_database: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings.from_env(kafka_bootstrap_servers=kafka_bootstrap).with_(
        topic_defects=f"test.{tag}.defects", topic_alarms=f"test.{tag}.alarms", topic_partitions=1
    )
    ensure_topics(settings)
    addresses = CfxAddresses(
        f"/queue/test.{tag}.faults", f"/queue/test.{tag}.acks", f"/queue/test.{tag}.alarms"
    )
    raised, cleared = _defect("raised", 19), _defect("cleared", 30)
    alarm = PadAlarm.for_board(board(), np.array([9.0, 0.0, -9.0]), Thresholds(3.0, -3.0), "m1")
    assert alarm is not None
    asyncio.run(_produce(settings, [(settings.topic_defects, raised.to_json()),
                                    (settings.topic_defects, cleared.to_json()),
                                    (settings.topic_alarms, alarm.to_json())]))  # fmt: skip
    writer_engine = make_engine(fresh_database.writer)
    ResultWriter(writer_engine).write(ResultBatch(defects=[raised, cleared]))  # what the worker stores

    stats = run_cfx_publish(settings, writer_engine, amqp_url, addresses, group_id=f"g-{tag}", idle_exit_s=3)
    assert (stats.faults, stats.pad_alarms) == (2, 1)
    occurred, cleared_msg = _receive_all(amqp_url, addresses.faults, 2)
    assert (occurred["MessageName"], cleared_msg["MessageName"]) == (FAULT_OCCURRED, FAULT_CLEARED)
    occurrence = occurred["MessageBody"]["Fault"]["FaultOccurrenceId"]
    assert occurrence == raised.event_key == cleared_msg["MessageBody"]["FaultOccurrenceId"]
    (alarm_msg,) = _receive_all(amqp_url, addresses.pad_alarms or "", 1)
    assert alarm_msg["MessageName"] == PAD_ALARMS
    assert [p["PadId"] for p in alarm_msg["MessageBody"]["Pads"]] == ["A", "C"]

    _send(amqp_url, addresses.acks, acknowledgement(occurrence, "op-7"))
    _send(amqp_url, addresses.acks, acknowledgement(occurrence, "op-8"))  # a second ack: the first one wins
    _send(amqp_url, addresses.acks, {"MessageName": "CFX.Something.Else"})
    stats = run_cfx_publish(settings, writer_engine, amqp_url, addresses, group_id=f"g-{tag}", idle_exit_s=3)
    assert (stats.faults, stats.acknowledgements, stats.rejected) == (0, 2, 1)  # offsets were committed

    reporter = make_engine(fresh_database.reporter or fresh_database.admin)
    with reporter.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT state, acknowledged_by, acknowledged_at FROM v_defects WHERE printer_id = 'P2' "
                "ORDER BY state"
            )
        ).all()
    writer_engine.dispose()
    reporter.dispose()
    assert [(r.state, r.acknowledged_by) for r in rows] == [("cleared", "op-7"), ("raised", "op-7")]
    assert all(r.acknowledged_at is not None for r in rows)
