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
import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import faust
from faust.types import TP

from schemas.validation import Limits
from streams.model_source import ModelSource
from streams.observability.health import HealthFacts, not_ready_reasons
from streams.observability.logs import log_context, logging_config
from streams.observability.metrics import PartitionSnapshot, WorkerSnapshot, worker_registry
from streams.pipeline.checkpoint import Checkpoint
from streams.pipeline.core import PipelineCore, Score, SendDeadLetter
from streams.pipeline.executor import BatchExecutor
from streams.pipeline.jobs import BoardJob, DefectPolicy
from streams.pipeline.observer import ObservedModels, ObservedStore
from streams.pipeline.ports import CheckpointStore, ResultStore
from streams.pipeline.processor import BatchProcessor, OutputTopics
from streams.pipeline.records import Record, TopicPartition
from streams.settings import Settings

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 1.0
DATABASE_PROBE_TIMEOUT_S = 3.0


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
            password=settings.kafka_sasl_password.get_secret_value(),
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
        # Boards and alarm messages are up to KAFKA_MAX_MESSAGE_BYTES (16 MiB by default) of JSON.
        consumer_max_fetch_size=2 * settings.kafka_max_message_bytes,
        producer_max_request_size=settings.kafka_max_message_bytes,
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
        ping_database: Callable[[], None] | None = None,
    ) -> None:
        """`ping_database` raises when the database cannot be reached (for /readyz; None: not checked)."""
        self.settings = settings
        self.models = models
        self.checkpoints = checkpoints
        limits = Limits(max_pads=settings.max_pads, max_event_bytes=settings.kafka_max_message_bytes)
        self.core = PipelineCore(models.window_length, models.window_hop, limits)
        self.app = build_faust_app(settings)
        self.inspections = self.app.topic(
            settings.topic_inspections,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            acks=False,  # offsets are committed by the core's commit order, never by Faust
        )
        # observability (issue 14): metrics read from this worker's state, pushed through the observer port
        self.ping_database = ping_database
        self.registry, self.observer = worker_registry(self.snapshot, settings.topic_inspections)
        self._assigned: set[TopicPartition] | None = None  # None until the group's first assignment
        self._last_commit: float | None = None  # time.monotonic() of the last accepted offset commit
        self._batch_ids = itertools.count(1)
        self.processor = BatchProcessor(
            ObservedModels(models, self.observer),
            ObservedStore(store, self.observer),
            self._publish_from_thread,
            OutputTopics(settings.topic_alarms, settings.topic_defects, settings.topic_dlq),
            self.core.is_current,
            defect_policy,
        )
        self.executor: BatchExecutor[BoardJob] = BatchExecutor(
            self._process_batch,
            self.core.jobs_done,
            max_batch=max_batch,
            max_in_flight=max_in_flight,
            tick=self.models.refresh,
            tick_interval_s=model_poll_s,
        )
        self.app.agent(self.inspections, name="spi-crrn-ingest")(self._ingest)
        self.app.timer(COMMIT_INTERVAL_S)(self._commit_tick)
        self.app.task(self._start_executor)
        self.app.task(self._start_http)
        self.app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        self.app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        self.app.on_before_shutdown.connect(self._on_shutdown)  # type: ignore[arg-type]

    @property
    def dead_letters(self) -> int:
        return self.core.dead_letters

    # ------------------------------------------------------------------ lifecycle
    async def _start_executor(self) -> None:
        self.executor.start(asyncio.get_running_loop())

    async def _start_http(self) -> None:
        if self.settings.metrics_port:
            from streams.observability.http import make_app, serve

            await serve(make_app(self.registry, self.not_ready_reasons), self.settings.metrics_port)

    async def _on_shutdown(self, app: Any, **kwargs: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.executor.stop)

    def run(self) -> None:
        """Run until SIGINT/SIGTERM (programmatic Faust worker, not the faust CLI)."""
        from faust.worker import Worker

        level = logging.getLogger().getEffectiveLevel()
        worker = Worker(
            self.app,
            loglevel=logging.getLevelName(level),
            logging_config=logging_config(level, self.settings.log_format),
            quiet=True,
            redirect_stdouts=False,
        )
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
        with log_context(topic=record.topic, partition=record.partition, offset=record.offset):
            await self._handle(record)

    async def _handle(self, record: Record) -> None:
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
            await self._send_dead_letter(action)
            self.core.dead_lettered(action.source)

    async def _send_dead_letter(self, action: SendDeadLetter) -> None:
        """Publish a dead letter and wait for the broker's acknowledgement, retrying without end (backoff
        to 30 s): the record stays pending meanwhile, so a broker outage delays but never drops it, and
        the agent never crashes on it."""
        delay = 0.5
        while True:
            try:
                await self.app.producer.send_and_wait(
                    self.settings.topic_dlq,
                    action.key,
                    action.letter.to_json(),
                    partition=None,
                    timestamp=None,
                    headers=None,
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dead letter of %s not sent (%r); retrying in %.1f s", action.source, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    # ------------------------------------------------------------------ the inference thread
    def _process_batch(self, jobs: list[BoardJob]) -> None:
        """The processor's work on one batch, with its batch id and printers on every log line of it."""
        printers = sorted({b.printer_id for j in jobs if j.window is not None for b in j.window.new_boards})
        with log_context(batch_id=next(self._batch_ids), printers=",".join(printers)):
            self.processor.process(jobs)

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
            self._last_commit = time.monotonic()
            log.debug("committed %s", {f"{tp.topic}-{tp.partition}": o for tp, o in committed.items()})

    async def _commit_tick(self) -> None:
        await self._commit(list(self.core.partitions))

    async def _on_revoked(self, app: Any, revoked: set[TP], **kwargs: Any) -> None:
        mine = [TopicPartition(tp.topic, tp.partition) for tp in revoked]
        await self._commit([tp for tp in mine if tp in self.core.partitions])
        self.core.revoke(mine)
        if self._assigned is not None:
            self._assigned.difference_update(mine)
        if revoked:
            log.info("partitions revoked: %s", sorted(f"{tp.topic}-{tp.partition}" for tp in revoked))

    async def _on_assigned(self, app: Any, assigned: set[TP], **kwargs: Any) -> None:
        mine = sorted(tp.partition for tp in assigned if tp.topic == self.settings.topic_inspections)
        self._assigned = {TopicPartition(self.settings.topic_inspections, p) for p in mine}
        log.info("partitions assigned: %s %s", self.settings.topic_inspections, mine)

    # ------------------------------------------------------------------ metrics and health (on the loop)
    def _highwater(self, tp: TopicPartition) -> int | None:
        """The consumer's last known highwater (from fetch responses; no request, never blocks)."""
        try:
            value = self.app.consumer.highwater(TP(tp.topic, tp.partition))
        except Exception:  # consumer not started, partition not (yet) assigned in aiokafka
            return None
        return None if value is None else int(value)

    def _partition_snapshot(self, tp: TopicPartition) -> PartitionSnapshot:
        state = self.core.partitions.get(tp)
        if state is None:
            return PartitionSnapshot(tp.partition, 0, 0, None)
        highwater = self._highwater(tp)
        read, committed = state.ledger.next_offset, state.committed_offset
        return PartitionSnapshot(
            tp.partition,
            state.buffered_boards,
            state.ledger.pending_count,
            lag=None if highwater is None or read is None else max(0, highwater - read),
            committed_lag=None if highwater is None or committed is None else max(0, highwater - committed),
        )

    def snapshot(self) -> WorkerSnapshot:
        """The state the metrics collector reports (call on the event loop)."""
        tps = sorted(self._assigned or (), key=lambda tp: tp.partition)
        return WorkerSnapshot(
            records_in=self.core.records_in,
            boards_valid=self.core.boards_valid,
            dead_letters=self.core.dead_letters,
            boards_refused=self.processor.boards_refused,
            in_flight=self.executor.in_flight,
            model_version=self.models.version,
            last_commit_age_s=None if self._last_commit is None else time.monotonic() - self._last_commit,
            partitions=tuple(self._partition_snapshot(tp) for tp in tps),
        )

    async def _database_error(self) -> str | None:
        if self.ping_database is None:
            return None
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(None, self.ping_database), timeout=DATABASE_PROBE_TIMEOUT_S
            )
        except TimeoutError:
            return f"no answer within {DATABASE_PROBE_TIMEOUT_S:.0f} s"
        except Exception as exc:
            cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
            first_line = (str(cause).strip().splitlines() or [""])[0]
            return f"{type(cause).__name__}: {first_line}"
        return None

    async def not_ready_reasons(self) -> list[str]:
        """Why the worker is not ready (empty: ready); see streams/observability/health.py."""
        snap = self.snapshot()
        try:
            version: str | None = self.models.version
        except Exception:
            version = None
        facts = HealthFacts(
            in_group=self._assigned is not None,
            database_error=await self._database_error(),
            model_version=version,
            lag=snap.total_lag,
            max_lag=self.settings.ready_max_lag,
        )
        return not_ready_reasons(facts)
