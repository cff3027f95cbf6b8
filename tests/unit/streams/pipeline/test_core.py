"""PipelineCore: one call per record, and the commit order (checkpoint stored, then offset committed)."""

from __future__ import annotations

import asyncio

import pytest

from schemas.validation import Limits
from streams.pipeline.core import DONE, PipelineCore, Score, SendDeadLetter
from streams.pipeline.records import Record, TopicPartition
from tests.unit.streams.pipeline.fakes import FakeCheckpoints, board, record

TP0 = TopicPartition("in", 0)


def core(T: int = 3) -> PipelineCore:
    c = PipelineCore(T, 1, Limits(max_pads=100))
    c.restore(TP0, None)
    return c


def commit(c: PipelineCore, fake: FakeCheckpoints) -> dict[TopicPartition, int]:
    return asyncio.run(c.commit(list(c.partitions), fake.save, fake.commit))


def test_records_wait_in_the_window_until_t_boards_then_one_job() -> None:
    c = core()
    assert c.offer(record(board("P1", 1), 0)) is DONE
    assert c.offer(record(board("P1", 2), 1)) is DONE
    action = c.offer(record(board("P1", 3), 2))
    assert isinstance(action, Score)
    assert [b.event_id for b in action.job.window.new_boards] == ["P1-1", "P1-2", "P1-3"]  # type: ignore[union-attr]
    assert c.partitions[TP0].ledger.frontier() == 2  # the job's record is pending until it is done
    c.jobs_done([action.job])
    assert c.partitions[TP0].ledger.frontier() == 3


def test_invalid_record_becomes_a_dead_letter_that_is_pending_until_acknowledged() -> None:
    c = core()
    action = c.offer(record(b'{"schema": "spi.board_inspection.v1", "event_id": 7}', 0))
    assert isinstance(action, SendDeadLetter)
    assert (action.source.offset, action.letter.source_offset) == (0, 0)
    letter = action.letter
    assert (letter.error_field, letter.problem) == ("event_id", "is a number; send a non-empty string")
    assert c.partitions[TP0].ledger.frontier() == 0
    c.dead_lettered(action.source)
    assert c.partitions[TP0].ledger.frontier() == 1
    assert c.dead_letters == 1


def test_checkpoint_is_stored_before_the_offset_is_committed() -> None:
    c, fake = core(), FakeCheckpoints()
    for offset in range(4):  # P1-1..3 make a job; P1-4 is scored at once (hop 1) -> job pending
        action = c.offer(record(board("P1", offset + 1), offset))
        if isinstance(action, Score) and offset == 2:
            c.jobs_done([action.job])
    committed = commit(c, fake)
    # frontier 3 (record 3's job is in flight); the window state there buffers boards at offsets 1 and 2
    assert fake.log == [("save", TP0, 3), ("commit", {TP0: 1})]
    assert committed == {TP0: 1}
    assert fake.stored[TP0].needed_offset == 1


def test_nothing_is_committed_when_the_checkpoint_cannot_be_stored() -> None:
    c, fake = core(), FakeCheckpoints(fail_saves=1)
    c.offer(record(board("P1", 1), 0))
    assert commit(c, fake) == {}
    assert fake.log == []  # no commit without a stored checkpoint
    assert commit(c, fake) == {TP0: 0}  # the next tick stores it, then commits
    assert fake.log == [("save", TP0, 1), ("commit", {TP0: 0})]


def test_a_refused_commit_is_retried_and_an_unchanged_state_is_not_stored_again() -> None:
    c, fake = core(), FakeCheckpoints(refuse_commits=1)
    for offset in range(3):
        action = c.offer(record(board("P1", offset + 1), offset))
    assert isinstance(action, Score)
    c.jobs_done([action.job])
    c.offer(record(board("P1", 4), 3))
    assert commit(c, fake) == {}  # refused (a rebalance in progress)
    assert commit(c, fake) == {TP0: 1}
    assert [e[0] for e in fake.log] == ["save", "commit"]  # the same checkpoint was stored once
    assert commit(c, fake) == {}  # nothing new


def test_restore_from_the_stored_checkpoint_gives_the_same_jobs_after_a_crash() -> None:
    boards = [board("P1", i) for i in range(1, 9)] + [board("P2", i) for i in range(1, 4)]
    boards.sort(key=lambda b: (b.print_index, b.printer_id))
    records = [record(b, o) for o, b in enumerate(boards)]

    def jobs_of(c: PipelineCore, recs: list[Record], done: bool = True) -> dict[int, list[str]]:
        out = {}
        for r in recs:
            if c.needs_checkpoint(r):
                c.restore(r.tp, fake.stored.get(r.tp))
            action = c.offer(r)
            if isinstance(action, Score):
                out[r.offset] = [b.event_id for b in action.job.window.new_boards]  # type: ignore[union-attr]
                if done:
                    c.jobs_done([action.job])
        return out

    fake = FakeCheckpoints()
    whole = jobs_of(PipelineCore(3, 1, Limits(max_pads=100)), records)
    first = PipelineCore(3, 1, Limits(max_pads=100))
    jobs_of(first, records[:7])
    commit(first, fake)
    jobs_of(first, records[7:9], done=False)  # in flight when the worker dies: never stored
    resume = fake.committed[TP0]
    again = jobs_of(PipelineCore(3, 1, Limits(max_pads=100)), records[resume:])
    position = fake.stored[TP0].position
    assert again == {o: j for o, j in whole.items() if o >= position}


def test_revoked_partitions_make_their_in_flight_jobs_stale() -> None:
    c = core()
    for offset in range(3):
        action = c.offer(record(board("P1", offset + 1), offset))
    assert isinstance(action, Score)
    assert c.is_current(action.job)
    c.revoke([TP0])
    assert not c.is_current(action.job)
    assert c.needs_checkpoint(record(board("P1", 4), 3))
    with pytest.raises(RuntimeError, match="restore"):
        c.offer(record(board("P1", 4), 3))


def test_a_seek_backwards_asks_for_the_checkpoint_again() -> None:
    c = core()
    c.offer(record(board("P1", 1), 0))
    c.offer(record(board("P1", 2), 1))
    assert not c.needs_checkpoint(record(board("P1", 3), 2))
    assert c.needs_checkpoint(record(board("P1", 1), 0))
