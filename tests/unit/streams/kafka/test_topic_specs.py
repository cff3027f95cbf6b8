"""The topics `ensure_topics` creates: which accept records up to KAFKA_MAX_MESSAGE_BYTES (no broker)."""

from __future__ import annotations

from streams.kafka.admin import topic_specs
from streams.settings import Settings


def test_inspections_alarms_and_dead_letters_take_the_message_limit() -> None:
    s = Settings(kafka_max_message_bytes=20 * 2**20)
    limits = {spec.name: spec.config.get("max.message.bytes") for spec in topic_specs(s)}
    assert limits == {
        s.topic_inspections: str(20 * 2**20),
        s.topic_alarms: str(20 * 2**20),  # a board with many alarmed pads: ~210 bytes each
        s.topic_dlq: str(20 * 2**20),
        s.topic_defects: None,  # one small event per defect episode: the broker's default
    }
