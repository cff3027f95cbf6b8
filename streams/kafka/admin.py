"""Topic administration: create the system's topics idempotently, and describe the cluster."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from streams.kafka.connection import client_options
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: str
    broker_count: int
    controller_id: int


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The four topics of the system. Inspections, alarms and dead letters accept records up to
    KAFKA_MAX_MESSAGE_BYTES (16 MiB by default): a large board's JSON, the alarm message of a board with
    many alarmed pads (~210 bytes each), its dead letter -- also on a broker whose own limit is Kafka's
    default 1 MB. (Topics that exist already keep their configuration.)"""
    large = {"max.message.bytes": str(settings.kafka_max_message_bytes)}
    return [
        TopicSpec(settings.topic_inspections, settings.topic_partitions, large),
        TopicSpec(settings.topic_alarms, settings.topic_partitions, large),
        TopicSpec(settings.topic_defects, settings.topic_partitions, {}),
        TopicSpec(settings.topic_dlq, settings.topic_partitions, large),
    ]


async def ensure_topics_async(settings: Settings) -> list[str]:
    """Create the missing topics; returns the names created (empty when all existed)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        cluster = await admin.describe_cluster()
        replication = max(1, min(3, len(cluster["brokers"])))
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        created: list[str] = []
        for spec in missing:
            topic = NewTopic(spec.name, spec.partitions, replication, topic_configs=spec.config)
            response = await admin.create_topics([topic])
            for name, code, *message in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"creating topic {name!r} failed: Kafka error {code} {message}")
            created.append(spec.name)
        return created
    finally:
        await admin.close()


def ensure_topics(settings: Settings) -> list[str]:
    """Create spi.inspections, spi.alarms, spi.defects and spi.inspections.dlq when missing (idempotent)."""
    created = asyncio.run(ensure_topics_async(settings))
    for name in created:
        log.info("created topic %s", name)
    return created


async def describe_cluster_async(options: dict[str, Any], timeout_s: float) -> ClusterInfo:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(request_timeout_ms=int(timeout_s * 1000), **options)
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        info = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    finally:
        await admin.close()
    return ClusterInfo(str(info["cluster_id"]), len(info["brokers"]), int(info["controller_id"]))


def describe_cluster(servers: str, timeout_s: float = 10.0, settings: Settings | None = None) -> ClusterInfo:
    """Cluster id and broker count from `servers` (raises when no broker answers in time)."""
    options = client_options(settings) if settings else {"bootstrap_servers": servers}
    options["bootstrap_servers"] = servers
    return asyncio.run(describe_cluster_async(options, timeout_s))
