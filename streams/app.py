"""The Faust adapter: Kafka records in, the pipeline core's actions carried out, offsets committed.

Everything that decides lives in the pure core (streams/pipeline/, whose core.py docstring is the way of
a board from top to bottom, with the commit order); this module only moves bytes between Faust and it:
the agent hands each record to `PipelineCore.offer` and performs the returned action, a timer runs
`PipelineCore.commit` every second with the PostgreSQL checkpoint store and the consumer's commit, and
the rebalance hooks commit and then revoke.

The input topic is consumed with Faust's acking turned off (`acks=False`), so Faust never commits it.
Faust's own ack tracking was not used: its commit of the "highest contiguous acked offset" trusts the
first acked offset when the partition has no committed offset yet (faust/transport/consumer.py
`_new_offset`: `if committed_offset:` skips the gap check for None and 0), and messages skipped after a
rebalance are acked by the stream itself, so holding acks could commit past an unprocessed board.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Mapping
from typing import Any

import faust
from faust.types import TP

from schemas.validation import Limits
from streams.kafka.connection import MAX_MESSAGE_BYTES
from streams.model_source import ModelSource
from streams.pipeline.checkpoint import Checkpoint
from streams.pipeline.core import PipelineCore, Score, SendDeadLetter
from streams.pipeline.executor import BatchExecutor
from streams.pipeline.jobs import BoardJob, DefectPolicy
from streams.pipeline.ports import CheckpointStore, ResultStore
from streams.pipeline.processor import BatchProcessor, OutputTopics
from streams.pipeline.records import Record, TopicPartition
from streams.settings import Settings

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 1.0


def broker_credentials(settings: Settings) -> Any:
    """Faust credentials for SASL / TLS (None for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        ssl_context = create_ssl_context(cafile=settings.kafka_ssl_cafile or None)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ssl_context,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


def build_faust_app(settings: Settings, datadir: str | None = None) -> faust.App:
    """The Faust app: the consumer group is `settings.worker_id`; no web server, no tables."""
    return faust.App(
        settings.worker_id,
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings),
        store="memory://",
        datadir=datadir or tempfile.mkdtemp(prefix="spi-crrn-faust-"),
        autodiscover=False,
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.topic_partitions,
        # Field notes: first group join ~7 s instead of ~30 s with these.
        broker_session_timeout=10,
        broker_rebalance_timeout=10,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        # Boards are up to 16 MiB of JSON.
        consumer_max_fetch_size=2 * MAX_MESSAGE_BYTES,
        producer_max_request_size=MAX_MESSAGE_BYTES,
        broker_max_poll_records=64,
        stream_buffer_maxsize=64,
        stream_wait_empty=False,
        producer_acks=-1,
    )


