"""The defect policy's state across BatchProcessor instances on the real PostgreSQL (no broker): a worker
that restarts, or a partition that moves to another worker and back, diagnoses like one that never stopped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, text

from crrn.diagnosis.policy import DefectPolicy
from crrn.model_file import ModelBundle
from crrn.scoring import Scorer
from crrn.windowing import PrinterWindower
from schemas.inspection import BoardInspection
from streams.db.engine import make_engine
from streams.db.writer import ResultWriter
from streams.pipeline.jobs import BoardJob
from streams.pipeline.processor import BatchProcessor, OutputTopics
from streams.pipeline.records import SourceRef
from tests.integration.pipeline.conftest import (
    fleet,
    offline_alarms,
    offline_defect_events,
    stored_alarms,
    stored_defect_events,
    with_excess_episode,
)

pytestmark = pytest.mark.integration

EPISODES = {"P01": (20, 40), "P02": (25, 45)}


@pytest.fixture
def engine(fresh_database: Any) -> Iterator[Engine]:
    engine = make_engine(fresh_database.writer)
    yield engine
    engine.dispose()


def jobs_for(boards: list[BoardInspection], window: int) -> list[BoardJob]:
    """The jobs the stream makes of `boards` (hop 1; record offsets are the boards' positions)."""
    windowers: dict[str, PrinterWindower] = {}
    jobs = []
    for offset, board in enumerate(boards):
        pushed = windowers.setdefault(board.printer_id, PrinterWindower(window)).push(board)
        assert pushed.status in ("buffered", "window")
        if pushed.window is not None:
            sources = tuple(SourceRef("in", 0, offset) for _ in pushed.window.new_boards)
            jobs.append(BoardJob("in", 0, 0, offset, pushed.window, sources))
    return jobs


def make_processor(engine: Engine, model: Path, published: list[tuple[str, bytes, bytes]]) -> BatchProcessor:
    """A new worker's processor: a fresh policy with nothing in memory."""
    bundle = ModelBundle.load(model)
    models = SimpleNamespace(
        scorer=Scorer(bundle, device="cpu"),
        defect_policy=DefectPolicy.from_model(model, bundle),
        evidence=bundle.evidence_tracker("crrn"),
    )
    return BatchProcessor(
        models,  # type: ignore[arg-type]
        ResultWriter(engine),
        published.extend,
        OutputTopics(alarms="alarms", defects="defects"),
        is_current=lambda job: True,
    )


def run(processor: BatchProcessor, jobs: list[BoardJob]) -> None:
    for i in range(0, len(jobs), 8):
        processor.process(jobs[i : i + 8])


def test_policy_state_follows_the_boards_across_processors(engine: Engine, diagnosed_model: Path) -> None:
    boards = with_excess_episode(fleet(printers=2, boards=60, first_print_index=1), EPISODES)
    bundle = ModelBundle.load(diagnosed_model)
    expected = offline_defect_events(boards, diagnosed_model)
    assert [(p, s) for _, p, s, _, _ in expected] == [
        ("P01", "raised"),
        ("P01", "cleared"),
        ("P02", "raised"),
        ("P02", "cleared"),
    ]

    jobs = jobs_for(boards, bundle.window_length)
    newest = [max(b.print_index for b in j.window.new_boards) for j in jobs if j.window is not None]
    mid = newest.index(33)  # both episodes raised (at boards 22 and 28), none cleared
    late = newest.index(47)  # P01 cleared (at 44), P02 not yet (at 49)
    published: list[tuple[str, bytes, bytes]] = []
    first = make_processor(engine, diagnosed_model, published)
    run(first, jobs[:mid])
    assert [s for _, _, s, _, _ in stored_defect_events(engine)] == ["raised", "raised"]

    # kill -9 and restart: the new process replays the jobs after the last commit (here: the last 10,
    # already stored) and goes on; its policy starts empty and must continue from PostgreSQL.
    second = make_processor(engine, diagnosed_model, published)
    run(second, jobs[mid - 10 : late])
    # the partition moves back to the first worker, whose memory is now stale
    run(first, jobs[late:])

    assert stored_defect_events(engine) == expected
    keys = [json.loads(value)["event_key"] for topic, _, value in published if topic == "defects"]
    assert sorted(keys) == sorted(e[0] for e in expected)  # each once: replayed boards are skipped
    with engine.connect() as conn:
        states = conn.execute(
            text("SELECT printer_id, model_version, last_print_index FROM diagnosis_state ORDER BY 1")
        ).all()
    assert [tuple(r) for r in states] == [("P01", bundle.version, 60), ("P02", bundle.version, 60)]

    # the process-alarm evidence followed the boards the same way: the stored alarms, of both kinds,
    # are those of one uninterrupted offline run
    assert bundle.evidence_tracker("crrn") is not None
    _, expected_alarms = offline_alarms(boards, diagnosed_model)
    stored = stored_alarms(engine)
    with engine.connect() as conn:
        evidence = conn.execute(
            text("SELECT printer_id, last_print_index FROM alarm_evidence_state ORDER BY 1")
        ).all()
    assert stored == expected_alarms
    assert [tuple(r) for r in evidence] == [("P01", 60), ("P02", 60)]
