"""The pipeline core: one call per input record, and the one place that owns the commit order.

The way of a board (read top to bottom; the Faust adapter in streams/app.py only moves bytes):

1. `offer(record)` -> what to do with it (an `Action`):
   - `Done`: nothing left to do (a board that only waits in its printer's window, a repeated event id,
     or a record re-read while restoring a checkpoint);
   - `SendDeadLetter`: the event is invalid; the adapter publishes the letter, waits for the broker's
     acknowledgement and then calls `dead_lettered(source)`;
   - `Score`: a job for the inference thread (a window to score and/or boards to store unscored); the
     BatchExecutor runs it through the BatchProcessor (streams/pipeline/processor.py) and hands it back to
     `jobs_done(jobs)` on the event loop.
   Before the first record of a partition (or after a seek backwards), `needs_checkpoint` is True and the
   adapter `restore`s the partition from its stored checkpoint first (the only other call per record).
2. `commit(partitions, save, commit_offsets)`, every second and before partitions are revoked. THE
   COMMIT ORDER, per partition:
   a. fold the window snapshots below the durable frontier into the checkpoint at that frontier (below it
      every record's board is stored or its dead letter acknowledged);
   b. store that checkpoint (PostgreSQL) -- on failure stop here for this partition;
   c. only then commit the Kafka offset of the oldest board the stored checkpoint still buffers.
   So a crash at any point re-reads at most what the stored checkpoint can rebuild: no board is lost
   (its record stays in the log until a stored checkpoint no longer needs it) and none is doubled (rows
   are keyed by event id, and boards already stored are neither scored nor published again).
3. `revoke(partitions)` after their last commit: their state is dropped and their in-flight jobs become
   stale (`is_current` is False), so the new owner alone redoes them.

Pure: no Kafka, Faust or SQL here; the IO comes in as the async callables of streams/pipeline/ports.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.errors import InvalidEvent
from schemas.messages import DeadLetter
from schemas.validation import Limits, parse_inspection
from streams.pipeline.checkpoint import Checkpoint
from streams.pipeline.jobs import BoardJob
from streams.pipeline.ports import CommitOffsets, SaveCheckpoint
from streams.pipeline.records import Record, SourceRef, TopicPartition
from streams.pipeline.windows import PartitionWindows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Done:
    """Nothing left to do for this record: it is durable already."""


@dataclass(frozen=True)
class SendDeadLetter:
    """Publish `letter` under the record's key, wait for the acknowledgement, then `dead_lettered(source)`."""

    key: bytes | None
    letter: DeadLetter
    source: SourceRef


@dataclass(frozen=True)
class Score:
    """Submit `job` to the inference thread; its record becomes durable in `jobs_done`."""

    job: BoardJob


Action = Done | SendDeadLetter | Score
DONE = Done()


