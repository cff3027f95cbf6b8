"""`spi-crrn cfx-publish`: printer defects to the MES as IPC-CFX faults, and its acknowledgements back.

Out: every `spi.printer_defect.v1` on the defects topic becomes `CFX.ResourcePerformance.FaultOccurred`
(raised) or `FaultCleared` (cleared) on the AMQP 1.0 faults address (`schemas/cfx.py`: FaultOccurrenceId =
the raised event's key, the same for both messages of an episode; UniqueID derived from the event key,
so a replay sends byte-identical messages that the MES can drop). With `--pad-alarms`, pad-alarm
messages go to their own address as a CFX-shaped extension message. The Kafka offset is committed only
after the AMQP broker accepted (settled) the message: at least once, with stable ids.
In: `FaultAcknowledged` messages on the acks address are stored in `cfx_fault_acknowledgements` (first
acknowledgement per FaultOccurrenceId wins) and then accepted; `v_defects` shows them (migration 0006).
A message that is not a readable FaultAcknowledged is rejected (AMQP `rejected` outcome) with a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from schemas.cfx import decode_body, defect_to_cfx, pad_alarm_to_cfx, parse_fault_acknowledged
from schemas.errors import InvalidEvent
from schemas.messages import DefectEvent, PadAlarm
from streams.ingest.amqp import connect

log = logging.getLogger(__name__)

_ACK = text(
    "INSERT INTO cfx_fault_acknowledgements (fault_occurrence_id, acknowledged_by, acknowledged_at, "
    "cfx_source, message) VALUES (:fault_occurrence_id, :acknowledged_by, :acknowledged_at, :cfx_source, "
    "CAST(:message AS jsonb)) ON CONFLICT (fault_occurrence_id) DO NOTHING"
)


@dataclass
class CfxPublishStats:
    faults: int = 0
    pad_alarms: int = 0
    acknowledgements: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class CfxAddresses:
    faults: str
    acks: str
    pad_alarms: str | None = None  # None: pad alarms are not sent


def store_ack(engine: Engine, doc: dict[str, Any]) -> str:
    """Store one FaultAcknowledged envelope; returns its FaultOccurrenceId (InvalidEvent if unreadable)."""
    ack = parse_fault_acknowledged(doc)
    with engine.begin() as conn:
        conn.execute(
            _ACK,
            {
                "fault_occurrence_id": ack.fault_occurrence_id,
                "acknowledged_by": ack.acknowledged_by,
                "acknowledged_at": ack.acknowledged_at,
                "cfx_source": ack.source,
                "message": json.dumps(doc),
            },
        )
    return ack.fault_occurrence_id


def run_cfx_publish(
    settings: Any,
    engine: Engine,
    url: str,
    addresses: CfxAddresses,
    stop: Callable[[], bool] = lambda: False,
    group_id: str = "spi-crrn-cfx-publish",
    idle_exit_s: float | None = None,
) -> CfxPublishStats:
    """Forward defects (and alarms) until `stop()` or `idle_exit_s` without any message; store acks."""
    from aiokafka import AIOKafkaConsumer
    from proton import Message, Timeout

    from streams.kafka.connection import client_options

    stats = CfxPublishStats()
    loop = asyncio.new_event_loop()
    topics = [settings.topic_defects] + ([settings.topic_alarms] if addresses.pad_alarms else [])

    async def start_consumer() -> Any:  # aiokafka binds to the running loop: build it inside
        consumer = AIOKafkaConsumer(
            *topics, **client_options(settings), group_id=group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=settings.kafka_max_message_bytes,
        )  # fmt: skip
        await consumer.start()
        return consumer

    consumer = loop.run_until_complete(start_consumer())
    conn = connect(url)
    last_activity = time.monotonic()
    try:
        faults = conn.create_sender(addresses.faults)
        alarms = conn.create_sender(addresses.pad_alarms) if addresses.pad_alarms else None
        acks = conn.create_receiver(addresses.acks, credit=16)
        while not stop():
            batches = loop.run_until_complete(consumer.getmany(timeout_ms=300, max_records=100))
            sent = 0
            for tp, records in batches.items():
                for rec in records:
                    doc = _outgoing(rec.value, tp.topic == settings.topic_defects, settings.cfx_handle)
                    if doc is None:
                        continue
                    sender = faults if tp.topic == settings.topic_defects else alarms
                    assert sender is not None
                    # BlockingSender.send returns once the broker settled the delivery (accepted)
                    sender.send(Message(body=json.dumps(doc, separators=(",", ":")).encode(),
                                        subject=doc["MessageName"], content_type="application/json",
                                        id=doc["UniqueID"], durable=True))  # fmt: skip
                    sent += 1
                    if tp.topic == settings.topic_defects:
                        stats.faults += 1
                    else:
                        stats.pad_alarms += 1
            if batches:
                loop.run_until_complete(consumer.commit())  # after the broker has every message
            got_ack = _take_acks(acks, engine, stats, Timeout)
            if sent or got_ack:
                last_activity = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - last_activity > idle_exit_s:
                break
    finally:
        conn.close()
        loop.run_until_complete(consumer.stop())
        loop.close()
    return stats


def _outgoing(value: bytes, is_defect: bool, handle: str) -> dict[str, Any] | None:
    try:
        if is_defect:
            return defect_to_cfx(DefectEvent.from_dict(json.loads(value)), handle)
        return pad_alarm_to_cfx(PadAlarm.from_dict(json.loads(value)), handle)
    except (InvalidEvent, ValueError, KeyError) as exc:
        log.error("skipping an unreadable %s message: %s", "defect" if is_defect else "alarm", exc)
        return None


def _take_acks(receiver: Any, engine: Engine, stats: CfxPublishStats, timeout_type: type[Exception]) -> bool:
    """Store the FaultAcknowledged messages waiting now; each accepted after its row is committed."""
    got = False
    while True:
        try:
            message = receiver.receive(timeout=0.2)
        except timeout_type:
            return got
        got = True
        try:
            occurrence = store_ack(
                engine, decode_body(message.body, getattr(message, "content_encoding", None))
            )
        except InvalidEvent as exc:
            log.warning("rejected a message on the acknowledgement address: %s: %s", exc.field, exc.problem)
            receiver.reject()
            stats.rejected += 1
            continue
        receiver.accept()
        stats.acknowledgements += 1
        log.info("FaultAcknowledged %s stored", occurrence)


def acknowledgement(fault_occurrence_id: str, operator: str, source: str = "MES") -> dict[str, Any]:
    """A FaultAcknowledged envelope (what an MES sends; used by tests and the docs' example)."""
    from datetime import UTC, datetime

    from schemas.cfx import FAULT_ACKNOWLEDGED, envelope

    body = {
        "FaultOccurrenceId": fault_occurrence_id,
        "Operator": {"OperatorIdentifier": operator, "ActorType": "Human"},
    }
    return envelope(FAULT_ACKNOWLEDGED, body, source, datetime.now(UTC), str(uuid.uuid4()))
