"""The core's ports: what the pipeline needs from the outside world, as Protocols.

Adapters implement them: PostgreSQL (`streams/db/writer.py` ResultWriter, `streams/db/checkpoints.py`
CheckpointStore), Kafka through Faust (`streams/app.py`: the publisher and the offset committer) and the
model file or registry (`streams/model_source.py`). Unit tests implement them in memory
(tests/unit/streams/pipeline/fakes.py). The blocking ports (store, checkpoints, publish) are called from
the inference thread or through `run_in_executor`, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from crrn.scoring import BoardScores
from crrn.windowing import Window
from streams.pipeline.checkpoint import Checkpoint
from streams.pipeline.jobs import DefectPolicy
from streams.pipeline.records import TopicPartition
from streams.pipeline.results import DiagnosisStateRow, ResultBatch

# (topic, key, value) records, published and acknowledged by the broker before the call returns.
Publish = Callable[[list[tuple[str, bytes, bytes]]], None]

# Store one partition's checkpoint durably (async: the adapter runs the blocking store off the loop).
SaveCheckpoint = Callable[[TopicPartition, Checkpoint], Awaitable[None]]

# Commit these input offsets to the consumer group; False (or an exception) when not committed now.
CommitOffsets = Callable[[Mapping[TopicPartition, int]], Awaitable[bool]]


class ResultStore(Protocol):
    """Durable, idempotent storage of result batches (keyed by event id).

    Every method raises `streams.pipeline.errors.PermanentStoreError` when the store refuses the content
    itself (retrying cannot help); any other exception means "try again later"."""

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """The subset of `event_ids` already stored (replay after a crash or a rebalance)."""
        ...

    def diagnosis_states(self, printer_ids: Sequence[str]) -> dict[str, DiagnosisStateRow]:
        """The stored diagnosis state of each printer that has one."""
        ...

    def write(self, batch: ResultBatch, before_commit: Callable[[], None] | None = None) -> None:
        """Store the whole batch atomically; rows stored already stay as they are. `before_commit` runs
        inside the transaction, after every row was accepted and before the commit; if it raises, nothing
        is stored (the processor publishes there, so a refused batch publishes nothing)."""
        ...


class CheckpointStore(Protocol):
    """Durable, monotonic storage of partition checkpoints (blocking)."""

    def load(self, topic: str, partition: int) -> Checkpoint | None: ...

    def save(self, topic: str, partition: int, checkpoint: Checkpoint) -> None: ...


class WindowScorer(Protocol):
    """Scores windows: the `n_new` newest boards of each window, in window order (crrn.scoring.Scorer)."""

    def score_windows(self, windows: Sequence[Window]) -> list[BoardScores]: ...


class Models(Protocol):
    """The model the worker scores with now (it may be swapped between batches)."""

    @property
    def scorer(self) -> WindowScorer: ...

    @property
    def defect_policy(self) -> DefectPolicy | None: ...
