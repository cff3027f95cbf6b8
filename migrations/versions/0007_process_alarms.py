"""Process alarms: the evidence tracker's per-printer state, and what kind of alarm each stored pad alarm is.

- `alarm_evidence_state`: one row per printer, `state` = `crrn.evidence.EvidenceTracker.export_state()`
  (per-pad CUSUM pair and run lengths, base64) after the board at `last_print_index`. Written by the
  worker in the same transaction as the boards it has seen, read back before the printer's next boards,
  so a crash, a restart or a partition move neither loses nor doubles evidence; rows only move forward.
- `pad_alarms` gains `alarm_type` ('board_outlier' | 'process'; NULL for rows stored before), `evidence`
  (signed CUSUM, standardized units), `evidence_boards` and `evidence_limit`, and `v_pad_alarms` shows them
  (CREATE OR REPLACE keeps the grants; the downgrade restores the 0001 view and its grants).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "spi_writer"
REPORTER_ROLE = "spi_reporter"

PAD_ALARMS_0001 = """
    SELECT a.alarm_id, a.event_id, a.printer_id, b.line_id, b.recipe_id, a.board_id, b.print_index,
           a.inspected_at, a.pad_id, a.kind, a.score, a.threshold, a.measured_volume_pct,
           a.x_mm, a.y_mm, a.model_version
    FROM pad_alarms a
    JOIN board_inspections b ON b.event_id = a.event_id
"""
PAD_ALARMS_0007 = """
    SELECT a.alarm_id, a.event_id, a.printer_id, b.line_id, b.recipe_id, a.board_id, b.print_index,
           a.inspected_at, a.pad_id, a.kind, a.score, a.threshold, a.measured_volume_pct,
           a.x_mm, a.y_mm, a.model_version, a.alarm_type, a.evidence, a.evidence_boards, a.evidence_limit
    FROM pad_alarms a
    JOIN board_inspections b ON b.event_id = a.event_id
"""


def upgrade() -> None:
    op.create_table(
        "alarm_evidence_state",
        sa.Column("printer_id", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("last_print_index", sa.BigInteger, nullable=False),
        sa.Column("state", pg.JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("printer_id", name="pk_alarm_evidence_state"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON alarm_evidence_state TO {WRITER_ROLE}")
    op.add_column("pad_alarms", sa.Column("alarm_type", sa.Text, nullable=True))
    op.add_column("pad_alarms", sa.Column("evidence", sa.REAL, nullable=True))
    op.add_column("pad_alarms", sa.Column("evidence_boards", sa.Integer, nullable=True))
    op.add_column("pad_alarms", sa.Column("evidence_limit", sa.REAL, nullable=True))
    allowed = "alarm_type IS NULL OR alarm_type IN ('board_outlier', 'process')"
    op.create_check_constraint("ck_pad_alarms_alarm_type", "pad_alarms", allowed)
    op.execute(f"CREATE OR REPLACE VIEW v_pad_alarms AS {PAD_ALARMS_0007}")


def downgrade() -> None:
    op.execute("DROP VIEW v_pad_alarms")
    op.execute(f"CREATE VIEW v_pad_alarms AS {PAD_ALARMS_0001}")
    op.execute(f"GRANT SELECT ON v_pad_alarms TO {WRITER_ROLE}, {REPORTER_ROLE}")
    op.drop_constraint("ck_pad_alarms_alarm_type", "pad_alarms")
    for column in ("evidence_limit", "evidence_boards", "evidence", "alarm_type"):
        op.drop_column("pad_alarms", column)
    op.drop_table("alarm_evidence_state")