class PipelineWorker:
    """One worker process: the Faust app and agent around the pipeline core, the inference thread and the
    committer."""

    def __init__(
        self,
        settings: Settings,
        models: ModelSource,
        store: ResultStore,
        checkpoints: CheckpointStore,
        defect_policy: DefectPolicy | None = None,
        max_batch: int = 32,
        max_in_flight: int = 128,
        model_poll_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.models = models
        self.checkpoints = checkpoints
        self.core = PipelineCore(models.window_length, models.window_hop, Limits(max_pads=settings.max_pads))
        self.app = build_faust_app(settings)
        self.inspections = self.app.topic(
            settings.topic_inspections,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            acks=False,  # offsets are committed by the core's commit order, never by Faust
        )
        self.processor = BatchProcessor(
            models,
            store,
            self._publish_from_thread,
            OutputTopics(alarms=settings.topic_alarms, defects=settings.topic_defects),
            self.core.is_current,
            defect_policy,
        )
        self.executor: BatchExecutor[BoardJob] = BatchExecutor(
            self.processor.process,
            self.core.jobs_done,
            max_batch=max_batch,
            max_in_flight=max_in_flight,
            tick=self.models.refresh,
            tick_interval_s=model_poll_s,
        )
        self.app.agent(self.inspections, name="spi-crrn-ingest")(self._ingest)
        self.app.timer(COMMIT_INTERVAL_S)(self._commit_tick)
        self.app.task(self._start_executor)
        self.app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        self.app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        self.app.on_before_shutdown.connect(self._on_shutdown)  # type: ignore[arg-type]

    @property
    def dead_letters(self) -> int:
        return self.core.dead_letters

    # ------------------------------------------------------------------ lifecycle
    async def _start_executor(self) -> None:
        self.executor.start(asyncio.get_running_loop())

    async def _on_shutdown(self, app: Any, **kwargs: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.executor.stop)

    def run(self) -> None:
        """Run until SIGINT/SIGTERM (programmatic Faust worker, not the faust CLI)."""
        from faust.worker import Worker

        worker = Worker(self.app, loglevel="INFO", quiet=True, redirect_stdouts=False)
        worker.execute_from_commandline()

    # ------------------------------------------------------------------ the agent: one record at a time
    async def _ingest(self, stream: Any) -> None:
        async for event in stream.events():
            await self.handle(event.message)

    async def handle(self, message: Any) -> None:
        """Hand one Kafka record to the core and carry out what it says."""
        record = Record(
            message.tp.topic,
            message.tp.partition,
            message.offset,
            message.key,
            message.value if message.value is not None else b"",
        )
        if self.core.needs_checkpoint(record):
            loop = asyncio.get_running_loop()
            checkpoint = await loop.run_in_executor(
                None, self.checkpoints.load, record.topic, record.partition
            )
            self.core.restore(record.tp, checkpoint)
        action = self.core.offer(record)
        if isinstance(action, Score):
            await self.executor.submit(action.job)
        elif isinstance(action, SendDeadLetter):
            await self.app.producer.send_and_wait(
                self.settings.topic_dlq,
                action.key,
                action.letter.to_json(),
                partition=None,
                timestamp=None,
                headers=None,
            )
            self.core.dead_lettered(action.source)

    # ------------------------------------------------------------------ publishing (inference thread)
    def _publish_from_thread(self, records: list[tuple[str, bytes, bytes]]) -> None:
        future = asyncio.run_coroutine_threadsafe(self._send_all(records), self.app.loop)
        future.result(timeout=120)

    async def _send_all(self, records: list[tuple[str, bytes, bytes]]) -> None:
        producer = self.app.producer
        pending = [
            await producer.send(topic, key, value, partition=None, timestamp=None, headers=None)
            for topic, key, value in records
        ]
        await asyncio.gather(*pending)

    # ------------------------------------------------------------------ commits and rebalances
    async def _save_checkpoint(self, tp: TopicPartition, checkpoint: Checkpoint) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.checkpoints.save, tp.topic, tp.partition, checkpoint)

    async def _commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> bool:
        tps = {TP(tp.topic, tp.partition): offset for tp, offset in offsets.items()}
        return bool(await self.app.consumer._commit(tps))  # type: ignore[attr-defined]

    async def _commit(self, tps: list[TopicPartition]) -> None:
        committed = await self.core.commit(tps, self._save_checkpoint, self._commit_offsets)
        if committed:
            log.debug("committed %s", {f"{tp.topic}-{tp.partition}": o for tp, o in committed.items()})

    async def _commit_tick(self) -> None:
        await self._commit(list(self.core.partitions))

    async def _on_revoked(self, app: Any, revoked: set[TP], **kwargs: Any) -> None:
        mine = [TopicPartition(tp.topic, tp.partition) for tp in revoked]
        await self._commit([tp for tp in mine if tp in self.core.partitions])
        self.core.revoke(mine)
        if revoked:
            log.info("partitions revoked: %s", sorted(f"{tp.topic}-{tp.partition}" for tp in revoked))

    async def _on_assigned(self, app: Any, assigned: set[TP], **kwargs: Any) -> None:
        mine = sorted(tp.partition for tp in assigned if tp.topic == self.settings.topic_inspections)
        log.info("partitions assigned: %s %s", self.settings.topic_inspections, mine)
