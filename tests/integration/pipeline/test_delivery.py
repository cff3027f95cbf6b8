"""Delivery guarantee on the real broker and database: after kill -9 mid-stream and a restart, every board
ends in PostgreSQL exactly once, with the alarms offline scoring gives."""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import text

from tests.integration.pipeline.conftest import Pipeline, fleet, offline_alarms, stored_alarms, wait_for

pytestmark = pytest.mark.integration


def assert_exactly_once(pipeline: Pipeline, sent: list[str]) -> None:
    with pipeline.engine.connect() as conn:
        rows = [r.event_id for r in conn.execute(text("SELECT event_id FROM board_inspections"))]
        maps = conn.execute(text("SELECT count(*) FROM anomaly_maps")).scalar_one()
    assert len(rows) == len(set(rows)) == len(sent)
    assert set(rows) == set(sent)
    assert maps == len(sent)


def checkpoints(pipeline: Pipeline) -> int:
    with pipeline.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM stream_checkpoints")).scalar_one())


def test_kill_9_mid_stream_then_restart(pipeline: Pipeline) -> None:
    boards = fleet(printers=2, boards=60, first_print_index=1)
    # The kill lands while the stream is still going however fast this machine is: the second part of
    # the stream is only published after the kill, so windows must be rebuilt to score it like offline.
    before_kill, after_kill = boards[:70], boards[70:]
    pipeline.publish(before_kill)
    first = pipeline.start_worker("first")
    pipeline.wait_rows(10)
    wait_for(lambda: checkpoints(pipeline) > 0, 30, "no window checkpoint stored")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert len(pipeline.stored()) <= len(before_kill)

    pipeline.publish(after_kill)
    second = pipeline.start_worker("second")
    pipeline.wait_rows(len(boards))
    assert second.poll() is None
    assert "restored at offset" in pipeline.log_text("second")  # windows came from the checkpoint
    assert_exactly_once(pipeline, [b.event_id for b in boards])
    assert {s for _, s in pipeline.stored()} == {"scored"}

    # Windows rebuilt from the log after the kill give the same alarms as offline scoring.
    _, expected = offline_alarms(boards, pipeline.model)
    assert stored_alarms(pipeline.engine) == expected
