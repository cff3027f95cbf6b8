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


def test_services_up_with_amqp_writes_its_url_and_down_stops_it(
    tmp_path: Path, kafka_bootstrap: str, database_urls: object
) -> None:
    """`services up --with-amqp` with Kafka and PostgreSQL given by the environment starts only RabbitMQ."""
    from streams.services.manager import down, status, up
    from streams.settings import read_env_file

    paths = StatePaths(tmp_path / "state")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_urls.writer,  # type: ignore[attr-defined]
        "DATABASE_ADMIN_URL": database_urls.admin,  # type: ignore[attr-defined]
    }
    lines: list[str] = []
    endpoints = up(paths, environ=env, say=lines.append, create_topics=False, with_amqp=True)
    try:
        assert endpoints.amqp_url.startswith("amqp://guest:guest@127.0.0.1:")
        assert read_env_file(paths.env_file)["AMQP_URL"] == endpoints.amqp_url
        assert any(line.startswith("AMQP 1.0: amqp://guest:***@127.0.0.1:") for line in lines)
        (amqp,) = [s for s in status(paths, environ=env) if s.name == "amqp"]
        assert (amqp.state, amqp.version[:11]) == ("running", "RabbitMQ 3.")
    finally:
        down(paths, say=lines.append)
    assert any(line.startswith("RabbitMQ: stopped") or line.startswith("RabbitMQ: killed") for line in lines)
    (amqp,) = [s for s in status(paths, environ=env) if s.name == "amqp"]
    assert amqp.state == "stopped"
