"""PartitionWindows: a checkpoint taken at the durable frontier restores the windows exactly.

The uninterrupted run and a run restored from a mid-stream checkpoint (re-reading the partition from the
checkpoint's oldest needed offset) must emit the same jobs for every record after the checkpoint, with
late boards, a repeated event id, a repeated print_index and hop > 1 in the stream.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from schemas.inspection import BoardInspection, PadArrays
from streams.pipeline.jobs import BoardJob
from streams.pipeline.records import SourceRef
from streams.pipeline.windows import PartitionWindows

T, HOP = 3, 2


def board(printer: str, index: int, event_id: str | None = None) -> BoardInspection:
    pads = PadArrays(
        pad_id=np.array(["a", "b"]),
        x_mm=np.zeros(2),
        y_mm=np.zeros(2),
        size_x_mm=np.ones(2),
        size_y_mm=np.ones(2),
        shape=np.array(["0402", "0402"]),
        volume_pct=np.full(2, 100.0),
        height_um=np.full(2, 120.0),
        area_pct=np.full(2, 100.0),
    )
    eid = event_id or f"{printer}-{index}"
    return BoardInspection(
        eid, "L", printer, "I", "R", f"B{index}", index, datetime(2024, 1, 1, tzinfo=UTC), pads
    )


def stream() -> list[BoardInspection]:
    out: list[BoardInspection] = []
    for i in range(1, 13):
        out += [board("P1", i), board("P2", i)]
    out.insert(9, board("P1", 2, "P1-2-again"))  # late: print_index 2 is already scored
    out.insert(14, board("P2", 5))  # repeated event id
    after_p1_10 = next(i for i, b in enumerate(out) if b.event_id == "P1-10") + 1
    out.insert(after_p1_10, board("P1", 10, "P1-10-twin"))  # a second event for a print_index still buffered
    return out


Summary = tuple[tuple[str, ...], int, tuple[SourceRef, ...], tuple[tuple[str, str], ...]] | None


def summary(job: BoardJob | None) -> Summary:
    if job is None:
        return None
    new = () if job.window is None else tuple(b.event_id for b in job.window.boards)
    n_new = 0 if job.window is None else job.window.n_new
    return (new, n_new, job.window_sources, tuple((u.board.event_id, u.status) for u in job.unscored))


def run(
    windows: PartitionWindows,
    boards: list[BoardInspection],
    start: int,
    in_flight: frozenset[int] = frozenset(),
) -> dict[int, Summary]:
    """Feed records from offset `start` like the worker does; every job is done at once, except the jobs
    of the records in `in_flight` (still in the inference queue when the worker dies)."""
    out: dict[int, Summary] = {}
    for offset in range(start, len(boards)):
        windows.ledger.seen(offset)
        if windows.restoring(offset):
            windows.ledger.durable(offset)
            if windows.wants(offset):
                windows.keep(offset, boards[offset])
            continue
        _, job = windows.push(boards[offset], SourceRef("t", 0, offset))
        out[offset] = summary(job)
        if job is not None and offset not in in_flight:
            for o in job.offsets:
                windows.ledger.durable(o)
    return out


@pytest.mark.parametrize("cut", [4, 11, 16, 20])
def test_restore_from_checkpoint_gives_the_same_jobs(cut: int) -> None:
    boards = stream()
    whole = run(PartitionWindows("t", 0, 1, T, HOP), boards, 0)
    statuses = [s for job in whole.values() if job is not None for _, s in job[3]]
    assert "late" in statuses  # the stream exercises both
    assert "duplicate" in statuses

    first = PartitionWindows("t", 0, 1, T, HOP)
    run(first, boards[:cut], 0, in_flight=frozenset(range(cut - 3, cut)))
    checkpoint = first.checkpoint()
    assert checkpoint is not None
    assert checkpoint.needed_offset <= checkpoint.position <= cut

    restored = PartitionWindows("t", 0, 2, T, HOP, checkpoint)
    again = run(restored, boards, checkpoint.needed_offset)
    after = {o: job for o, job in whole.items() if o >= checkpoint.position}
    assert again == after
    emitted_before_cut = {o for o, job in whole.items() if job is not None and cut - 3 <= o < cut}
    assert emitted_before_cut <= set(again)  # jobs lost in flight are made again
    for printer in ("P1", "P2"):
        assert restored._windowers[printer].to_state() == first_run_state(boards, printer)


def first_run_state(boards: list[BoardInspection], printer: str) -> dict[str, object]:
    windows = PartitionWindows("t", 0, 1, T, HOP)
    run(windows, boards, 0)
    return windows._windowers[printer].to_state()


def test_buffered_boards_hold_the_checkpoint_back() -> None:
    windows = PartitionWindows("t", 0, 1, T, HOP)
    for offset, b in enumerate([board("P1", 1), board("P1", 2)]):  # two of T=3 boards: no window yet
        windows.ledger.seen(offset)
        windows.push(b, SourceRef("t", 0, offset))
    checkpoint = windows.checkpoint()
    assert checkpoint is not None
    assert checkpoint.position == 2  # the window state carries both boards ...
    assert checkpoint.needed_offset == 0  # ... so their records must stay readable
    assert checkpoint.printers["P1"]["offsets"] == {"P1-1": 0, "P1-2": 1}
