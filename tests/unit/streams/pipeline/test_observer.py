"""The observer port's decorators: every forward pass and every stored batch reported, failures not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from schemas.validation import Limits
from streams.pipeline.core import PipelineCore, SendDeadLetter
from streams.pipeline.observer import ObservedModels, ObservedStore
from streams.pipeline.processor import BatchProcessor, OutputTopics
from streams.pipeline.records import TopicPartition
from streams.pipeline.results import ResultBatch
from tests.unit.streams.pipeline.fakes import FakeModels, FakeScorer, FakeStore, board, record
from tests.unit.streams.pipeline.test_processor import jobs_for, printer_run


class RecordingObserver:
    def __init__(self) -> None:
        self.passes: list[tuple[int, float]] = []
        self.batches: list[tuple[ResultBatch, float, datetime]] = []

    def windows_scored(self, n_windows: int, seconds: float) -> None:
        self.passes.append((n_windows, seconds))

    def batch_stored(self, batch: ResultBatch, seconds: float, stored_at: datetime) -> None:
        self.batches.append((batch, seconds, stored_at))


def observed_processor(store: FakeStore, scorer: FakeScorer, observer: RecordingObserver) -> BatchProcessor:
    def publish(records: list[tuple[str, bytes, bytes]]) -> None:
        store.log.append(("publish", len(records)))

    return BatchProcessor(
        ObservedModels(FakeModels(scorer), observer),
        ObservedStore(store, observer),
        publish,
        OutputTopics(alarms="alarms", defects="defects"),
        is_current=lambda job: True,
    )


def test_one_forward_pass_and_one_stored_batch_reported_with_their_sizes() -> None:
    store, observer = FakeStore(), RecordingObserver()
    processor = observed_processor(store, FakeScorer(log=store.log), observer)
    # P1: windows at boards 3, 4, 5; P2: at 3, 4 -> 5 windows in one batch, 9 boards stored
    processor.process(jobs_for(printer_run("P1", 5, hot={4}) + printer_run("P2", 4)))
    assert [n for n, _ in observer.passes] == [5]
    assert observer.passes[0][1] >= 0.0
    [(batch, seconds, _)] = observer.batches
    assert len(batch.boards) == 9
    assert [a.printer_id for a in batch.alarms] == ["P1"]
    assert seconds >= 0.0
    assert store.log[-1][0] == "write"  # reported after the wrapped store wrote


def test_a_failed_write_and_a_failed_forward_pass_are_not_reported() -> None:
    store, observer = FakeStore(fail_writes=1), RecordingObserver()
    processor = observed_processor(store, FakeScorer(fail_printers=["P2"], log=store.log), observer)
    with pytest.raises(ConnectionError):
        processor.process(jobs_for(printer_run("P1", 3) + printer_run("P2", 3)))
    assert observer.batches == []
    # the batch of 2 windows failed (P2), then each window alone: only P1's pass succeeded
    assert [n for n, _ in observer.passes] == [1]


def test_store_reads_pass_through() -> None:
    store = FakeStore()
    store.boards["e1"] = object()
    observed = ObservedStore(store, RecordingObserver())
    assert observed.stored_event_ids(["e1", "e2"]) == {"e1"}
    assert observed.printer_states("diagnosis", ["P1"]) == {}


def test_core_counts_records_valid_boards_and_dead_letters() -> None:
    c = PipelineCore(3, 1, Limits(max_pads=100))
    tp = TopicPartition("in", 0)
    c.restore(tp, None)
    actions: list[Any] = [c.offer(record(board("P1", i), i - 1)) for i in (1, 2)]
    actions.append(c.offer(record(b"not json", 2)))
    assert isinstance(actions[-1], SendDeadLetter)
    c.dead_lettered(actions[-1].source)
    assert (c.records_in, c.boards_valid, c.dead_letters) == (3, 2, 1)
    assert c.partitions[tp].buffered_boards == 2  # both wait in P1's window (T=3)


def test_a_refused_batch_is_observed_as_the_parts_that_were_stored() -> None:
    store, observer = FakeStore(), RecordingObserver()
    processor = observed_processor(store, FakeScorer(log=store.log), observer)
    boards = printer_run("P1", 4)
    boards[3] = board("P1", 4, event_id="P1-\x00-4")  # the store refuses this id (NUL in text)
    processor.process(jobs_for(boards))
    stored = sorted(r.board.event_id for batch, _, _ in observer.batches for r in batch.boards)
    assert stored == ["P1-1", "P1-2", "P1-3"]  # the refused board is not counted as stored
    assert processor.boards_refused == 1
    assert all(seconds >= 0 for _, seconds, _ in observer.batches)


def test_messages_are_published_inside_the_observed_write() -> None:
    store, observer = FakeStore(), RecordingObserver()
    published: list[int] = []

    def publish(records: list[tuple[str, bytes, bytes]]) -> None:
        published.append(len(observer.batches))  # batches observed when the broker acknowledged

    processor = BatchProcessor(
        ObservedModels(FakeModels(FakeScorer()), observer),
        ObservedStore(store, observer),
        publish,
        OutputTopics("alarms", "defects", "dlq"),
        is_current=lambda job: True,
    )
    processor.process(jobs_for(printer_run("P1", 3, hot={3})))
    assert published == [0]  # published before the write was observed
    assert len(observer.batches) == 1
