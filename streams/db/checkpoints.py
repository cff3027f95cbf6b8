"""Stream checkpoints in PostgreSQL (table stream_checkpoints): the checkpoint store of the pipeline core.

One row per (consumer group, topic, partition) holds a `streams.pipeline.checkpoint.Checkpoint`. Saving is
monotonic (a row only moves forward), so a worker that lost the partition cannot move it back.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, text

from streams.pipeline.checkpoint import Checkpoint


class CheckpointStore:
    """`streams.pipeline.ports.CheckpointStore` on PostgreSQL (blocking: call it off the event loop)."""

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
