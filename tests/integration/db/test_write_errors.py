"""What the real PostgreSQL refuses, told apart from an outage: the writer raises PermanentStoreError only
for content (a NUL in text, a violated constraint), and a processor then stores the rest of the batch and
dead-letters the offending board; a database that cannot be reached is a transient error."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from crrn.anomaly_map import alarms
from crrn.scoring import BoardScores
from schemas.inspection import BoardInspection, PadArrays
from schemas.messages import PadAlarm, Thresholds
from streams.db.engine import make_engine
from streams.db.writer import ResultWriter
from streams.pipeline.errors import PermanentStoreError
from streams.pipeline.jobs import BoardJob
from streams.pipeline.processor import BatchProcessor, OutputTopics
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, ResultBatch
from streams.services.processes import pick_port

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TH = Thresholds(2.0, -2.0)


@pytest.fixture
def engine(fresh_database: Any) -> Iterator[Engine]:
    engine = make_engine(fresh_database.writer)
    yield engine
    engine.dispose()


def board(index: int, board_id: str = "") -> BoardInspection:
    n = 3
    pads = PadArrays(
        pad_id=np.array(["a", "b", "c"]), x_mm=np.arange(3.0), y_mm=np.zeros(n), size_x_mm=np.ones(n),
        size_y_mm=np.ones(n), shape=np.full(n, "0402"), volume_pct=np.array([150.0, 100.0, 100.0]),
        height_um=np.full(n, 120.0), area_pct=np.full(n, 100.0),
    )  # fmt: skip
    return BoardInspection(f"E-{index}", "L1", "P1", "SPI", "R1", board_id or f"B{index}", index, T0, pads)


def scored(b: BoardInspection) -> BoardScores:
    s = ((b.pads.volume_pct - 100.0) / 10.0).astype(np.float32)
    return BoardScores(b, s, alarms(s, TH), "m1", "crrn", TH)


def record(b: BoardInspection) -> BoardRecord:
    return BoardRecord(b, SourceRef("in", 0, b.print_index), "scored", scored(b))


def test_nul_in_text_is_refused_as_content(engine: Engine) -> None:
    writer = ResultWriter(engine)
    with pytest.raises(PermanentStoreError, match="NUL"):
        writer.write(ResultBatch(boards=[record(board(1, "B\x001"))]))
    with pytest.raises(PermanentStoreError, match="NUL"):
        writer.stored_event_ids(["E-\x00"])


def test_a_violated_constraint_is_refused_as_content_and_nothing_is_stored(engine: Engine) -> None:
    writer = ResultWriter(engine)
    good = record(board(1))
    s = scored(good.board)
    message = PadAlarm.for_board(good.board, s.score, TH, "m1", s.alarm)
    assert message is not None
    wrong_kind = dataclasses.replace(message.pads[0], kind="sideways")  # type: ignore[arg-type]
    broken = dataclasses.replace(message, pads=(wrong_kind,))
    published: list[str] = []
    with pytest.raises(PermanentStoreError, match="CheckViolation"):
        writer.write(ResultBatch(boards=[good], alarms=[broken]), before_commit=lambda: published.append("x"))
    assert published == []  # refused before the publish step
    assert writer.stored_event_ids(["E-1"]) == set()


def test_an_unreachable_database_is_a_transient_error(fresh_database: Any) -> None:
    port = pick_port(1)  # nothing listens there
    url = fresh_database.writer.replace(f":{make_engine(fresh_database.writer).url.port}/", f":{port}/")
    writer = ResultWriter(make_engine(url, connect_args={"connect_timeout": 2}))
    with pytest.raises(OperationalError, match="connect"):  # not PermanentStoreError: retried, not dropped
        writer.write(ResultBatch(boards=[record(board(1))]))


def test_processor_stores_the_rest_and_dead_letters_the_refused_board(engine: Engine) -> None:
    from crrn.windowing import PrinterWindower

    boards = [board(i) for i in range(1, 6)]
    boards[2] = board(3, "B\x003")
    windower = PrinterWindower(5)
    jobs = []
    for b in boards:
        pushed = windower.push(b)
        if pushed.window is not None:
            sources = tuple(SourceRef("in", 0, x.print_index) for x in pushed.window.new_boards)
            jobs.append(BoardJob("in", 0, 1, 4, pushed.window, sources))

    class Scorer:
        def score_windows(self, windows: Any) -> list[BoardScores]:
            return [scored(x) for w in windows for x in w.new_boards]

    published: list[tuple[str, bytes, bytes]] = []
    processor = BatchProcessor(
        type("M", (), {"scorer": Scorer(), "defect_policy": None})(),
        ResultWriter(engine),
        published.extend,
        OutputTopics("alarms", "defects", "dlq"),
        is_current=lambda job: True,
    )
    processor.process(jobs)
    with engine.connect() as conn:
        stored = sorted(r[0] for r in conn.execute(text("SELECT event_id FROM board_inspections")))
        n_alarms = conn.execute(text("SELECT count(*) FROM pad_alarms")).scalar_one()
    assert stored == ["E-1", "E-2", "E-4", "E-5"]
    assert n_alarms == 4
    (dead,) = [json.loads(v) for t, _, v in published if t == "dlq"]
    assert (dead["source_offset"], dead["source_partition"]) == (3, 0)
    assert "NUL" in dead["problem"]
    assert sorted(json.loads(v)["event_id"] for t, _, v in published if t == "alarms") == stored