class PipelineCore:
    """Partition windows, ledgers and assignment epochs of one worker, and the commit order."""

    def __init__(
        self, window_length: int, hop: int, limits: Limits, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.T = window_length
        self.hop = hop
        self.limits = limits
        self._clock = clock or (lambda: datetime.now(UTC))
        self.partitions: dict[TopicPartition, PartitionWindows] = {}
        self._epochs: dict[TopicPartition, int] = {}
        self._epoch_counter = 0
        # counters read by the metrics adapter when scraped (streams/observability/metrics.py)
        self.records_in = 0  # every record offered, re-reads of a restore included
        self.boards_valid = 0  # records that were valid boards (first reads only)
        self.dead_letters = 0

    # ------------------------------------------------------------------ assignment
    def needs_checkpoint(self, record: Record) -> bool:
        """True before a partition's first record, or when the consumer seeks back before what was read:
        then the adapter loads the stored checkpoint and calls `restore` before `offer`."""
        state = self.partitions.get(record.tp)
        if state is None:
            return True
        nxt = state.ledger.next_offset
        return nxt is not None and record.offset < nxt

    def restore(self, tp: TopicPartition, checkpoint: Checkpoint | None) -> None:
        """Start the partition afresh from its stored checkpoint (None: from nothing), in a new epoch."""
        if tp in self.partitions:
            log.info("partition %s-%d re-read: windows restored again", tp.topic, tp.partition)
        self.partitions[tp] = PartitionWindows(
            tp.topic, tp.partition, self._new_epoch(tp), self.T, self.hop, checkpoint
        )

    def revoke(self, tps: Iterable[TopicPartition]) -> None:
        """Forget revoked partitions (commit them first); their in-flight jobs become stale."""
        for tp in tps:
            self.partitions.pop(tp, None)
            self._new_epoch(tp)

    def is_current(self, job: BoardJob) -> bool:
        """Does the job belong to a partition this worker still owns, in the same epoch? (Any thread: one
        dict read.)"""
        return self._epochs.get(TopicPartition(job.topic, job.partition)) == job.epoch

    def _new_epoch(self, tp: TopicPartition) -> int:
        self._epoch_counter += 1
        self._epochs[tp] = self._epoch_counter
        return self._epoch_counter

    # ------------------------------------------------------------------ records
    def offer(self, record: Record) -> Action:
        """Decode, validate and window one record; never raises on bad input (a bad one -> dead letter)."""
        state = self.partitions.get(record.tp)
        if state is None:
            raise RuntimeError(f"offer before restore of partition {record.topic}-{record.partition}")
        offset = record.offset
        self.records_in += 1
        state.ledger.seen(offset)
        if state.restoring(offset):  # done before the checkpoint: only re-read the boards windows buffer
            state.ledger.durable(offset)
            if state.wants(offset):
                with contextlib.suppress(InvalidEvent):  # it was valid when first read
                    state.keep(offset, parse_inspection(record.value, self.limits))
            return DONE
        try:
            board = parse_inspection(record.value, self.limits)
        except InvalidEvent as exc:
            return self._dead_letter(record, exc)
        except Exception as exc:  # the validator's contract is InvalidEvent; anything else is a bug
            log.exception("validator raised %r at %s", exc, record.source)
            return self._dead_letter(record, InvalidEvent("event", f"cannot be read ({exc!r})"))
        self.boards_valid += 1
        try:
            _, job = state.push(board, record.source)
        except Exception as exc:
            log.exception("windowing failed at %s", record.source)
            return self._dead_letter(record, InvalidEvent("event", f"cannot be windowed ({exc!r})"))
        return DONE if job is None else Score(job)

    def _dead_letter(self, record: Record, error: InvalidEvent) -> SendDeadLetter:
        source = record.source
        letter = DeadLetter.from_error(
            record.value, error, source.topic, source.partition, source.offset, self._clock()
        )
        log.warning(
            "dead letter %s-%d@%d: %s: %s",
            source.topic, source.partition, source.offset, error.field, error.problem,
        )  # fmt: skip
        return SendDeadLetter(record.key, letter, source)

    def dead_lettered(self, source: SourceRef) -> None:
        """The record's dead letter is acknowledged by the broker: the record is durable."""
        self.dead_letters += 1
        state = self.partitions.get(source.tp)
        if state is not None:
            state.ledger.durable(source.offset)

    def jobs_done(self, jobs: Sequence[BoardJob]) -> None:
        """The inference thread stored these jobs' results: their records are durable (current epoch only)."""
        for job in jobs:
            state = self.partitions.get(TopicPartition(job.topic, job.partition))
            if state is None or state.epoch != job.epoch:
                continue
            for offset in job.offsets:
                state.ledger.durable(offset)

    # ------------------------------------------------------------------ the commit order
    async def commit(
        self, tps: Iterable[TopicPartition], save: SaveCheckpoint, commit_offsets: CommitOffsets
    ) -> dict[TopicPartition, int]:
        """Store each partition's checkpoint, then commit the oldest offset it needs, in that order (module
        docstring, step 2). Returns the offsets committed now."""
        offsets: dict[TopicPartition, int] = {}
        for tp in tps:
            state = self.partitions.get(tp)
            checkpoint = None if state is None else state.checkpoint()  # a. fold to the frontier
            if state is None or checkpoint is None:
                continue
            if state.saved_position is None or checkpoint.position > state.saved_position:
                try:
                    await save(tp, checkpoint)  # b. store it
                except Exception as exc:  # database unavailable: commit nothing, retry next tick
                    log.warning("checkpoint of %s-%d not stored: %r", tp.topic, tp.partition, exc)
                    continue
                state.saved_position = checkpoint.position
            needed = checkpoint.needed_offset
            if state.committed_offset is None or needed > state.committed_offset:
                offsets[tp] = needed
        if not offsets:
            return {}
        try:
            committed = await commit_offsets(offsets)  # c. only then the Kafka offset
        except Exception as exc:  # a rebalance in progress: the next tick (or the new owner) commits
            log.info("commit of %s deferred: %r", offsets, exc)
            return {}
        if not committed:
            return {}
        for tp, offset in offsets.items():
            state = self.partitions.get(tp)
            if state is not None:
                state.committed_offset = offset
        return offsets
