"""Local Kafka configuration rendering and cluster ids (no broker started)."""

from __future__ import annotations

import base64
from pathlib import Path

from streams.services.kafka_local import KafkaPorts, kafka_version, new_cluster_id, render_server_properties


def _parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_single_node_kraft_properties() -> None:
    props = _parse(render_server_properties(KafkaPorts(19092, 19093), Path("/tmp/k")))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert "controller.quorum.voters" not in props  # incompatible with `format --standalone`
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["message.max.bytes"]) == 16 * 1024 * 1024
    assert int(props["replica.fetch.max.bytes"]) >= int(props["message.max.bytes"])


def test_cluster_id_is_16_bytes_url_safe_base64() -> None:
    cid = new_cluster_id()
    assert len(cid) == 22
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16
    assert new_cluster_id() != cid


def test_kafka_version_comes_from_pom() -> None:
    major = int(kafka_version().split(".")[0])
    assert major >= 4


def test_broker_message_limit_follows_the_setting() -> None:
    props = _parse(render_server_properties(KafkaPorts(19092, 19093), Path("/tmp/k"), 32 * 2**20))
    assert int(props["message.max.bytes"]) == 32 * 2**20
    assert int(props["replica.fetch.max.bytes"]) == 32 * 2**20
    assert int(props["socket.request.max.bytes"]) >= int(props["message.max.bytes"])
