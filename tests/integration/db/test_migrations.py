"""Migrations on the real server: upgrade to head, downgrade to base, upgrade again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from streams.db.engine import make_engine
from streams.db.migrations import current_revision, downgrade, head_revision, upgrade

pytestmark = pytest.mark.integration

TABLES = {
    "printers",
    "recipes",
    "model_versions",
    "board_inspections",
    "anomaly_maps",
    "pad_alarms",
    "defect_classifications",
    "stream_checkpoints",  # 0002
    "diagnosis_state",  # 0003
    "pad_layouts",  # 0005
    "board_measurements",  # 0005
    "printer_hourly",  # 0005
    "cfx_fault_acknowledgements",  # 0006
    "alarm_evidence_state",  # 0007
}
# Tables each revision adds on top of the previous one (a revision's downgrade removes exactly these).
ADDED_BY = {
    "0007": {"alarm_evidence_state"},
    "0006": {"cfx_fault_acknowledgements"},
    "0005": {"pad_layouts", "board_measurements", "printer_hourly"},
    "0003": {"diagnosis_state"},
    "0002": {"stream_checkpoints"},
}
VIEWS_0001 = {"v_printer_summary", "v_pad_alarms", "v_board_scores", "v_defects"}
VIEWS = VIEWS_0001 | {"v_printers", "v_pad_layouts", "v_board_measurements", "v_printer_hourly"}  # 0005


def _schema(url: str) -> tuple[set[str], set[str]]:
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return set(inspector.get_table_names()) - {"alembic_version"}, set(inspector.get_view_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database) -> None:
    url = empty_database.admin
    assert current_revision(url) is None

    upgrade(url)
    assert current_revision(url) == head_revision()
    assert _schema(url) == (TABLES, VIEWS)

    downgrade(url, "base")
    assert current_revision(url) is None
    assert _schema(url) == (set(), set())

    upgrade(url, "head")
    assert _schema(url) == (TABLES, VIEWS)


def test_every_revision_downgrades_one_step(empty_database) -> None:
    """Walk down from head one revision at a time: each revision's downgrade undoes only itself."""
    url = empty_database.admin
    upgrade(url)
    seen = [current_revision(url)]
    tables = TABLES
    while seen[-1] is not None:
        assert _schema(url)[0] == tables, f"at revision {seen[-1]}"
        views = VIEWS if str(seen[-1]) >= "0005" else VIEWS_0001
        assert _schema(url)[1] == views, f"at revision {seen[-1]}"
        tables = tables - ADDED_BY.get(str(seen[-1]), set())
        downgrade(url, "-1")
        seen.append(current_revision(url))
    assert seen[0] == head_revision()
    assert seen == ["0008", "0007", "0006", "0005", "0004", "0003", "0002", "0001", None]
    assert _schema(url) == (set(), set())


def test_board_inspection_indexes(fresh_database) -> None:
    engine = make_engine(fresh_database.admin)
    try:
        indexes = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("board_inspections")}
        uniques = inspect(engine).get_unique_constraints("board_inspections")
    finally:
        engine.dispose()
    assert {("printer_id", "inspected_at"), ("printer_id", "print_index"), ("inspected_at",)} <= indexes
    assert uniques == []  # reprints of a board are new events: only event_id is unique


def test_0007_process_alarm_columns_and_view(fresh_database) -> None:
    engine = make_engine(fresh_database.admin)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("pad_alarms")}
        view = {c["name"] for c in inspect(engine).get_columns("v_pad_alarms")}
    finally:
        engine.dispose()
    added = {"alarm_type", "evidence", "evidence_boards", "evidence_limit"}
    assert added <= columns
    assert added <= view


def test_0008_pad_array_columns_have_no_statistics(fresh_database) -> None:
    engine = make_engine(fresh_database.admin)
    query = text(
        "SELECT c.relname, a.attname, a.attstattarget FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE c.relname IN ('anomaly_maps', 'board_measurements') AND a.attnum > 0 AND NOT a.attisdropped"
    )
    try:
        with engine.connect() as conn:
            targets = {(t, col): target for t, col, target in conn.execute(query)}
    finally:
        engine.dispose()
    arrays = {("anomaly_maps", "pad_ids"), ("anomaly_maps", "scores")}
    arrays |= {("board_measurements", c) for c in ("volume_pct", "height_um", "area_pct")}
    assert {k: targets[k] for k in arrays} == dict.fromkeys(arrays, 0)
    assert targets[("anomaly_maps", "event_id")] in (-1, None)  # scalar columns keep the default
