"""What the core is handed per input record, and where a board came from (plain values, no Kafka types)."""

from __future__ import annotations

from typing import NamedTuple


class TopicPartition(NamedTuple):
    """One input partition (equal to, and hashing like, Faust's `TP` of the same topic and partition)."""

    topic: str
    partition: int


class SourceRef(NamedTuple):
    """Where an input record came from: stored with the board, named in its dead letter."""

    topic: str
    partition: int
    offset: int

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class Record(NamedTuple):
    """One input record as the Kafka adapter reads it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def source(self) -> SourceRef:
        return SourceRef(self.topic, self.partition, self.offset)

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)
