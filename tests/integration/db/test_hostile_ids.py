"""SQL only with bound parameters (#12): boards whose ids are SQL-looking, quote-laden or exotic text go
through the real ResultWriter into PostgreSQL and come back unchanged; nothing they "say" runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text

from crrn.scoring import BoardScores
from schemas.messages import PadAlarm, Thresholds
from schemas.validation import ID_FIELDS, parse_inspection
from streams.db.engine import make_engine
from streams.db.writer import ResultWriter
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, ResultBatch
from tests.hostile_events import SQL_LOOKING

pytestmark = pytest.mark.integration

# Valid text of every awkward kind: SQL fragments, quotes, backslashes, psql/psycopg placeholders,
# dollar quoting, comment markers, non-ASCII and astral characters, the longest id the validator allows.
HOSTILE_IDS = [
    *SQL_LOOKING,
    'O\'Brien "quoted" `ticked`',
    "back\\slash\\\\double",
    "-- comment /* block */",
    ":event_id :1 ? $1 %% {}",
    "Platine-Ü-板-\U0001f600",
    "x" * 128,
]
PAD_IDS = ["p'1", 'p"2', "p;3--", "p\\4", "p%s5", "p:6", "p$$7", "C1-1 ' OR 1=1"]


@pytest.fixture
def engine(fresh_database: Any) -> Iterator[Engine]:
    engine = make_engine(fresh_database.writer)
    yield engine
    engine.dispose()


def hostile_board(i: int, value: str) -> BoardRecord:
    n = len(PAD_IDS)
    event = {
        "schema": "spi.board_inspection.v1",
        **{name: f"{value}" if name != "event_id" else f"{i}:{value}"[:128] for name in ID_FIELDS},
        "print_index": i,
        "inspected_at": "2026-01-01T08:00:00Z",
        "pads": {
            "pad_id": PAD_IDS, "x_mm": [float(k) for k in range(n)], "y_mm": [1.0] * n,
            "size_x_mm": [0.5] * n, "size_y_mm": [0.5] * n, "shape": ["chip'0402"] * n,
            "volume_pct": [100.0] * n, "height_um": [120.0] * n, "area_pct": [100.0] * n,
        },
    }  # fmt: skip
    board = parse_inspection(json.dumps(event))  # through the one validator, as the worker reads it
    score = np.linspace(-4.0, 4.0, n).astype(np.float32)
    alarm = np.sign(score).astype(np.int8) * (np.abs(score) > 3.0)
    scores = BoardScores(board, score, alarm, "v1", "two_pass", Thresholds(3.0, -3.0))
    return BoardRecord(board, SourceRef("in", 0, i), "scored", scores)


def test_sql_looking_ids_are_stored_and_read_back_unchanged(engine: Engine) -> None:
    records = [hostile_board(i, value) for i, value in enumerate(HOSTILE_IDS)]
    alarms = [
        a
        for r in records
        if r.scores is not None
        and (a := PadAlarm.for_board(r.board, r.scores.score, r.scores.thresholds, "v1", r.scores.alarm))
    ]
    assert len(alarms) == len(records)
    ResultWriter(engine).write(ResultBatch(boards=records, alarms=alarms))
    ResultWriter(engine).write(ResultBatch(boards=records, alarms=alarms))  # a replay changes nothing

    columns = ", ".join(ID_FIELDS)
    with engine.connect() as conn:
        boards = {r[0]: tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM board_inspections"))}
        maps = {r.event_id: list(r.pad_ids) for r in conn.execute(text("SELECT * FROM anomaly_maps"))}
        pad_alarms = {
            (r.event_id, r.pad_id, r.printer_id, r.board_id, r.kind)
            for r in conn.execute(text("SELECT * FROM pad_alarms"))
        }
        printers = {r[0] for r in conn.execute(text("SELECT printer_id FROM printers"))}
    assert boards == {r.board.event_id: tuple(getattr(r.board, n) for n in ID_FIELDS) for r in records}
    assert maps == {r.board.event_id: PAD_IDS for r in records}
    assert printers == set(HOSTILE_IDS)
    assert pad_alarms == {
        (a.event_id, p.pad_id, a.printer_id, a.board_id, p.kind) for a in alarms for p in a.pads
    }
    assert {pad for _, pad, *_ in pad_alarms} == {PAD_IDS[0], PAD_IDS[-1]}
    # and what the ids "say" did not run: the tables are all there, each board once
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM board_inspections")).scalar_one() == len(HOSTILE_IDS)
        assert conn.execute(text("SELECT to_regclass('pad_alarms') IS NOT NULL")).scalar_one()
