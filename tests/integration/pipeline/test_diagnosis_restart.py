"""Defect diagnosis across kill -9 on the real broker and database: a defect episode that spans a crash of
the worker gives exactly the events (same event_keys, one "raised") of a run without the crash."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.pipeline.conftest import (
    Pipeline,
    fleet,
    offline_defect_events,
    read_topic,
    stored_defect_events,
    wait_for,
    with_excess_episode,
)

pytestmark = pytest.mark.integration


def test_kill_9_mid_defect_episode_then_restart(pipeline: Pipeline, diagnosed_model: Path) -> None:
    pipeline.model = diagnosed_model
    boards = with_excess_episode(
        fleet(printers=2, boards=60, first_print_index=1), {"P01": (20, 40), "P02": (25, 45)}
    )
    expected = offline_defect_events(boards, diagnosed_model)
    assert [(p, s) for _, p, s, _, _ in expected] == [
        ("P01", "raised"), ("P01", "cleared"), ("P02", "raised"), ("P02", "cleared"),
    ]  # fmt: skip

    # Both episodes are raised (at boards 22 and 28) before the kill and go on after it.
    pipeline.publish([b for b in boards if b.print_index <= 33])
    first = pipeline.start_worker("first")
    wait_for(lambda: len(stored_defect_events(pipeline.engine)) >= 2, 180, "no defect raised before the kill")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert [s for _, _, s, _, _ in stored_defect_events(pipeline.engine)] == ["raised", "raised"]

    pipeline.publish([b for b in boards if b.print_index > 33])
    second = pipeline.start_worker("second")
    pipeline.wait_rows(len(boards))
    assert second.poll() is None

    assert stored_defect_events(pipeline.engine) == expected
    # On the topic an event may repeat (a kill between publish and write), but always with its key.
    published = [
        json.loads(v) for _, _, _, v in read_topic(pipeline.settings, pipeline.settings.topic_defects)
    ]
    assert {e["event_key"] for e in published} == {e[0] for e in expected}
    with pipeline.engine.connect() as conn:
        last = conn.execute(text("SELECT printer_id, last_print_index FROM diagnosis_state ORDER BY 1")).all()
    assert [tuple(r) for r in last] == [("P01", 60), ("P02", 60)]
