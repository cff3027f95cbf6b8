"""diagnosis_state on the real server, written by the writer role: rows only move forward, one query reads
the states of many printers, and a state is stored in the transaction of its batch's boards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, event, text

from schemas.inspection import BoardInspection, PadArrays
from streams.db.engine import make_engine
from streams.db.writer import ResultWriter
from streams.pipeline.errors import PermanentStoreError
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, PrinterStateRow, ResultBatch

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def writer(fresh_database: Any) -> Iterator[ResultWriter]:
    engine = make_engine(fresh_database.writer)
    yield ResultWriter(engine)
    engine.dispose()


def state(printer: str, index: int, tag: str = "") -> PrinterStateRow:
    body = {"last_print_index": index, "boards": [[f"{printer}-e{index}", index]], "tag": tag, "x": None}
    return PrinterStateRow("diagnosis", printer, "v1", index, body)


def board(printer: str, index: int) -> BoardRecord:
    """An unscored 2-pad board (the rows of interest here are the boards and the states)."""
    two, ones = np.zeros(2), np.ones(2)
    pads = PadArrays(
        pad_id=np.array(["a", "b"]), x_mm=two, y_mm=ones, size_x_mm=ones, size_y_mm=ones,
        shape=np.array(["A", "A"]), volume_pct=ones * 100, height_um=ones * 120, area_pct=ones * 100,
    )  # fmt: skip
    inspection = BoardInspection(
        f"{printer}-e{index}", "L1", printer, "SPI-1", "R1", f"b{index}", index, T0, pads
    )
    return BoardRecord(inspection, SourceRef("in", 0, index), "unscored")


def count_statements(engine: Engine) -> list[str]:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return statements


def test_states_only_move_forward(writer: ResultWriter) -> None:
    writer.write(ResultBatch(printer_states=[state("F1", 5, "first")]))
    writer.write(ResultBatch(printer_states=[state("F1", 3, "older")]))  # a stale worker
    writer.write(ResultBatch(printer_states=[state("F1", 5, "same index")]))
    assert writer.printer_states("diagnosis", ["F1"])["F1"] == state("F1", 5, "first")
    writer.write(ResultBatch(printer_states=[state("F1", 8, "newer")]))
    assert writer.printer_states("diagnosis", ["F1"])["F1"] == state("F1", 8, "newer")


def test_states_of_many_printers_in_one_query(writer: ResultWriter) -> None:
    writer.write(ResultBatch(printer_states=[state("M1", 1), state("M2", 7)]))
    statements = count_statements(writer.engine)
    got = writer.printer_states("diagnosis", ["M1", "M2", "M3"])
    assert got == {"M1": state("M1", 1), "M2": state("M2", 7)}  # M3 has none
    assert len([s for s in statements if "diagnosis_state" in s]) == 1
    assert writer.printer_states("diagnosis", []) == {}


def test_a_state_is_stored_in_the_transaction_of_its_boards(writer: ResultWriter) -> None:
    broken = PrinterStateRow("diagnosis", "T1", None, 2, {})  # type: ignore[arg-type]  # NOT NULL violation
    with pytest.raises(PermanentStoreError, match="model_version"):  # a NOT NULL violation: content
        writer.write(ResultBatch(boards=[board("T1", 1), board("T1", 2)], printer_states=[broken]))
    assert writer.stored_event_ids(["T1-e1", "T1-e2"]) == set()  # the boards went with it

    writer.write(ResultBatch(boards=[board("T1", 1), board("T1", 2)], printer_states=[state("T1", 2)]))
    assert writer.stored_event_ids(["T1-e1", "T1-e2"]) == {"T1-e1", "T1-e2"}
    assert writer.printer_states("diagnosis", ["T1"]) == {"T1": state("T1", 2)}
    with writer.engine.connect() as conn:
        updated = conn.execute(
            text("SELECT updated_at FROM diagnosis_state WHERE printer_id = 'T1'")
        ).scalar_one()
    assert updated is not None
