"""Fields real inspections carry (issue 13), and the MES's CFX fault acknowledgements.

board_inspections gains nullable columns for what the board event may carry since issue 13:

    barcode, panel_position, stencil_id, prints_since_cleaning     copied from the event (NULL = unknown)
    spi_fail_pads, spi_warning_pads                                 pads the SPI itself judged fail /
                                                                    warning (NULL when it sent no verdicts)

pad_alarms gains the alarmed pad's `component_ref` and `spi_result` (NULL when the event had none), so an
alarm names the component and whether the inspector's own limits agreed.

`cfx_fault_acknowledgements` holds the IPC-CFX `FaultAcknowledged` messages `spi-crrn cfx-publish`
receives from the MES: one row per FaultOccurrenceId (the first acknowledgement wins; a repeat changes
nothing). FaultOccurrenceId is the event_key of the defect's 'raised' row (a uuid5), so `v_defects`
shows the acknowledgement on both the raised and the cleared row of an episode: two columns are appended
(`acknowledged_at`, `acknowledged_by`; existing columns keep their order, so `CREATE OR REPLACE VIEW`
keeps the grants). Downgrade restores the view of 0001 and its grants, drops the table and the columns.

Revision ID: 0006
Revises: 0005 (the lead re-chains it after 0005 at merge)
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "spi_writer"
REPORTER_ROLE = "spi_reporter"
TSTZ = sa.DateTime(timezone=True)

BOARD_COLUMNS = (
    ("barcode", sa.Text),
    ("panel_position", sa.Integer),
    ("stencil_id", sa.Text),
    ("prints_since_cleaning", sa.BigInteger),
    ("spi_fail_pads", sa.Integer),
    ("spi_warning_pads", sa.Integer),
)
ALARM_COLUMNS = (("component_ref", sa.Text), ("spi_result", sa.Text))

# v_defects as 0001 created it, with `{extra_columns}` / `{extra_joins}` for what 0006 appends.
_DEFECTS = """
    SELECT d.event_key, d.printer_id, d.defect, d.state, d.probability, d.first_event_id,
           d.last_event_id, d.first_print_index, d.last_print_index, d.model_version,
           d.created_at{extra_columns}
    FROM defect_classifications d{extra_joins}
"""
_ACK_COLUMNS = """,
           k.acknowledged_at,
           k.acknowledged_by"""
# The episode's raised row (the row itself when it is the raised one) carries the FaultOccurrenceId.
_ACK_JOINS = """
    LEFT JOIN defect_classifications r
           ON r.state = 'raised' AND r.printer_id = d.printer_id AND r.defect = d.defect
          AND r.first_event_id IS NOT DISTINCT FROM d.first_event_id
          AND r.model_version IS NOT DISTINCT FROM d.model_version
    LEFT JOIN cfx_fault_acknowledgements k ON k.fault_occurrence_id = r.event_key"""


def upgrade() -> None:
    for name, kind in BOARD_COLUMNS:
        op.add_column("board_inspections", sa.Column(name, kind, nullable=True))
    for name, kind in ALARM_COLUMNS:
        op.add_column("pad_alarms", sa.Column(name, kind, nullable=True))
    op.create_check_constraint(
        "ck_pad_alarms_spi_result",
        "pad_alarms",
        "spi_result IS NULL OR spi_result IN ('pass', 'warning', 'fail')",
    )
    op.create_table(
        "cfx_fault_acknowledgements",
        sa.Column("fault_occurrence_id", sa.Text, primary_key=True),
        sa.Column("acknowledged_by", sa.Text, nullable=True),  # the operator's name / badge, when sent
        sa.Column("acknowledged_at", TSTZ, nullable=False),  # the CFX message's time stamp
        sa.Column("cfx_source", sa.Text, nullable=True),  # the sending endpoint's CFX handle
        sa.Column("message", pg.JSONB, nullable=False),  # the whole CFX envelope as received
        sa.Column("received_at", TSTZ, nullable=False, server_default=sa.text("now()")),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON cfx_fault_acknowledgements TO {WRITER_ROLE}")
    body = _DEFECTS.format(extra_columns=_ACK_COLUMNS, extra_joins=_ACK_JOINS)
    op.execute(f"CREATE OR REPLACE VIEW v_defects AS {body}")


def downgrade() -> None:
    op.execute("DROP VIEW v_defects")
    op.execute(f"CREATE VIEW v_defects AS {_DEFECTS.format(extra_columns='', extra_joins='')}")
    op.execute(f"GRANT SELECT ON v_defects TO {WRITER_ROLE}, {REPORTER_ROLE}")
    op.drop_table("cfx_fault_acknowledgements")
    op.drop_constraint("ck_pad_alarms_spi_result", "pad_alarms")
    for name, _ in reversed(ALARM_COLUMNS):
        op.drop_column("pad_alarms", name)
    for name, _ in reversed(BOARD_COLUMNS):
        op.drop_column("board_inspections", name)
