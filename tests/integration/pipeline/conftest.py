"""Fixtures of the pipeline tests: a tiny model (seconds to train), private topics, worker subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from crrn.sim.fleet import FleetSpec, simulate_fleet
from crrn.sim.truth import GroundTruth
from schemas.inspection import BoardInspection
from streams.settings import Settings

RECIPE_SEED = 1  # the simulator's recipe depends on the seed: train and stream with the same one
PADS = 200
WINDOW = 5


def fleet_with_truth(
    printers: int, boards: int, first_print_index: int, inject_ratio: float = 0.0
) -> list[tuple[BoardInspection, GroundTruth]]:
    """Boards of the tiny recipe and their ground truth; `first_print_index` keeps event ids apart."""
    spec = FleetSpec(
        printers=printers,
        pads=PADS,
        boards_per_printer=boards,
        first_print_index=first_print_index,
        inject_ratio=inject_ratio,
    )
    return list(simulate_fleet(spec, seed=RECIPE_SEED))


def fleet(printers: int, boards: int, first_print_index: int) -> list[BoardInspection]:
    return [b for b, _ in fleet_with_truth(printers, boards, first_print_index)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CPU model of the 200-pad recipe, T=5, trained for 2 epochs (a few seconds)."""
    import torch

    from crrn.train_bundle import TrainOptions, train_bundle

    torch.set_num_threads(1)
    bundle = train_bundle(
        fleet(2, 60, 1), TrainOptions(window=WINDOW, epochs=2, max_minutes=1.0, device="cpu")
    )
    return bundle.save(tmp_path_factory.mktemp("model") / "tiny.pt")


@dataclass
class Pipeline:
    """Private topics and consumer group on the shared broker, one migrated database."""

    settings: Settings
    engine: Engine
    model: Path
    logs: Path
    workers: list[subprocess.Popen[bytes]]

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
            "DATABASE_URL": s.database_url,
            "TOPIC_INSPECTIONS": s.topic_inspections,
            "TOPIC_ALARMS": s.topic_alarms,
            "TOPIC_DEFECTS": s.topic_defects,
            "TOPIC_DLQ": s.topic_dlq,
            "TOPIC_PARTITIONS": str(s.topic_partitions),
            "WORKER_ID": s.worker_id,
        }

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        cmd = [
            sys.executable, "-c", "from streams.cli.main import main; main()",
            "worker", "--model", str(self.model), "--threads", "1", "--device", "cpu", "--max-batch", "8",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_assigned(self, name: str, timeout_s: float = 90.0) -> None:
        wait_for(lambda: "partitions assigned: " in self.log_text(name), timeout_s, f"{name} never joined")

    def publish(self, boards: list[BoardInspection]) -> None:
        from streams.kafka.publish import publish_boards

        asyncio.run(publish_boards(self.settings, boards))

    def publish_raw(self, values: list[bytes], key: bytes) -> None:
        from aiokafka import AIOKafkaProducer

        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all")
            await producer.start()
            try:
                for value in values:
                    await producer.send_and_wait(self.settings.topic_inspections, value, key=key)
            finally:
                await producer.stop()

        asyncio.run(send())

    def stored(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [
                (r.event_id, r.status)
                for r in conn.execute(text("SELECT event_id, status FROM board_inspections"))
            ]

    def wait_rows(self, n: int, timeout_s: float = 180.0) -> None:
        wait_for(lambda: len(self.stored()) >= n, timeout_s, f"fewer than {n} boards in PostgreSQL")


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s: {what}")


def read_topic(settings: Settings, topic: str) -> list[tuple[int, int, bytes | None, bytes]]:
    """Every record of `topic`: (partition, offset, key, value)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> list[tuple[int, int, bytes | None, bytes]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
            consumer.assign(parts)
            start = await consumer.beginning_offsets(parts)
            end = await consumer.end_offsets(parts)
            # Explicit seeks: seek_to_beginning() is lazy, and position() could see the "latest" reset.
            for tp in parts:
                consumer.seek(tp, start[tp])
            out: list[tuple[int, int, bytes | None, bytes]] = []
            while any([await consumer.position(tp) < end[tp] for tp in parts]):
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    out.extend((r.partition, r.offset, r.key, r.value) for r in records)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(read())


@pytest.fixture
def pipeline(
    settings: Settings, fresh_database: object, tiny_model: Path, tmp_path: Path
) -> Iterator[Pipeline]:
    from streams.db.engine import make_engine
    from streams.kafka.admin import ensure_topics

    urls = fresh_database
    run = uuid.uuid4().hex[:8]
    s = settings.with_(
        database_url=urls.writer,  # type: ignore[attr-defined]
        topic_inspections=f"t-{run}.inspections",
        topic_alarms=f"t-{run}.alarms",
        topic_defects=f"t-{run}.defects",
        topic_dlq=f"t-{run}.dlq",
        topic_partitions=4,
        worker_id=f"t-{run}-workers",
    )
    ensure_topics(s)
    engine = make_engine(s.database_url)
    p = Pipeline(s, engine, tiny_model, tmp_path, [])
    try:
        yield p
    finally:
        for proc in p.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        engine.dispose()
