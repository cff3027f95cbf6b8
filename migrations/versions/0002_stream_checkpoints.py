"""Stream checkpoints: the worker's window state per input partition, at a position where all is durable.

One row per (consumer group, topic, partition): `position` is an input offset below which every record's
effects are in this database, `state` the per-printer windower states at that position with the Kafka
offsets of the boards their buffers hold (the boards themselves stay in the Kafka log). A restarted or
newly assigned worker restores the windows exactly from it; rows only move forward.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "spi_writer"


def upgrade() -> None:
    op.create_table(
        "stream_checkpoints",
        sa.Column("consumer_group", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("state", pg.JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("consumer_group", "topic", "partition", name="pk_stream_checkpoints"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON stream_checkpoints TO {WRITER_ROLE}")


def downgrade() -> None:
    op.drop_table("stream_checkpoints")
