"""Role rights on a migrated database: the writer writes tables, the reporter reads only the views."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from streams.db.engine import make_engine
from tests.integration.db.rows import INSERT_BOARD, T0, board_row

pytestmark = pytest.mark.integration

INSERT_ALARM = text(
    """INSERT INTO pad_alarms (alarm_id, event_id, pad_id, printer_id, board_id, inspected_at, kind, score,
       threshold, model_version)
       VALUES (:alarm_id, :event_id, :pad_id, 'P1', 'B0', :t, :kind, :score, 2.5, 'v1')"""
)
INSERT_DEFECT = text(
    """INSERT INTO defect_classifications (event_key, printer_id, defect, state, probability, created_at)
       VALUES (:key, 'P1', :defect, :state, 0.9, :t)"""
)


@pytest.fixture(scope="module")
def populated(fresh_database):
    """Two printers: P1 with 3 boards, 2 of them alarmed (3 alarms), one defect raised and cleared,
    one still raised; P2 with 1 clean board. Written by the writer role."""
    engine = make_engine(fresh_database.writer)
    try:
        with engine.begin() as conn:
            for i in range(3):
                conn.execute(INSERT_BOARD, board_row(f"e{i}", "P1", i))
            conn.execute(INSERT_BOARD, board_row("f0", "P2", 0))
            conn.execute(
                INSERT_ALARM,
                {
                    "alarm_id": "a0",
                    "event_id": "e0",
                    "pad_id": "p1",
                    "t": T0,
                    "kind": "excessive",
                    "score": 3.0,
                },
            )
            conn.execute(
                INSERT_ALARM,
                {
                    "alarm_id": "a0",
                    "event_id": "e0",
                    "pad_id": "p2",
                    "t": T0,
                    "kind": "excessive",
                    "score": 2.7,
                },
            )
            conn.execute(
                INSERT_ALARM,
                {
                    "alarm_id": "a1",
                    "event_id": "e1",
                    "pad_id": "p1",
                    "t": T0,
                    "kind": "insufficient",
                    "score": -3.1,
                },
            )
            conn.execute(INSERT_DEFECT, {"key": "d1", "defect": "clogging", "state": "raised", "t": T0})
            conn.execute(
                INSERT_DEFECT,
                {"key": "d2", "defect": "clogging", "state": "cleared", "t": T0.replace(hour=9)},
            )
            conn.execute(INSERT_DEFECT, {"key": "d3", "defect": "misalignment", "state": "raised", "t": T0})
            conn.execute(text("UPDATE board_inspections SET model_version = 'v1' WHERE printer_id = 'P1'"))
    finally:
        engine.dispose()
    return fresh_database


def test_reporter_reads_printer_summary(populated) -> None:
    engine = make_engine(populated.reporter)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT printer_id, boards, boards_with_alarms, alarms, active_defects, "
                    "active_defect_names "
                    "FROM v_printer_summary ORDER BY printer_id"
                )
            ).all()
            pad_alarms = conn.execute(text("SELECT count(*) FROM v_pad_alarms")).scalar_one()
            boards = conn.execute(text("SELECT count(*) FROM v_board_scores")).scalar_one()
            defects = conn.execute(text("SELECT count(*) FROM v_defects")).scalar_one()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("P1", 3, 2, 3, 1, ["misalignment"]), ("P2", 1, 0, 0, 0, [])]
    assert (pad_alarms, boards, defects) == (3, 4, 3)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM board_inspections",
        "SELECT * FROM pad_alarms",
        "SELECT * FROM diagnosis_state",
        "INSERT INTO printers (printer_id, line_id) VALUES ('X', 'L')",
        "UPDATE defect_classifications SET state = 'cleared'",
    ],
)
def test_reporter_cannot_touch_tables(populated, statement: str) -> None:
    engine = make_engine(populated.reporter)
    try:
        with engine.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_writer_cannot_delete_or_drop(populated) -> None:
    engine = make_engine(populated.writer)
    try:
        with engine.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text("DELETE FROM board_inspections"))
        with engine.connect() as conn, pytest.raises(ProgrammingError, match="must be owner"):
            conn.execute(text("DROP TABLE pad_alarms"))
    finally:
        engine.dispose()


def test_constraints_reject_bad_rows(populated) -> None:
    engine = make_engine(populated.writer)
    try:
        with engine.connect() as conn, pytest.raises(IntegrityError, match="ck_pad_alarms_kind"):
            conn.execute(
                INSERT_ALARM,
                {
                    "alarm_id": "a9",
                    "event_id": "e2",
                    "pad_id": "p9",
                    "t": T0,
                    "kind": "bridging",
                    "score": 1.0,
                },
            )
        with engine.connect() as conn, pytest.raises(IntegrityError, match="board_inspections_pkey"):
            conn.execute(INSERT_BOARD, board_row("e0", "P1", 7))
    finally:
        engine.dispose()


def test_only_one_active_model_version(populated) -> None:
    insert = text(
        "INSERT INTO model_versions (version, path, sha256, is_active) VALUES (:v, 'm.pt', 'x', true)"
    )
    engine = make_engine(populated.writer)
    try:
        with engine.begin() as conn:
            conn.execute(insert, {"v": "v1"})
        with engine.connect() as conn, pytest.raises(IntegrityError, match="uq_model_versions_one_active"):
            conn.execute(insert, {"v": "v2"})
    finally:
        engine.dispose()


RAW_TABLES = {
    "board_inspections", "anomaly_maps", "pad_alarms", "printers", "defect_classifications",
    "model_versions", "stream_checkpoints", "diagnosis_state",
}  # fmt: skip
RIGHTS = text(
    """SELECT c.relname, c.relkind, p.priv, has_table_privilege(current_user, c.oid, p.priv) AS granted
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])
            AS p(priv)
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"""
)


def _rights(url: str) -> tuple[dict[str, str], set[tuple[str, str]], bool]:
    """(relation -> kind, the (relation, right) pairs granted, CREATE on schema public) for the URL's role."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(RIGHTS).all()
            create = conn.execute(text("SELECT has_schema_privilege('public', 'CREATE')")).scalar_one()
    finally:
        engine.dispose()
    kinds = {r.relname: r.relkind for r in rows}
    return kinds, {(r.relname, r.priv) for r in rows if r.granted}, bool(create)


def test_reporter_may_only_read_the_views(populated) -> None:
    """Every relation of the schema, the ones later migrations add included: the reporter reads views
    and nothing else, and cannot create anything."""
    kinds, granted, create = _rights(populated.reporter)
    assert set(kinds) >= RAW_TABLES | {"v_printer_summary", "v_pad_alarms", "v_board_scores", "v_defects"}
    views = {name for name, kind in kinds.items() if kind in ("v", "m")}
    assert granted == {(view, "SELECT") for view in views}
    assert not create


def test_writer_may_not_delete_truncate_or_create(populated) -> None:
    kinds, granted, create = _rights(populated.writer)
    tables = {name for name, kind in kinds.items() if kind in ("r", "p")} - {"alembic_version"}
    assert tables >= RAW_TABLES
    assert {(t, right) for t, right in granted if t in tables} == {
        (t, right) for t in tables for right in ("SELECT", "INSERT", "UPDATE")
    }
    assert not create
