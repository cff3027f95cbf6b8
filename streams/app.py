"""The Faust worker: ingest -> per-printer windows -> inference thread -> PostgreSQL and Kafka.

Delivery design (docs/pipeline.md): the Kafka log holds the boards of the open windows, PostgreSQL a
checkpoint of the window state. The input topic is consumed with Faust's acking turned off
(`acks=False`), so Faust never commits it. Every second, per partition, this module stores the window
state at the durable frontier (below it every board is in PostgreSQL or its dead letter is acknowledged)
in `stream_checkpoints`, then commits the Kafka offset of the oldest board that state still buffers. On
(re)assignment Faust seeks to the committed offset, the windows are restored exactly from the checkpoint
and the re-read boards, and boards PostgreSQL already holds are neither scored nor published nor written
again (rows are keyed by event_id anyway).

Faust's own ack tracking was not used: its commit of the "highest contiguous acked offset" trusts the
first acked offset when the partition has no committed offset yet (faust/transport/consumer.py
`_new_offset`: `if committed_offset:` skips the gap check for None and 0), and messages skipped after a
rebalance are acked by the stream itself, so holding acks could commit past an unprocessed board.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import TP

from schemas.errors import InvalidEvent
from schemas.messages import DeadLetter
from schemas.validation import Limits, parse_inspection
from streams.agents.windows import PartitionWindows
from streams.db.checkpoints import CheckpointStore
from streams.db.writer import ResultWriter
from streams.kafka.connection import MAX_MESSAGE_BYTES
from streams.settings import Settings
from streams.worker.executor import BatchExecutor
from streams.worker.jobs import BoardJob, DefectPolicy
from streams.worker.model_source import ModelSource
from streams.worker.processor import BatchProcessor, OutputTopics
from streams.worker.results import SourceRef

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
    """One worker process: the Faust app, its agent, the inference thread and the offset committer."""

    def __init__(
        self,
        settings: Settings,
        models: ModelSource,
        writer: ResultWriter,
        checkpoints: CheckpointStore,
        defect_policy: DefectPolicy | None = None,
        max_batch: int = 32,
        max_in_flight: int = 128,
        model_poll_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.models = models
        self.checkpoints = checkpoints
        self.limits = Limits(max_pads=settings.max_pads)
        self.T = models.window_length
        self.hop = models.window_hop
        self.app = build_faust_app(settings)
        self.inspections = self.app.topic(
            settings.topic_inspections,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            acks=False,  # offsets are committed by `_commit_safe_offsets`, never by Faust
        )
        self.partitions: dict[TP, PartitionWindows] = {}
        self._epochs: dict[tuple[str, int], int] = {}
        self._epoch_counter = 0
        self.processor = BatchProcessor(
            models,
            writer,
            self._publish_from_thread,
            OutputTopics(alarms=settings.topic_alarms, defects=settings.topic_defects),
            self._is_current,
            defect_policy,
        )
        self.executor: BatchExecutor[BoardJob] = BatchExecutor(
            self.processor.process,
            self._on_jobs_done,
            max_batch=max_batch,
            max_in_flight=max_in_flight,
            tick=self._refresh_model,
            tick_interval_s=model_poll_s,
        )
        self.dead_letters = 0
        self.app.agent(self.inspections, name="spi-crrn-ingest")(self._ingest)
        self.app.timer(COMMIT_INTERVAL_S)(self._commit_tick)
        self.app.task(self._start_executor)
        self.app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        self.app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        self.app.on_before_shutdown.connect(self._on_shutdown)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ lifecycle
    def _refresh_model(self) -> None:  # inference thread
        self.models.refresh()

    async def _start_executor(self) -> None:
        self.executor.start(asyncio.get_running_loop())

    async def _on_shutdown(self, app: Any, **kwargs: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.executor.stop)

    def run(self) -> None:
        """Run until SIGINT/SIGTERM (programmatic Faust worker, not the faust CLI)."""
        from faust.worker import Worker

        worker = Worker(self.app, loglevel="INFO", quiet=True, redirect_stdouts=False)
        worker.execute_from_commandline()

    # ------------------------------------------------------------------ partitions
    def _new_epoch(self, tp: TP) -> int:
        self._epoch_counter += 1
        self._epochs[(tp.topic, tp.partition)] = self._epoch_counter
        return self._epoch_counter

    def _is_current(self, job: BoardJob) -> bool:  # called from the inference thread (dict read only)
        return self._epochs.get((job.topic, job.partition)) == job.epoch

    async def _state_for(self, tp: TP, offset: int) -> PartitionWindows:
        state = self.partitions.get(tp)
        nxt = None if state is None else state.ledger.next_offset
        if state is None or (nxt is not None and offset < nxt):
            if state is not None:
                log.info("partition %s re-read from offset %d: windows restored again", tp, offset)
            loop = asyncio.get_running_loop()
            checkpoint = await loop.run_in_executor(None, self.checkpoints.load, tp.topic, tp.partition)
            state = PartitionWindows(
                tp.topic, tp.partition, self._new_epoch(tp), self.T, self.hop, checkpoint
            )
            self.partitions[tp] = state
        return state

    async def _on_revoked(self, app: Any, revoked: set[TP], **kwargs: Any) -> None:
        await self._commit_safe_offsets([tp for tp in revoked if tp in self.partitions])
        for tp in revoked:
            self.partitions.pop(tp, None)
            self._new_epoch(tp)  # in-flight jobs of this partition become stale
        if revoked:
            log.info("partitions revoked: %s", sorted(f"{tp.topic}-{tp.partition}" for tp in revoked))

    async def _on_assigned(self, app: Any, assigned: set[TP], **kwargs: Any) -> None:
        mine = sorted(tp.partition for tp in assigned if tp.topic == self.settings.topic_inspections)
        log.info("partitions assigned: %s %s", self.settings.topic_inspections, mine)

    # ------------------------------------------------------------------ ingest agent
    async def _ingest(self, stream: Any) -> None:
        async for event in stream.events():
            await self.handle(event.message)

    async def handle(self, message: Any) -> None:
        """Decode, validate and window one record; never raises on bad input."""
        tp: TP = message.tp
        offset: int = message.offset
        state = await self._state_for(tp, offset)
        state.ledger.seen(offset)
        source = SourceRef(tp.topic, tp.partition, offset)
        raw: bytes = message.value if message.value is not None else b""
        if state.restoring(offset):  # done before the checkpoint: only re-read the boards windows buffer
            state.ledger.durable(offset)
            if state.wants(offset):
                with contextlib.suppress(InvalidEvent):  # it was valid when first read
                    state.keep(offset, parse_inspection(raw, self.limits))
            return
        try:
            board = parse_inspection(raw, self.limits)
        except InvalidEvent as exc:
            await self._dead_letter(raw, exc, source, message.key)
            state.ledger.durable(offset)
            return
        except Exception as exc:  # the validator's contract is InvalidEvent; anything else is a bug
            log.exception("validator raised %r at %s", exc, source)
            await self._dead_letter(
                raw, InvalidEvent("event", f"cannot be read ({exc!r})"), source, message.key
            )
            state.ledger.durable(offset)
            return
        try:
            _, job = state.push(board, source)
        except Exception as exc:
            log.exception("windowing failed at %s", source)
            await self._dead_letter(
                raw, InvalidEvent("event", f"cannot be windowed ({exc!r})"), source, message.key
            )
            state.ledger.durable(offset)
            return
        if job is not None:
            await self.executor.submit(job)

    async def _dead_letter(
        self, raw: bytes, error: InvalidEvent, source: SourceRef, key: bytes | None
    ) -> None:
        letter = DeadLetter.from_error(
            raw, error, source.topic, source.partition, source.offset, datetime.now(UTC)
        )
        await self.app.producer.send_and_wait(
            self.settings.topic_dlq, key, letter.to_json(), partition=None, timestamp=None, headers=None
        )
        self.dead_letters += 1
        log.warning(
            "dead letter %s-%d@%d: %s: %s",
            source.topic,
            source.partition,
            source.offset,
            error.field,
            error.problem,
        )

    # ------------------------------------------------------------------ results and commits
    def _on_jobs_done(self, jobs: Any) -> None:  # on the loop
        for job in jobs:
            state = self.partitions.get(TP(job.topic, job.partition))
            if state is None or state.epoch != job.epoch:
                continue
            for offset in job.offsets:
                state.ledger.durable(offset)

    def _publish_from_thread(self, records: list[tuple[str, bytes, bytes]]) -> None:
        loop = self.app.loop
        future = asyncio.run_coroutine_threadsafe(self._send_all(records), loop)
        future.result(timeout=120)

    async def _send_all(self, records: list[tuple[str, bytes, bytes]]) -> None:
        producer = self.app.producer
        pending = [
            await producer.send(topic, key, value, partition=None, timestamp=None, headers=None)
            for topic, key, value in records
        ]
        await asyncio.gather(*pending)

    async def _commit_tick(self) -> None:
        await self._commit_safe_offsets(list(self.partitions))

    async def _commit_safe_offsets(self, tps: list[TP]) -> None:
        """Store each partition's checkpoint, then commit the oldest offset it needs (in that order)."""
        loop = asyncio.get_running_loop()
        offsets: dict[TP, int] = {}
        for tp in tps:
            state = self.partitions.get(tp)
            checkpoint = None if state is None else state.checkpoint()
            if state is None or checkpoint is None:
                continue
            if state.saved_position is None or checkpoint.position > state.saved_position:
                try:
                    await loop.run_in_executor(
                        None, self.checkpoints.save, tp.topic, tp.partition, checkpoint
                    )
                except Exception as exc:  # database unavailable: commit nothing, retry next tick
                    log.warning("checkpoint of %s not stored: %r", tp, exc)
                    continue
                state.saved_position = checkpoint.position
            needed = checkpoint.needed_offset
            if state.committed_offset is None or needed > state.committed_offset:
                offsets[tp] = needed
        if not offsets:
            return
        try:
            committed = await self.app.consumer._commit(offsets)  # type: ignore[attr-defined]
        except Exception as exc:  # a rebalance in progress: the next tick (or the new owner) commits
            log.info("commit of %s deferred: %r", offsets, exc)
            return
        if committed:
            for tp, offset in offsets.items():
                state = self.partitions.get(tp)
                if state is not None:
                    state.committed_offset = offset
            log.debug("committed %s", {f"{tp.topic}-{tp.partition}": o for tp, o in offsets.items()})
