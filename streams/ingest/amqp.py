"""AMQP 1.0 plumbing shared by `ingest cfx` and `cfx-publish`: connect (python-qpid-proton), body bytes, and
one asyncio loop that runs the Kafka side from the blocking AMQP loop."""

from __future__ import annotations

import asyncio
from typing import Any


def connect(url: str, timeout_s: float = 30.0) -> Any:
    """A blocking AMQP 1.0 connection (SASL PLAIN with the URL's user, else ANONYMOUS)."""
    from proton.utils import BlockingConnection

    return BlockingConnection(url, timeout=timeout_s, allowed_mechs="PLAIN ANONYMOUS")


def body_bytes(body: Any) -> bytes:
    """The message body as bytes, for dead letters (Data sections are bytes, AmqpValue strings are text)."""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return repr(body).encode("utf-8")


class KafkaSide:
    """An aiokafka producer driven from synchronous code: `send_all` returns once the broker has every record
    (acks=all), so the caller may then settle the AMQP delivery."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.producer: Any = None

    def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        from streams.kafka.connection import client_options

        async def go() -> Any:
            producer = AIOKafkaProducer(
                **client_options(self.settings), acks="all", enable_idempotence=True,
                compression_type="gzip", max_request_size=self.settings.kafka_max_message_bytes, linger_ms=2,
            )  # fmt: skip
            await producer.start()
            return producer

        self.producer = self.loop.run_until_complete(go())

    def send_all(self, records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]) -> None:
        """(topic, key, value, headers) records, all acknowledged by the broker before this returns."""

        async def go() -> None:
            futures = [await self.producer.send(t, v, key=k, headers=h) for t, k, v, h in records]
            await asyncio.gather(*futures)

        self.loop.run_until_complete(go())

    def stop(self) -> None:
        if self.producer is not None:
            self.loop.run_until_complete(self.producer.stop())
            self.producer = None
        self.loop.close()
