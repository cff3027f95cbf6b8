"""v_printer_summary counts the boards stored without scores (migration 0004), for the reporter role,
and 0004's downgrade gives back 0003's view with its grants."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from streams.db.engine import make_engine
from streams.db.migrations import downgrade, upgrade
from tests.integration.db.rows import INSERT_BOARD, T0, board_row

pytestmark = pytest.mark.integration

SUMMARY = "SELECT printer_id, boards, boards_not_scored, last_not_scored_at FROM v_printer_summary ORDER BY 1"


def _write_boards(writer_url: str) -> None:
    """P1: boards 10-12 scored, then its counter restarts: boards 1-2 arrive 'late' (minutes 20, 21),
    plus one 'unscored' board; P2: one scored board."""
    engine = make_engine(writer_url)
    try:
        with engine.begin() as conn:
            for i in (10, 11, 12):
                conn.execute(INSERT_BOARD, board_row(f"e{i}", "P1", i))
            for i, minute in ((1, 20), (2, 21)):
                late = {"status": "late", "inspected_at": T0.replace(minute=minute)}
                conn.execute(INSERT_BOARD, {**board_row(f"r{i}", "P1", i), **late})
            conn.execute(INSERT_BOARD, {**board_row("u13", "P1", 13), "status": "unscored"})
            conn.execute(INSERT_BOARD, board_row("f0", "P2", 0))
    finally:
        engine.dispose()


def _summary(reporter_url: str) -> list[tuple[object, ...]]:
    engine = make_engine(reporter_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(SUMMARY)).all()]
    finally:
        engine.dispose()


def test_summary_counts_boards_not_scored_and_downgrade_restores_the_old_view(empty_database) -> None:
    urls = empty_database
    upgrade(urls.admin, "head")
    _write_boards(urls.writer)
    # P1: 6 boards, 3 not scored (2 late, 1 unscored at minute 13); the newest of them is minute 21
    assert _summary(urls.reporter) == [("P1", 6, 3, T0.replace(minute=21)), ("P2", 1, 0, None)]

    downgrade(urls.admin, "0003")
    engine = make_engine(urls.reporter)
    try:
        with engine.connect() as conn:
            old = conn.execute(text("SELECT * FROM v_printer_summary ORDER BY printer_id")).mappings().all()
    finally:
        engine.dispose()
    assert [r["boards"] for r in old] == [6, 1]  # the reporter still reads it: grants restored
    assert "boards_not_scored" not in old[0]

    upgrade(urls.admin, "head")
    assert _summary(urls.reporter)[0] == ("P1", 6, 3, T0.replace(minute=21))
