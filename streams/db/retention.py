"""Retention: delete stored rows older than the retention settings, in bounded batches.

Run by `spi-crrn db retention` as the owner role (the writer may not delete, see
tests/integration/db/test_roles.py). What goes:

- boards with `inspected_at` before now - RETENTION_DAYS, `batch` boards per transaction (oldest first,
  through the index on board_inspections(inspected_at)); their anomaly maps, measurements and pad alarms
  go with them (ON DELETE CASCADE);
- defect classifications created before the same cutoff;
- printer-hour aggregates older than RETENTION_HOURLY_DAYS;
- pad layouts no remaining board uses.

Short transactions keep locks and WAL per step small, so a worker writing at the same time is not held up.
A dry run counts what would go and deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

_OLD_BOARDS = "FROM board_inspections WHERE inspected_at < :cutoff"
_DELETE_BOARDS = text(
    "DELETE FROM board_inspections WHERE event_id IN "
    f"(SELECT event_id {_OLD_BOARDS} ORDER BY inspected_at LIMIT :batch)"
)
_UNUSED_LAYOUTS = (
    "FROM pad_layouts l WHERE NOT EXISTS "
    "(SELECT 1 FROM board_measurements m WHERE m.layout_key = l.layout_key)"
)


@dataclass(frozen=True)
class RetentionReport:
    """What was (or, in a dry run, would be) deleted, and the cutoffs used."""

    board_cutoff: datetime
    hourly_cutoff: datetime
    boards: int
    defects: int
    hourly: int
    layouts: int
    transactions: int
    dry_run: bool

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{verb} {self.boards} boards (with their maps, measurements and alarms) and {self.defects} "
            f"defect rows before {self.board_cutoff:%Y-%m-%d %H:%M} UTC, {self.hourly} printer-hour rows "
            f"before {self.hourly_cutoff:%Y-%m-%d %H:%M} UTC, {self.layouts} unused pad layouts"
            + ("" if self.dry_run else f" ({self.transactions} transactions)")
        )


def apply_retention(
    engine: Engine,
    days: int,
    hourly_days: int,
    batch: int = 5000,
    dry_run: bool = False,
    now: datetime | None = None,
) -> RetentionReport:
    """Delete (or count, when `dry_run`) the rows older than `days` / `hourly_days` before `now`."""
    if days < 1 or hourly_days < 1 or batch < 1:
        raise ValueError(f"days={days}, hourly_days={hourly_days}, batch={batch}: each must be >= 1")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    hourly_cutoff = now - timedelta(days=hourly_days)
    params = {"cutoff": cutoff, "hourly_cutoff": hourly_cutoff}
    if dry_run:
        with engine.connect() as conn:
            boards = conn.execute(text(f"SELECT count(*) {_OLD_BOARDS}"), params).scalar_one()
            defects = conn.execute(
                text("SELECT count(*) FROM defect_classifications WHERE created_at < :cutoff"), params
            ).scalar_one()
            hourly = conn.execute(
                text("SELECT count(*) FROM printer_hourly WHERE hour < :hourly_cutoff"), params
            ).scalar_one()
            # Layouts whose every board is old would go too.
            layouts = conn.execute(
                text(
                    "SELECT count(*) FROM pad_layouts l WHERE NOT EXISTS (SELECT 1 FROM board_measurements m "
                    "JOIN board_inspections b ON b.event_id = m.event_id "
                    "WHERE m.layout_key = l.layout_key AND b.inspected_at >= :cutoff)"
                ),
                params,
            ).scalar_one()
        return RetentionReport(cutoff, hourly_cutoff, boards, defects, hourly, layouts, 0, True)

    boards = transactions = 0
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(_DELETE_BOARDS, {**params, "batch": batch}).rowcount
        transactions += 1
        boards += deleted
        if deleted < batch:
            break
    with engine.begin() as conn:
        defects = conn.execute(
            text("DELETE FROM defect_classifications WHERE created_at < :cutoff"), params
        ).rowcount
        hourly = conn.execute(text("DELETE FROM printer_hourly WHERE hour < :hourly_cutoff"), params).rowcount
        layouts = conn.execute(text(f"DELETE {_UNUSED_LAYOUTS}")).rowcount
    return RetentionReport(cutoff, hourly_cutoff, boards, defects, hourly, layouts, transactions + 1, False)
