"""`spi-crrn ingest cfx`: IPC-CFX `UnitsInspected` messages from an AMQP 1.0 address -> board events on Kafka.

Per message: decode the CFX envelope, turn each inspected unit into a board (`schemas/cfx.py`), publish
the boards to the inspections topic (key printer id, header event_id) and wait for the broker's acks;
only then accept (settle) the AMQP delivery. A message that cannot become boards goes to the dead-letter
topic (`spi.dead_letter.v1`, source_topic `amqp:<address>`, source_offset = its sequence number in this
session) and is then accepted, so one bad message never blocks the queue. A crash before the accept
leaves the delivery unsettled: the broker redelivers it, and the boards get the same event ids
(uuid5 of the message UniqueID and unit), which the worker's idempotent writes absorb.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.cfx import CfxContext, decode_body, units_inspected_to_boards
from schemas.codec import inspection_to_json
from schemas.errors import InvalidEvent
from schemas.messages import DeadLetter
from streams.ingest.amqp import KafkaSide, body_bytes, connect

log = logging.getLogger(__name__)


@dataclass
class CfxInStats:
    messages: int = 0
    boards: int = 0
    dead_letters: int = 0


def records_for(
    message: Any, address: str, seq: int, ctx: CfxContext, topic: str, dlq: str
) -> tuple[list[Any], bool]:
    """The Kafka records for one AMQP message: its boards, or one dead letter (second value True)."""
    try:
        doc = decode_body(message.body, getattr(message, "content_encoding", None))
        boards = units_inspected_to_boards(doc, ctx)
    except InvalidEvent as exc:
        raw = body_bytes(message.body)
        letter = DeadLetter.from_error(raw, exc, f"amqp:{address}", 0, seq, datetime.now(UTC))
        return [(dlq, b"cfx", letter.to_json(), [])], True
    return [
        (topic, b.printer_id.encode(), inspection_to_json(b), [("event_id", b.event_id.encode())])
        for b in boards
    ], False


def run_cfx_ingest(
    settings: Any,
    url: str,
    address: str,
    ctx: CfxContext,
    stop: Callable[[], bool] = lambda: False,
    max_messages: int | None = None,
    poll_s: float = 1.0,
) -> CfxInStats:
    """Consume until `stop()` (or `max_messages`); each delivery settled only after Kafka has its records."""
    from proton import Timeout

    stats = CfxInStats()
    kafka = KafkaSide(settings)
    kafka.start()
    conn = connect(url)
    try:
        receiver = conn.create_receiver(address, credit=16)
        while not stop() and (max_messages is None or stats.messages < max_messages):
            try:
                message = receiver.receive(timeout=poll_s)
            except Timeout:
                continue
            records, dead = records_for(message, address, stats.messages, ctx, settings.topic_inspections,
                                        settings.topic_dlq)  # fmt: skip
            kafka.send_all(records)  # returns once the broker acknowledged every record
            receiver.accept()
            stats.messages += 1
            stats.dead_letters += int(dead)
            stats.boards += 0 if dead else len(records)
            if dead:
                log.warning("CFX message %d on %s dead-lettered", stats.messages, address)
    finally:
        conn.close()
        kafka.stop()
    return stats
