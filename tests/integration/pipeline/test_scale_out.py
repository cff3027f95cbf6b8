"""Scale-out on the real broker and database: two workers in one consumer group split the partitions
(printers); when one is killed with -9 the other takes its partitions over, continues their windows and
no board is lost or stored twice."""

from __future__ import annotations

import re
import signal

import pytest

from tests.integration.pipeline.conftest import Pipeline, fleet, wait_for
from tests.integration.pipeline.test_delivery import assert_exactly_once

pytestmark = pytest.mark.integration


def assigned_partitions(log: str, topic: str) -> list[set[int]]:
    """Every assignment the worker logged for `topic`, in order."""
    found = re.findall(rf"partitions assigned: {re.escape(topic)} \[([0-9, ]*)\]", log)
    return [{int(p) for p in group.split(",") if p.strip()} for group in found]


def test_two_workers_split_printers_and_survive_a_kill(pipeline: Pipeline) -> None:
    topic = pipeline.settings.topic_inspections
    boards = fleet(printers=4, boards=40, first_print_index=1001)
    a = pipeline.start_worker("a")
    pipeline.wait_assigned("a")
    pipeline.start_worker("b")
    wait_for(
        lambda: any(assigned_partitions(pipeline.log_text("b"), topic)[-1:]),
        90,
        "worker b never got a partition",
    )
    wait_for(
        lambda: any(assigned_partitions(pipeline.log_text("a"), topic)[-1:]), 60, "a lost every partition"
    )
    split_a = assigned_partitions(pipeline.log_text("a"), topic)[-1]
    split_b = assigned_partitions(pipeline.log_text("b"), topic)[-1]
    assert split_a
    assert split_b
    assert not split_a & split_b

    # three quarters of every printer's boards before the kill, the rest after it: a's printers always
    # have boards left for b (all 160 at once were sometimes all stored before the kill landed)
    before = [b for b in boards if b.print_index < 1031]
    after = [b for b in boards if b.print_index >= 1031]
    assert len(before) == 120
    pipeline.publish(before)
    pipeline.wait_rows(20)
    a.send_signal(signal.SIGKILL)
    a.wait(10)
    pipeline.publish(after)
    wait_for(
        lambda: assigned_partitions(pipeline.log_text("b"), topic)[-1] == {0, 1, 2, 3},
        90,
        "worker b never took over all partitions",
    )
    pipeline.wait_rows(len(boards))
    assert_exactly_once(pipeline, [b.event_id for b in boards])
