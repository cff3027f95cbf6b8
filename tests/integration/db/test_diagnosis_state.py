"""diagnosis_state on the real server, written by the writer role: rows only move forward, one query reads
the states of many printers, and a state is stored in the transaction of its batch's boards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError

from streams.db.engine import make_engine
from streams.db.writer import BoardRow, DiagnosisStateRow, ResultBatch, ResultWriter

pytestmark = pytest.mark.integration


@pytest.fixture
def writer(fresh_database: Any) -> Iterator[ResultWriter]:
    engine = make_engine(fresh_database.writer)
    yield ResultWriter(engine)
    engine.dispose()


def state(printer: str, index: int, tag: str = "") -> DiagnosisStateRow:
    body = {"last_print_index": index, "boards": [[f"{printer}-e{index}", index]], "tag": tag, "x": None}
    return DiagnosisStateRow(printer, "v1", index, body)


def board(printer: str, index: int) -> BoardRow:
    return BoardRow(
        event_id=f"{printer}-e{index}", printer_id=printer, line_id="L1", inspector_id="SPI-1",
        recipe_id="R1", board_id=f"b{index}", print_index=index,
        inspected_at=datetime(2026, 1, 1, tzinfo=UTC), squeegee_direction=None, n_pads=2,
        status="scored", model_version="v1", n_excessive=0, n_insufficient=0, max_abs_score=0.0,
        source_topic="in", source_partition=0, source_offset=index,
    )  # fmt: skip


def count_statements(engine: Engine) -> list[str]:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return statements


def test_states_only_move_forward(writer: ResultWriter) -> None:
    writer.write(ResultBatch(diagnosis_states=[state("F1", 5, "first")]))
    writer.write(ResultBatch(diagnosis_states=[state("F1", 3, "older")]))  # a stale worker
    writer.write(ResultBatch(diagnosis_states=[state("F1", 5, "same index")]))
    assert writer.diagnosis_states(["F1"])["F1"] == state("F1", 5, "first")
    writer.write(ResultBatch(diagnosis_states=[state("F1", 8, "newer")]))
    assert writer.diagnosis_states(["F1"])["F1"] == state("F1", 8, "newer")


def test_states_of_many_printers_in_one_query(writer: ResultWriter) -> None:
    writer.write(ResultBatch(diagnosis_states=[state("M1", 1), state("M2", 7)]))
    statements = count_statements(writer.engine)
    got = writer.diagnosis_states(["M1", "M2", "M3"])
    assert got == {"M1": state("M1", 1), "M2": state("M2", 7)}  # M3 has none
    assert len([s for s in statements if "diagnosis_state" in s]) == 1
    assert writer.diagnosis_states([]) == {}


def test_a_state_is_stored_in_the_transaction_of_its_boards(writer: ResultWriter) -> None:
    broken = DiagnosisStateRow("T1", None, 2, {})  # type: ignore[arg-type]  # NOT NULL violation
    with pytest.raises(IntegrityError, match="model_version"):
        writer.write(ResultBatch(boards=[board("T1", 1), board("T1", 2)], diagnosis_states=[broken]))
    assert writer.stored_event_ids(["T1-e1", "T1-e2"]) == set()  # the boards went with it

    writer.write(ResultBatch(boards=[board("T1", 1), board("T1", 2)], diagnosis_states=[state("T1", 2)]))
    assert writer.stored_event_ids(["T1-e1", "T1-e2"]) == {"T1-e1", "T1-e2"}
    assert writer.diagnosis_states(["T1"]) == {"T1": state("T1", 2)}
    with writer.engine.connect() as conn:
        updated = conn.execute(
            text("SELECT updated_at FROM diagnosis_state WHERE printer_id = 'T1'")
        ).scalar_one()
    assert updated is not None
