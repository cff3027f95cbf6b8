"""The AMQP 1.0 broker of issue 13 on the real thing: the session broker round-trips a message over AMQP 1.0
(python-qpid-proton), and a LocalRabbitMQ in its own state folder starts, reports its version and stops."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from streams.services.paths import StatePaths
from streams.services.rabbitmq_local import LocalRabbitMQ, amqp10_answers

pytestmark = pytest.mark.integration


def test_message_round_trip_over_amqp10(amqp_url: str) -> None:
    from proton import Message
    from proton.utils import BlockingConnection

    address = f"/queue/test.{uuid.uuid4().hex[:8]}"
    conn = BlockingConnection(amqp_url, timeout=20, allowed_mechs="PLAIN ANONYMOUS")
    try:
        conn.create_sender(address).send(Message(body='{"x": 1}', subject="CFX.Test", properties={"k": "v"}))
        receiver = conn.create_receiver(address)
        got = receiver.receive(timeout=10)
        receiver.accept()
    finally:
        conn.close()
    assert (got.body, got.subject, got.properties) == ('{"x": 1}', "CFX.Test", {"k": "v"})


def test_local_node_starts_in_its_own_folder_and_stops(tmp_path: Path) -> None:
    rabbit = LocalRabbitMQ(StatePaths(tmp_path / "state"))
    url = rabbit.start()
    try:
        port = rabbit.port()
        assert port is not None
        assert url == f"amqp://guest:guest@127.0.0.1:{port}"
        assert amqp10_answers("127.0.0.1", port)
        assert rabbit.running_version().startswith("RabbitMQ 3.")
        assert rabbit.start() == url  # idempotent: the running node is reused
    finally:
        assert rabbit.stop() in ("stopped", "killed")
    assert rabbit.pid() is None
    assert not amqp10_answers("127.0.0.1", port)
