"""Initial schema: printers, recipes, model versions, inspections, anomaly maps, alarms, defects, views.

Also creates the roles `spi_writer` (pipeline) and `spi_reporter` (read-only reporting) when missing, so
the migration works against any server whose migrating role may create roles. Downgrade drops every
table and view created here but keeps the roles: they are cluster-wide and other databases may use them.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "spi_writer"
REPORTER_ROLE = "spi_reporter"
TABLES = [
    "printers",
    "recipes",
    "model_versions",
    "board_inspections",
    "anomaly_maps",
    "pad_alarms",
    "defect_classifications",
]
VIEWS = ["v_printer_summary", "v_pad_alarms", "v_board_scores", "v_defects"]

TSTZ = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def _create_roles() -> None:
    for role in (WRITER_ROLE, REPORTER_ROLE):
        op.execute(
            f"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} LOGIN;
                END IF;
            END
            $$;
            """
        )


def _create_tables() -> None:
    op.create_table(
        "printers",
        sa.Column("printer_id", sa.Text, primary_key=True),
        sa.Column("line_id", sa.Text, nullable=False),
        sa.Column("first_seen_at", TSTZ, nullable=False, server_default=NOW),
        sa.Column("last_seen_at", TSTZ, nullable=False, server_default=NOW),
    )
    op.create_table(
        "recipes",
        sa.Column("recipe_id", sa.Text, primary_key=True),
        sa.Column("n_pads", sa.Integer, nullable=False),
        sa.Column("pad_ids", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("x_mm", pg.ARRAY(sa.REAL), nullable=False),
        sa.Column("y_mm", pg.ARRAY(sa.REAL), nullable=False),
        sa.Column("shapes", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("created_at", TSTZ, nullable=False, server_default=NOW),
        sa.CheckConstraint("n_pads = cardinality(pad_ids)", name="ck_recipes_n_pads"),
    )
    op.create_table(
        "model_versions",
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("created_at", TSTZ, nullable=False, server_default=NOW),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, server_default="crrn"),
        sa.Column("config", pg.JSONB),
        sa.Column("metrics", pg.JSONB),
        sa.Column("promoted_at", TSTZ, nullable=True),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "uq_model_versions_one_active",
        "model_versions",
        ["is_active"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )
    op.create_table(
        "board_inspections",
        sa.Column("event_id", sa.Text, primary_key=True),  # the idempotency key (reprints are new events)
        sa.Column("printer_id", sa.Text, nullable=False),
        sa.Column("line_id", sa.Text, nullable=False),
        sa.Column("inspector_id", sa.Text, nullable=False),
        sa.Column("recipe_id", sa.Text, nullable=False),
        sa.Column("board_id", sa.Text, nullable=False),
        sa.Column("print_index", sa.BigInteger, nullable=False),
        sa.Column("inspected_at", TSTZ, nullable=False),
        sa.Column("squeegee_direction", sa.Text, nullable=True),
        sa.Column("n_pads", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=True),
        sa.Column("n_excessive", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_insufficient", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_abs_score", sa.REAL, nullable=True),
        sa.Column("source_topic", sa.Text, nullable=True),
        sa.Column("source_partition", sa.Integer, nullable=True),
        sa.Column("source_offset", sa.BigInteger, nullable=True),
        sa.Column("stored_at", TSTZ, nullable=False, server_default=NOW),
    )
    op.create_index("ix_board_inspections_printer_time", "board_inspections", ["printer_id", "inspected_at"])
    op.create_index("ix_board_inspections_printer_index", "board_inspections", ["printer_id", "print_index"])
    op.create_table(
        "anomaly_maps",
        sa.Column(
            "event_id",
            sa.Text,
            sa.ForeignKey("board_inspections.event_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("scores", pg.ARRAY(sa.REAL), nullable=False),  # one per pad, in the board's pad order
        sa.Column("pad_ids", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("created_at", TSTZ, nullable=False, server_default=NOW),
        sa.CheckConstraint("cardinality(scores) = cardinality(pad_ids)", name="ck_anomaly_maps_lengths"),
    )
    op.create_table(
        "pad_alarms",
        sa.Column("alarm_id", sa.Text, nullable=False),
        sa.Column(
            "event_id",
            sa.Text,
            sa.ForeignKey("board_inspections.event_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("pad_id", sa.Text, nullable=False),
        sa.Column("printer_id", sa.Text, nullable=False),
        sa.Column("board_id", sa.Text, nullable=False),
        sa.Column("inspected_at", TSTZ, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("score", sa.REAL, nullable=False),
        sa.Column("threshold", sa.REAL, nullable=False),
        sa.Column("measured_volume_pct", sa.REAL, nullable=True),
        sa.Column("x_mm", sa.REAL, nullable=True),
        sa.Column("y_mm", sa.REAL, nullable=True),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "pad_id", name="pk_pad_alarms"),
        sa.CheckConstraint("kind IN ('excessive', 'insufficient')", name="ck_pad_alarms_kind"),
    )
    op.create_index("ix_pad_alarms_printer_time", "pad_alarms", ["printer_id", "inspected_at"])
    op.create_index("ix_pad_alarms_alarm_id", "pad_alarms", ["alarm_id"])
    op.create_table(
        "defect_classifications",
        sa.Column("event_key", sa.Text, primary_key=True),  # stable id: idempotent re-delivery
        sa.Column("printer_id", sa.Text, nullable=False),
        sa.Column("defect", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("probability", sa.REAL, nullable=True),
        sa.Column("first_event_id", sa.Text, nullable=True),
        sa.Column("last_event_id", sa.Text, nullable=True),
        sa.Column("first_print_index", sa.BigInteger, nullable=True),
        sa.Column("last_print_index", sa.BigInteger, nullable=True),
        sa.Column("model_version", sa.Text, nullable=True),
        sa.Column("created_at", TSTZ, nullable=False, server_default=NOW),
        sa.CheckConstraint("state IN ('raised', 'cleared')", name="ck_defect_classifications_state"),
    )
    op.create_index(
        "ix_defect_classifications_printer_time", "defect_classifications", ["printer_id", "created_at"]
    )


# Views run with their owner's rights, so the reporter reads them without any right on the tables.
VIEW_SQL = {
    "v_board_scores": """
        SELECT b.event_id, b.printer_id, b.line_id, b.inspector_id, b.recipe_id, b.board_id, b.print_index,
               b.inspected_at, b.squeegee_direction, b.n_pads, b.status, b.model_version,
               b.n_excessive, b.n_insufficient, b.max_abs_score, b.stored_at,
               m.scores, m.pad_ids
        FROM board_inspections b
        LEFT JOIN anomaly_maps m ON m.event_id = b.event_id
    """,
    "v_pad_alarms": """
        SELECT a.alarm_id, a.event_id, a.printer_id, b.line_id, b.recipe_id, a.board_id, b.print_index,
               a.inspected_at, a.pad_id, a.kind, a.score, a.threshold, a.measured_volume_pct,
               a.x_mm, a.y_mm, a.model_version
        FROM pad_alarms a
        JOIN board_inspections b ON b.event_id = a.event_id
    """,
    "v_defects": """
        SELECT d.event_key, d.printer_id, d.defect, d.state, d.probability, d.first_event_id,
               d.last_event_id, d.first_print_index, d.last_print_index, d.model_version, d.created_at
        FROM defect_classifications d
    """,
    # Active defect: the latest classification of (printer, defect) says 'raised'.
    "v_printer_summary": """
        WITH boards AS (
            SELECT printer_id, max(line_id) AS line_id, count(*) AS boards,
                   max(inspected_at) AS last_inspected_at
            FROM board_inspections
            GROUP BY printer_id
        ), alarms AS (
            SELECT printer_id, count(*) AS alarms, count(DISTINCT event_id) AS boards_with_alarms
            FROM pad_alarms
            GROUP BY printer_id
        ), latest_defect AS (
            SELECT DISTINCT ON (printer_id, defect) printer_id, defect, state
            FROM defect_classifications
            ORDER BY printer_id, defect, created_at DESC, last_print_index DESC NULLS LAST
        ), active AS (
            SELECT printer_id, count(*) AS active_defects,
                   array_agg(defect ORDER BY defect) AS active_defect_names
            FROM latest_defect
            WHERE state = 'raised'
            GROUP BY printer_id
        )
        SELECT b.printer_id, b.line_id, b.boards,
               coalesce(a.boards_with_alarms, 0) AS boards_with_alarms,
               coalesce(a.alarms, 0) AS alarms,
               b.last_inspected_at,
               coalesce(d.active_defects, 0) AS active_defects,
               coalesce(d.active_defect_names, ARRAY[]::text[]) AS active_defect_names
        FROM boards b
        LEFT JOIN alarms a ON a.printer_id = b.printer_id
        LEFT JOIN active d ON d.printer_id = b.printer_id
    """,
}


def upgrade() -> None:
    _create_roles()
    _create_tables()
    for name, body in VIEW_SQL.items():
        op.execute(f"CREATE VIEW {name} AS {body}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {', '.join(TABLES)} TO {WRITER_ROLE}")
    op.execute(f"GRANT SELECT ON {', '.join(VIEWS)} TO {WRITER_ROLE}, {REPORTER_ROLE}")


def downgrade() -> None:
    for name in reversed(list(VIEW_SQL)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in reversed(TABLES):
        op.drop_table(table)
