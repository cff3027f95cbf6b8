"""v_printer_summary: boards stored without scores, per printer.

A board is stored with status 'late', 'duplicate' or 'unscored' when the worker cannot score it (older
than the printer's newest scored board, a second event for a print_index, a window that could not be
scored). A printer whose SPI counter restarts sends only 'late' boards until its print_index passes the
old maximum, which the summary did not show. Two columns are appended (existing columns keep their
order, so `CREATE OR REPLACE VIEW` keeps the grants):

    boards_not_scored      count of the printer's boards whose status is not 'scored'
    last_not_scored_at     inspected_at of the newest such board (NULL when none)

Downgrade restores the view of 0001 (drop and create, since a view cannot lose columns in place) and
its grants.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "spi_writer"
REPORTER_ROLE = "spi_reporter"

# The view's body as 0001 created it, with `{extra_boards}` / `{extra_columns}` for what 0004 appends.
_SUMMARY = """
    WITH boards AS (
        SELECT printer_id, max(line_id) AS line_id, count(*) AS boards,
               max(inspected_at) AS last_inspected_at{extra_boards}
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
           coalesce(d.active_defect_names, ARRAY[]::text[]) AS active_defect_names{extra_columns}
    FROM boards b
    LEFT JOIN alarms a ON a.printer_id = b.printer_id
    LEFT JOIN active d ON d.printer_id = b.printer_id
"""
_NOT_SCORED_BOARDS = """,
               count(*) FILTER (WHERE status <> 'scored') AS boards_not_scored,
               max(inspected_at) FILTER (WHERE status <> 'scored') AS last_not_scored_at"""
_NOT_SCORED_COLUMNS = """,
           b.boards_not_scored,
           b.last_not_scored_at"""


def upgrade() -> None:
    body = _SUMMARY.format(extra_boards=_NOT_SCORED_BOARDS, extra_columns=_NOT_SCORED_COLUMNS)
    op.execute(f"CREATE OR REPLACE VIEW v_printer_summary AS {body}")


def downgrade() -> None:
    op.execute("DROP VIEW v_printer_summary")
    op.execute(f"CREATE VIEW v_printer_summary AS {_SUMMARY.format(extra_boards='', extra_columns='')}")
    op.execute(f"GRANT SELECT ON v_printer_summary TO {WRITER_ROLE}, {REPORTER_ROLE}")
