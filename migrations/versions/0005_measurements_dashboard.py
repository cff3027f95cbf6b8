"""Measurements stored, hourly trends, reporting views for the dashboard, indexes for retention.

Tables (written by `spi_writer` in the batch's one transaction, see streams/db/writer.py):

    pad_layouts          one row per distinct pad geometry (recipe, pad ids, x/y, aperture sizes), keyed
                         by a hash of it: the geometry of 2,000 pads is ~60 kB, so it is stored once,
                         not on every board
    board_measurements   per board (scored or not) the measured volume, height and area, real[] in the
                         board's pad order (the order of `pad_layouts.pad_ids` and `anomaly_maps.scores`),
                         and the model's two score limits when the board was scored
    printer_hourly       per printer and UTC hour: boards, scored boards, boards with alarms, pads,
                         excessive / insufficient alarms, largest |score|; the writer adds the boards it
                         inserted in the same transaction, so a replayed batch adds nothing

Why `real[]`: 4 bytes a value, readable in SQL (`volume_pct[k]`) by the reporting views; float16 in
bytea would halve the arrays but no view could read them. Measured sizes: docs/dashboard.md.

Why a table for the hourly trend and not a view over board_inspections: a trend over weeks would scan
every board of those weeks (180 an hour per printer), and the raw boards are deleted after RETENTION_DAYS
while the hourly rows (24 a day per printer) are kept longer (RETENTION_HOURLY_DAYS); a materialized view
would need a refresh job and would lose the hours whose boards retention has deleted.

Indexes: board_inspections(inspected_at) and defect_classifications(created_at) for the retention
command's bounded deletes and the defect timeline; board_measurements(layout_key) for deleting layouts no
board uses; printer_hourly(hour) for the trend of all printers since a time.

Views (`spi_reporter` reads only views, as in 0001): v_printers, v_board_measurements, v_pad_layouts,
v_printer_hourly. Downgrade drops what is created here and leaves 0004's schema and grants as they were.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "spi_writer"
REPORTER_ROLE = "spi_reporter"
TABLES = ["pad_layouts", "board_measurements", "printer_hourly"]

TSTZ = sa.DateTime(timezone=True)
REALS = pg.ARRAY(sa.REAL)

# Views run with their owner's rights, so the reporter reads them without any right on the tables.
VIEW_SQL = {
    "v_printers": """
        SELECT p.printer_id, p.line_id, p.first_seen_at, p.last_seen_at
        FROM printers p
    """,
    "v_pad_layouts": """
        SELECT l.layout_key, l.recipe_id, l.n_pads, l.pad_ids, l.x_mm, l.y_mm, l.size_x_mm, l.size_y_mm
        FROM pad_layouts l
    """,
    "v_board_measurements": """
        SELECT b.event_id, b.printer_id, b.line_id, b.recipe_id, b.board_id, b.print_index, b.inspected_at,
               b.squeegee_direction, b.n_pads, b.status, b.model_version, b.n_excessive, b.n_insufficient,
               b.max_abs_score, m.layout_key, m.volume_pct, m.height_um, m.area_pct,
               m.threshold_excessive, m.threshold_insufficient, a.scores
        FROM board_inspections b
        JOIN board_measurements m ON m.event_id = b.event_id
        LEFT JOIN anomaly_maps a ON a.event_id = b.event_id
    """,
    "v_printer_hourly": """
        SELECT h.printer_id, h.hour, h.boards, h.boards_scored, h.boards_with_alarms, h.pads, h.pads_scored,
               h.n_excessive, h.n_insufficient, h.max_abs_score
        FROM printer_hourly h
    """,
}
INDEXES = [  # (name, table, columns)
    ("ix_board_inspections_inspected_at", "board_inspections", ["inspected_at"]),
    ("ix_defect_classifications_created_at", "defect_classifications", ["created_at"]),
    ("ix_board_measurements_layout", "board_measurements", ["layout_key"]),
    ("ix_printer_hourly_hour", "printer_hourly", ["hour"]),
]


def upgrade() -> None:
    op.create_table(
        "pad_layouts",
        sa.Column("layout_key", sa.Text, primary_key=True),
        sa.Column("recipe_id", sa.Text, nullable=False),
        sa.Column("n_pads", sa.Integer, nullable=False),
        sa.Column("pad_ids", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("x_mm", REALS, nullable=False),
        sa.Column("y_mm", REALS, nullable=False),
        sa.Column("size_x_mm", REALS, nullable=False),
        sa.Column("size_y_mm", REALS, nullable=False),
        sa.Column("created_at", TSTZ, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint(
            "n_pads = cardinality(pad_ids) AND n_pads = cardinality(x_mm) AND n_pads = cardinality(y_mm) "
            "AND n_pads = cardinality(size_x_mm) AND n_pads = cardinality(size_y_mm)",
            name="ck_pad_layouts_lengths",
        ),
    )
    op.create_table(
        "board_measurements",
        sa.Column(
            "event_id",
            sa.Text,
            sa.ForeignKey("board_inspections.event_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("layout_key", sa.Text, sa.ForeignKey("pad_layouts.layout_key"), nullable=False),
        sa.Column("volume_pct", REALS, nullable=False),
        sa.Column("height_um", REALS, nullable=False),
        sa.Column("area_pct", REALS, nullable=False),
        sa.Column("threshold_excessive", sa.REAL, nullable=True),  # the model's limits, when scored
        sa.Column("threshold_insufficient", sa.REAL, nullable=True),
        sa.CheckConstraint(
            "cardinality(volume_pct) = cardinality(height_um) "
            "AND cardinality(volume_pct) = cardinality(area_pct)",
            name="ck_board_measurements_lengths",
        ),
    )
    op.create_table(
        "printer_hourly",
        sa.Column("printer_id", sa.Text, nullable=False),
        sa.Column("hour", TSTZ, nullable=False),  # UTC hour start
        sa.Column("boards", sa.Integer, nullable=False),
        sa.Column("boards_scored", sa.Integer, nullable=False),
        sa.Column("boards_with_alarms", sa.Integer, nullable=False),
        sa.Column("pads", sa.BigInteger, nullable=False),
        sa.Column("pads_scored", sa.BigInteger, nullable=False),
        sa.Column("n_excessive", sa.BigInteger, nullable=False),
        sa.Column("n_insufficient", sa.BigInteger, nullable=False),
        sa.Column("max_abs_score", sa.REAL, nullable=True),
        sa.PrimaryKeyConstraint("printer_id", "hour", name="pk_printer_hourly"),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    for name, body in VIEW_SQL.items():
        op.execute(f"CREATE VIEW {name} AS {body}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {', '.join(TABLES)} TO {WRITER_ROLE}")
    op.execute(f"GRANT SELECT ON {', '.join(VIEW_SQL)} TO {WRITER_ROLE}, {REPORTER_ROLE}")


def downgrade() -> None:
    for name in reversed(list(VIEW_SQL)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for name, table, _ in reversed(INDEXES):
        if table not in TABLES:  # the new tables' indexes go with them
            op.drop_index(name, table_name=table)
    for table in reversed(TABLES):
        op.drop_table(table)
