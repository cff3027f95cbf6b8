"""`spi-crrn tail` on the real broker: prints the records of a topic, and refuses a missing topic."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from streams.cli.main import main
from streams.settings import Settings

pytestmark = pytest.mark.integration


def test_tail_prints_records_from_the_beginning(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiokafka import AIOKafkaProducer

    from streams.kafka.admin import ensure_topics

    run = uuid.uuid4().hex[:8]
    s = settings.with_(topic_alarms=f"t-{run}.alarms", topic_partitions=2)
    ensure_topics(s)

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(s.topic_alarms, b'{"n": 1}', key=b"P1")
            await producer.send_and_wait(s.topic_alarms, b'{"n": 2}', key=b"P1")
        finally:
            await producer.stop()

    asyncio.run(send())
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", s.kafka_bootstrap_servers)
    with pytest.raises(SystemExit) as done:
        main(["tail", s.topic_alarms, "--from-beginning", "--max", "2", "--timeout-s", "20"])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 2)[1:] for line in lines] == [["key=P1", '{"n": 1}'], ["key=P1", '{"n": 2}']]


def test_tail_refuses_a_missing_topic(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
    with pytest.raises(SystemExit) as done:
        main(["tail", f"missing-{uuid.uuid4().hex[:8]}", "--timeout-s", "2"])
    assert done.value.code == 2
