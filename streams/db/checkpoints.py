"""Stream checkpoints in PostgreSQL (table stream_checkpoints): the window state of each input partition.

A checkpoint says: below input offset `position` every record's effects are durable, and at that position
the printers' windowers had these states, whose buffers hold the boards at these Kafka offsets. Saving is
monotonic (a row only moves forward), so a worker that lost the partition cannot move it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class Checkpoint:
    """`printers[p] = {"state": PrinterWindower.to_state(), "offsets": {event_id: kafka_offset}}`."""

    position: int
    printers: dict[str, dict[str, Any]]

    @property
    def needed_offset(self) -> int:
        """The lowest offset a restore must re-read: the oldest buffered board, or `position`."""
        offsets = [o for p in self.printers.values() for o in p["offsets"].values()]
        return min([self.position, *offsets])


class CheckpointStore:
    def __init__(self, engine: Engine, consumer_group: str) -> None:
        self.engine = engine
        self.consumer_group = consumer_group

    def load(self, topic: str, partition: int) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT position, state FROM stream_checkpoints "
                    "WHERE consumer_group = :g AND topic = :t AND partition = :p"
                ),
                {"g": self.consumer_group, "t": topic, "p": partition},
            ).first()
        if row is None:
            return None
        state = row.state if isinstance(row.state, dict) else json.loads(row.state)
        return Checkpoint(int(row.position), dict(state["printers"]))

    def save(self, topic: str, partition: int, checkpoint: Checkpoint) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO stream_checkpoints (consumer_group, topic, partition, position, state) "
                    "VALUES (:g, :t, :p, :pos, CAST(:state AS jsonb)) "
                    "ON CONFLICT (consumer_group, topic, partition) DO UPDATE "
                    "SET position = EXCLUDED.position, state = EXCLUDED.state, updated_at = now() "
                    "WHERE stream_checkpoints.position < EXCLUDED.position"
                ),
                {
                    "g": self.consumer_group,
                    "t": topic,
                    "p": partition,
                    "pos": checkpoint.position,
                    "state": json.dumps({"printers": checkpoint.printers}),
                },
            )
