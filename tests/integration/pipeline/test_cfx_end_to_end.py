"""Issue 13's CFX "Done when" on the real RabbitMQ, Kafka and PostgreSQL: a printer's boards published as CFX
UnitsInspected messages -> `ingest cfx` -> the worker scores every board and diagnoses the defect episode
-> `cfx-publish` delivers FaultOccurred (and FaultCleared) for the defective printer to the MES address."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from schemas.cfx import CfxContext, board_to_units_inspected
from streams.cfx_publish import CfxAddresses, run_cfx_publish
from streams.ingest.amqp import connect
from streams.ingest.cfx_in import run_cfx_ingest
from tests.integration.pipeline.conftest import (
    Pipeline,
    fleet,
    stored_defect_events,
    wait_for,
    with_excess_episode,
)

pytestmark = pytest.mark.integration


def test_cfx_boards_scored_and_fault_occurred_for_the_defective_printer(
    pipeline: Pipeline, diagnosed_model: Path, amqp_url: str
) -> None:
    from proton import Message

    pipeline.model = diagnosed_model
    boards = with_excess_episode(fleet(printers=1, boards=40, first_print_index=1), {"P01": (12, 28)})
    tag = uuid.uuid4().hex[:8]
    inspected, faults = f"/queue/test.{tag}.inspected", f"/queue/test.{tag}.faults"
    conn = connect(amqp_url)
    try:
        sender = conn.create_sender(inspected)
        for b in boards:
            body = json.dumps(board_to_units_inspected(b, "SPI-L01")).encode()
            sender.send(Message(body=body, content_type="application/json", durable=True))
    finally:
        conn.close()

    stats = run_cfx_ingest(pipeline.settings, amqp_url, inspected, CfxContext("P01", "L01"), max_messages=40)
    assert (stats.boards, stats.dead_letters) == (40, 0)
    pipeline.start_worker("w1")
    pipeline.wait_rows(len(boards))
    assert {s for _, s in pipeline.stored()} == {"scored"}
    wait_for(lambda: len(stored_defect_events(pipeline.engine)) >= 1, 60, "no defect raised")
    events = stored_defect_events(pipeline.engine)
    assert events[0][1:3] == ("P01", "raised")

    out = run_cfx_publish(
        pipeline.settings, pipeline.engine, amqp_url, CfxAddresses(faults, f"/queue/test.{tag}.acks"),
        group_id=f"g-{tag}", idle_exit_s=3,
    )  # fmt: skip
    assert out.faults == len(events)
    conn = connect(amqp_url)
    try:
        receiver = conn.create_receiver(faults)
        message = receiver.receive(timeout=20)  # keep it alive: a Data body is a view into proton's buffer
        first = json.loads(bytes(message.body))
        receiver.accept()
    finally:
        conn.close()
    assert first["MessageName"] == "CFX.ResourcePerformance.FaultOccurred"
    fault = first["MessageBody"]["Fault"]
    assert (fault["PrinterId"], fault["FaultCode"]) == ("P01", "SPICRRN.squeegee_blade")
    assert fault["FaultOccurrenceId"] == events[0][0]
