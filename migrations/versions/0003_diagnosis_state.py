"""Diagnosis state: the defect policy's per-printer state, stored with the boards it has seen.

One row per printer: `state` is `crrn.diagnosis.policy.DefectPolicy.export_state()` (the window's boards
and bit-packed binary maps, the hysteresis) after the board at `last_print_index`, for `model_version`.
The worker upserts it in the same transaction as that batch's boards and reads it back before diagnosing
the next boards of the printer, so the policy survives a crash, a restart or a partition move; rows only
move forward (`last_print_index` grows).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "spi_writer"


def upgrade() -> None:
    op.create_table(
        "diagnosis_state",
        sa.Column("printer_id", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("last_print_index", sa.BigInteger, nullable=False),
        sa.Column("state", pg.JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("printer_id", name="pk_diagnosis_state"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON diagnosis_state TO {WRITER_ROLE}")


def downgrade() -> None:
    op.drop_table("diagnosis_state")
