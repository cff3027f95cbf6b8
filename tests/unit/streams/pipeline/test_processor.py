"""BatchProcessor with in-memory ports: what a batch stores and publishes, and in which order."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest

from crrn.windowing import PrinterWindower
from schemas.inspection import BoardInspection
from streams.pipeline.jobs import BoardJob
from streams.pipeline.processor import BatchProcessor, OutputTopics
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, DiagnosisStateRow
from tests.unit.streams.pipeline.fakes import CountingPolicy, FakeModels, FakeScorer, FakeStore, board

T = 3


def jobs_for(boards: list[BoardInspection], epoch: int = 1) -> list[BoardJob]:
    """The jobs the stream makes of `boards` (T=3, hop 1; offsets = positions in the list)."""
    windowers: dict[str, PrinterWindower] = {}
    jobs = []
    for offset, b in enumerate(boards):
        pushed = windowers.setdefault(b.printer_id, PrinterWindower(T)).push(b)
        if pushed.window is not None:
            sources = tuple(SourceRef("in", 0, offset) for _ in pushed.window.new_boards)
            jobs.append(BoardJob("in", 0, epoch, offset, pushed.window, sources))
    return jobs


def make(
    store: FakeStore, scorer: FakeScorer | None = None, policy: Any = None, current: bool = True
) -> tuple[BatchProcessor, list[tuple[str, bytes, bytes]]]:
    published: list[tuple[str, bytes, bytes]] = []

    def publish(records: list[tuple[str, bytes, bytes]]) -> None:
        store.log.append(("publish", len(records)))
        published.extend(records)

    processor = BatchProcessor(
        FakeModels(scorer or FakeScorer(log=store.log), policy),
        store,
        publish,
        OutputTopics(alarms="alarms", defects="defects"),
        is_current=lambda job: current,
    )
    return processor, published


def printer_run(printer: str, n: int, hot: frozenset[int] | set[int] = frozenset()) -> list[BoardInspection]:
    return [board(printer, i, hot=i in hot) for i in range(1, n + 1)]


def test_scores_publish_then_store_each_board_once_with_alarm_rows_equal_to_messages() -> None:
    store = FakeStore()
    processor, published = make(store)
    boards = printer_run("P1", 5, hot={4}) + printer_run("P2", 4)
    processor.process(jobs_for(boards))
    assert set(store.boards) == {b.event_id for b in boards}  # the first window scores all T boards
    assert {r.status for r in store.boards.values()} == {"scored"}
    # one model call for all printers; published inside the transaction, after every row was accepted
    assert [entry[0] for entry in store.log] == ["score", "try", "publish", "write"]
    (alarm,) = store.alarms
    assert (alarm.event_id, [(p.pad_id, p.kind, p.score) for p in alarm.pads]) == (
        "P1-4", [("p0", "excessive", 5.0)],
    )  # fmt: skip
    assert published == [("alarms", b"P1", alarm.to_json())]  # what is stored is what is published


def test_boards_already_stored_are_neither_scored_nor_published_nor_written_again() -> None:
    store = FakeStore()
    processor, published = make(store)
    jobs = jobs_for(printer_run("P1", 5, hot={2, 5}))
    processor.process(jobs)
    n_alarms, n_published, n_scored = len(store.alarms), len(published), len(processor.models.scorer.calls)
    processor.process(jobs)  # a replay after a crash before the offsets were committed
    assert (len(store.alarms), len(published), len(processor.models.scorer.calls)) == (
        n_alarms, n_published, n_scored,
    )  # fmt: skip
    assert processor.boards_skipped == 5


def test_stale_jobs_are_dropped() -> None:
    store = FakeStore()
    processor, published = make(store, current=False)
    processor.process(jobs_for(printer_run("P1", 4, hot={1})))
    assert (store.boards, published, store.log) == ({}, [], [])


def test_a_window_that_cannot_be_scored_is_stored_unscored_and_the_others_are_scored() -> None:
    store = FakeStore()
    scorer = FakeScorer(fail_printers=["P2"], log=store.log)
    processor, _ = make(store, scorer)
    processor.process(jobs_for(printer_run("P1", 3) + printer_run("P2", 3)))
    status = {e: r.status for e, r in store.boards.items()}
    expected = {f"P1-{i}": "scored" for i in (1, 2, 3)} | {f"P2-{i}": "unscored" for i in (1, 2, 3)}
    assert status == expected


def test_unscored_boards_of_a_job_are_stored_with_their_status() -> None:
    store = FakeStore()
    processor, _ = make(store)
    late = board("P1", 1, event_id="P1-1-late")
    job = BoardJob("in", 0, 1, 7, None, (), (BoardRecord(late, SourceRef("in", 0, 7), "late"),))
    processor.process([job])
    assert (store.boards["P1-1-late"].status, store.boards["P1-1-late"].source.offset) == ("late", 7)


def test_a_board_the_store_refuses_goes_to_the_dead_letters_and_the_rest_is_stored() -> None:
    store = FakeStore()
    processor, published = make(store)
    poison = board("P1", 3, hot=True)
    poison = dataclasses.replace(poison, board_id="B\x003")
    boards = [*printer_run("P1", 2), poison, board("P1", 4, hot=True), *printer_run("P2", 5, hot={5})]
    processor.process(jobs_for(boards))
    assert set(store.boards) == {b.event_id for b in boards} - {"P1-3"}
    dead = [r for r in published if r[0] == "alarms.dlq"]
    assert len(dead) == 1
    letter = json.loads(dead[0][2])
    assert (letter["source_offset"], letter["error_field"]) == (2, "event")
    assert "NUL" in letter["problem"]
    assert base64.b64decode(letter["original_b64"]).count(b"P1-3") == 1
    alarmed = {json.loads(v)["event_id"] for t, _, v in published if t == "alarms"}
    assert alarmed == {"P1-4", "P2-5"}  # no alarm of the refused board, the others published once
    assert processor.boards_refused == 1


def test_ids_the_store_cannot_even_look_up_are_found_and_refused_at_the_write() -> None:
    store = FakeStore()
    processor, published = make(store)
    boards = [*printer_run("P1", 3), board("P1", 4, event_id="P1-\x004")]
    processor.process(jobs_for(boards))
    assert set(store.boards) == {"P1-1", "P1-2", "P1-3"}
    assert [t for t, _, _ in published] == ["alarms.dlq"]


def test_a_database_that_is_down_raises_and_publishes_nothing_so_the_retry_loses_nothing() -> None:
    store = FakeStore(fail_writes=1)
    processor, published = make(store)
    jobs = jobs_for(printer_run("P1", 3, hot={1}))
    with pytest.raises(ConnectionError):
        processor.process(jobs)
    assert (store.boards, published) == ({}, [])
    processor.process(jobs)  # the executor's retry
    assert len(store.boards) == 3
    assert len(published) == 1


def test_publish_failure_stores_nothing_so_the_retry_redoes_the_batch() -> None:
    store = FakeStore()
    processor, _ = make(store)

    def broken(records: list[tuple[str, bytes, bytes]]) -> None:
        raise TimeoutError("broker did not acknowledge")

    processor.publish = broken
    jobs = jobs_for(printer_run("P1", 3, hot={1}))
    with pytest.raises(TimeoutError):
        processor.process(jobs)
    assert store.boards == {}
    processor, published = make(store)
    processor.process(jobs)
    assert len(store.boards) == 3
    assert len(published) == 1


def test_diagnosis_state_is_read_from_the_store_and_stored_with_the_boards() -> None:
    store = FakeStore()
    # another owner already diagnosed P1 up to board 3, with one board with alarms seen
    before = {"model_version": "m1", "last_print_index": 3, "hot": 1}
    store.states["P1"] = DiagnosisStateRow("P1", "m1", 3, before)
    policy = CountingPolicy()
    processor, published = make(store, policy=policy)
    boards = printer_run("P1", 5, hot={2, 4})
    processor.process(jobs_for(boards))
    assert policy.imported == [("P1", before)]
    # boards 1-3 were diagnosed before: only 4 and 5 go through the policy; board 4 is the second hot one
    (defect,) = store.defects
    assert (defect.defect, defect.first_print_index) == ("squeegee_blade", 4)
    assert store.states["P1"].last_print_index == 5
    assert store.states["P1"].state["hot"] == 2
    assert ("defects", b"P1", defect.to_json()) in published
