"""Migration 0006 on the real server: the writer role stores the real-line fields of a board and its alarmed
pads, and an unknown field stays NULL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from streams.db.engine import make_engine
from streams.db.writer import ResultWriter
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, ResultBatch, alarm_message
from tests.unit.streams.hand_board import board, scores

pytestmark = pytest.mark.integration


@pytest.fixture
def writer(fresh_database: Any) -> Iterator[ResultWriter]:
    engine = make_engine(fresh_database.writer)
    yield ResultWriter(engine)
    engine.dispose()


def test_board_and_alarm_rows_carry_real_line_fields(writer: ResultWriter) -> None:
    b = board()
    pads = replace(
        b.pads, component_ref=np.array(["R1", "R1", "U7"]), spi_result=np.array(["pass", "pass", "fail"])
    )
    b = replace(b, event_id="real-1", pads=pads, barcode="SN9", panel_position=2, stencil_id="ST1",
                prints_since_cleaning=4)  # fmt: skip
    plain = replace(board(), event_id="plain-1")
    s = scores(b)
    msg = alarm_message(s)
    assert msg is not None
    batch = ResultBatch(
        boards=[
            BoardRecord(b, SourceRef("t", 0, 1), "scored", s),
            BoardRecord(plain, SourceRef("t", 0, 2), "late"),
        ],
        alarms=[msg],
    )
    writer.write(batch)
    writer.write(batch)  # a replay changes nothing
    with writer.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT event_id, barcode, panel_position, stencil_id, prints_since_cleaning, spi_fail_pads, "
                "spi_warning_pads FROM board_inspections ORDER BY event_id"
            )
        ).all()
        alarms = conn.execute(
            text(
                "SELECT pad_id, component_ref, spi_result FROM pad_alarms WHERE event_id = 'real-1' "
                "ORDER BY pad_id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("plain-1", None, None, None, None, None, None),
        ("real-1", "SN9", 2, "ST1", 4, 1, 0),
    ]
    assert [tuple(r) for r in alarms] == [("A", "R1", "pass"), ("C", "U7", "fail")]
