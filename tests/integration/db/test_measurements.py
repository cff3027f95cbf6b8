"""Migration 0005 on the real server: measurements and hourly aggregates written by the real writer,
replays that change nothing, retention that deletes what is old and nothing else, reporter rights."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from streams.db.engine import make_engine
from streams.db.migrations import downgrade, upgrade
from streams.db.retention import apply_retention
from streams.db.writer import ResultWriter, layout_key
from tests.integration.db import fleet
from tests.integration.db.rows import INSERT_BOARD, board_row

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def stored(fresh_database):
    """The fleet (3 printers x 30 boards x 300 pads) written by the writer role, then written again."""
    f = fleet.simulate(NOW, boards=30)
    engine = make_engine(fresh_database.writer)
    try:
        writer = ResultWriter(engine)
        fleet.write(writer, f, NOW)
        fleet.write(writer, f, NOW, batch=7)  # a replay in other batches: nothing may change
    finally:
        engine.dispose()
    return fresh_database, f


def _scalar(url: str, sql: str, **params: object) -> object:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


def test_measurements_are_the_boards_arrays(stored) -> None:
    db, f = stored
    engine = make_engine(db.admin)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT event_id, layout_key, volume_pct, height_um, area_pct, threshold_excessive "
                    "FROM board_measurements"
                )
            ).all()
            layouts = conn.execute(text("SELECT layout_key, pad_ids, x_mm, size_y_mm FROM pad_layouts")).all()
    finally:
        engine.dispose()
    assert len(rows) == len(f.boards) == 90
    by_id = {b.event_id: b for b in f.boards}
    for r in rows:
        b = by_id[r.event_id]
        assert r.layout_key == layout_key(b)
        np.testing.assert_array_equal(
            np.asarray(r.volume_pct, np.float32), b.pads.volume_pct.astype(np.float32)
        )
        np.testing.assert_array_equal(
            np.asarray(r.height_um, np.float32), b.pads.height_um.astype(np.float32)
        )
        np.testing.assert_array_equal(np.asarray(r.area_pct, np.float32), b.pads.area_pct.astype(np.float32))
        assert r.threshold_excessive == fleet.THRESHOLDS.excessive
    # All printers share one recipe: its geometry is stored once.
    assert len(layouts) == 1
    b = f.boards[0]
    assert layouts[0].pad_ids == b.pads.pad_id.tolist()
    np.testing.assert_array_equal(np.asarray(layouts[0].x_mm, np.float32), b.pads.x_mm.astype(np.float32))
    np.testing.assert_array_equal(
        np.asarray(layouts[0].size_y_mm, np.float32), b.pads.size_y_mm.astype(np.float32)
    )


def test_hourly_aggregates_count_each_board_once(stored) -> None:
    db, _ = stored
    engine = make_engine(db.admin)
    try:
        with engine.connect() as conn:
            hourly = conn.execute(
                text(
                    "SELECT printer_id, sum(boards) AS boards, sum(boards_scored) AS scored, "
                    "sum(boards_with_alarms) AS bwa, sum(pads) AS pads, sum(n_excessive) AS exc, "
                    "sum(n_insufficient) AS ins, max(max_abs_score) AS mx "
                    "FROM printer_hourly GROUP BY printer_id ORDER BY printer_id"
                )
            ).all()
            raw = conn.execute(
                text(
                    "SELECT printer_id, count(*) AS boards, count(*) AS scored, "
                    "count(*) FILTER (WHERE n_excessive + n_insufficient > 0) AS bwa, sum(n_pads) AS pads, "
                    "sum(n_excessive) AS exc, sum(n_insufficient) AS ins, max(max_abs_score) AS mx "
                    "FROM board_inspections GROUP BY printer_id ORDER BY printer_id"
                )
            ).all()
            hours = conn.execute(text("SELECT DISTINCT extract(minute FROM hour) FROM printer_hourly")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in hourly] == [tuple(r) for r in raw]
    assert [r.boards for r in hourly] == [30, 30, 30]  # written twice, counted once
    assert hourly[-1].exc > 100 > hourly[0].exc  # the defective printer
    assert [float(h[0]) for h in hours] == [0.0]  # hour starts


def test_reporter_reads_the_new_views_not_the_tables(stored) -> None:
    db, f = stored
    boards = _scalar(db.reporter, "SELECT count(*) FROM v_board_measurements WHERE printer_id = :p", p="P03")
    assert boards == 30
    assert _scalar(db.reporter, "SELECT sum(boards) FROM v_printer_hourly") == 90
    assert _scalar(db.reporter, "SELECT n_pads FROM v_pad_layouts") == f.pads
    assert _scalar(db.reporter, "SELECT count(*) FROM v_printers") == 3
    engine = make_engine(db.reporter)
    try:
        for table in ("board_measurements", "pad_layouts", "printer_hourly"):
            with engine.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(f"SELECT * FROM {table}"))
    finally:
        engine.dispose()


def test_retention_deletes_old_rows_in_batches_and_nothing_else(empty_database) -> None:
    """Old boards (41 days) go with their measurements, maps and alarms; recent ones stay untouched."""
    db = empty_database
    upgrade(db.admin, "head")
    old = NOW - timedelta(days=41)
    engine = make_engine(db.writer)
    admin = make_engine(db.admin)
    try:
        writer = ResultWriter(engine)
        f_old = fleet.simulate(old, printers=2, boards=12)
        # Another geometry for the old boards only (a recipe that is gone): its layout must go too.
        f_old = replace(
            f_old, boards=[replace(b, recipe_id="R-OLD", event_id=f"old-{b.event_id}") for b in f_old.boards]
        )
        fleet.write(writer, f_old, old)
        f_new = fleet.simulate(NOW, printers=2, boards=5)
        fleet.write(writer, f_new, NOW)
        with admin.begin() as conn:  # the old defect row is old too
            conn.execute(
                text("UPDATE defect_classifications SET created_at = :t WHERE first_event_id LIKE 'old-%'"),
                {"t": old},
            )
            conn.execute(INSERT_BOARD, {**board_row("unmeasured", "P09", 1), "inspected_at": old})
            conn.execute(
                text("INSERT INTO printer_hourly VALUES ('P01', :h, 1, 1, 0, 300, 300, 0, 0, 1.0)"),
                {"h": NOW.replace(minute=0, second=0) - timedelta(days=500)},
            )

        def counts() -> dict[str, int]:
            with admin.connect() as conn:
                return {
                    t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in (
                        "board_inspections",
                        "board_measurements",
                        "anomaly_maps",
                        "pad_alarms",
                        "defect_classifications",
                        "printer_hourly",
                        "pad_layouts",
                    )
                }

        before = counts()
        dry = apply_retention(admin, days=30, hourly_days=400, batch=5, dry_run=True, now=NOW)
        assert counts() == before
        assert (dry.boards, dry.defects, dry.hourly, dry.layouts) == (25, 1, 1, 1)

        report = apply_retention(admin, days=30, hourly_days=400, batch=5, now=NOW)
        assert (report.boards, report.defects, report.hourly, report.layouts) == (25, 1, 1, 1)
        assert report.transactions == 6 + 1  # 25 boards by 5: five full batches, one empty, then the rest
        after = counts()
        with admin.connect() as conn:
            left = set(conn.execute(text("SELECT event_id FROM board_inspections")).scalars())
            oldest = conn.execute(text("SELECT min(inspected_at) FROM board_inspections")).scalar_one()
            alarms_left = conn.execute(
                text("SELECT count(*) FROM pad_alarms WHERE event_id LIKE 'old-%'")
            ).scalar_one()
        assert left == {b.event_id for b in f_new.boards}
        assert oldest >= NOW - timedelta(days=30)
        assert after["board_measurements"] == after["anomaly_maps"] == 10
        assert alarms_left == 0
        assert after["pad_layouts"] == 1
        assert after["defect_classifications"] == 1
        # Only the 500-day-old hour goes: the 41-day-old hours are within RETENTION_HOURLY_DAYS.
        assert after["printer_hourly"] == before["printer_hourly"] - 1
        assert apply_retention(admin, days=30, hourly_days=400, batch=5, now=NOW).boards == 0
    finally:
        engine.dispose()
        admin.dispose()


def test_downgrade_to_0004_keeps_the_previous_reporting(empty_database) -> None:
    url = empty_database.admin
    upgrade(url, "head")
    downgrade(url, "0004")
    assert _scalar(empty_database.reporter, "SELECT count(*) FROM v_printer_summary") == 0
    assert (
        _scalar(url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_board_inspections_inspected_at'")
        == 0
    )
    upgrade(url, "head")
    assert _scalar(empty_database.reporter, "SELECT count(*) FROM v_board_measurements") == 0


def test_retention_command_dry_run(stored, capsys: pytest.CaptureFixture[str]) -> None:
    from streams.cli.main import main

    db, _ = stored
    with pytest.raises(SystemExit) as done:
        main(["db", "retention", "--dry-run", "--days", "1", "--database-url", db.admin])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "would delete 0 boards" in out
    assert _scalar(db.admin, "SELECT count(*) FROM board_inspections") == 90
