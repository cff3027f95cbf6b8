"""No planner statistics on the per-pad array columns of the tables that grow with every board.

ANALYZE detoasts every sampled row of a column to build its statistics: on `anomaly_maps` (scores and
pad ids, 2,000-50,000 values per row) it took 8.4 s and on `board_measurements` 3.9 s with 11,000 stored
boards, and autovacuum runs it every time a tenth of a table changed, i.e. all the time on a streaming
line. On a machine that also runs the worker that stalled scoring: three 5-10 s episodes with alarm
latencies up to 2.6 s in a 10-minute run at 5 boards/s (docs/performance.md). No query filters or joins
on these array columns (they are read whole, by event id), so their statistics have no use: target 0
makes ANALYZE skip them (0.01-0.02 s for both tables). The scalar columns keep their statistics.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAD_ARRAYS = {
    "anomaly_maps": ("pad_ids", "scores"),
    "board_measurements": ("volume_pct", "height_um", "area_pct"),
}


def _set_statistics(target: int) -> None:
    for table, columns in PAD_ARRAYS.items():
        clauses = ", ".join(f"ALTER COLUMN {c} SET STATISTICS {target}" for c in columns)
        op.execute(f"ALTER TABLE {table} {clauses}")


def upgrade() -> None:
    _set_statistics(0)


def downgrade() -> None:
    _set_statistics(-1)  # the server's default_statistics_target again
