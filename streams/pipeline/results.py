"""What one inference batch stores and publishes: typed results, built from the scores (pure, no IO).

The pipeline never copies a board's fields into rows: a `BoardRecord` carries the validated
`BoardInspection` itself (with its scores when it was scored), alarms are the `PadAlarm` messages that
go to the alarm topic, defects the `DefectEvent`s that go to the defect topic. The result store (e.g.
`streams/db/writer.py`) turns these into its own rows, so a stored alarm and a published one cannot
disagree: they are the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from crrn.scoring import BoardScores
from schemas.inspection import BoardInspection
from schemas.messages import DefectEvent, PadAlarm
from streams.pipeline.records import SourceRef

# scored | late | duplicate | unscored (pending in a window that never filled, or no model could score it)
BoardStatus = Literal["scored", "late", "duplicate", "unscored"]


@dataclass(frozen=True, eq=False)
class BoardRecord:
    """One board to store: where it came from, its status and, when scored, its scores."""

    board: BoardInspection
    source: SourceRef
    status: BoardStatus
    scores: BoardScores | None = None

    def __post_init__(self) -> None:
        if (self.status == "scored") != (self.scores is not None):
            raise ValueError(f"board {self.board.event_id}: status {self.status!r} with scores={self.scores}")
        if self.scores is not None and self.scores.board is not self.board:
            raise ValueError(f"scores of {self.scores.event_id} paired with board {self.board.event_id}")


# The per-printer stages whose state is stored with the boards it has seen: the defect policy
# (crrn/diagnosis/policy.py) and the process-alarm evidence (crrn/evidence.py).
StateKind = Literal["diagnosis", "evidence"]
STATE_KINDS: tuple[StateKind, ...] = ("diagnosis", "evidence")


@dataclass(frozen=True)
class PrinterStateRow:
    """A per-printer stage's `export_state()` after `last_print_index`, stored in the transaction of the
    boards it has seen; rows only move forward (a higher `last_print_index` replaces a lower one)."""

    kind: StateKind
    printer_id: str
    model_version: str
    last_print_index: int
    state: dict[str, Any]


@dataclass
class ResultBatch:
    """Everything one inference batch stores; a result store writes it in one transaction."""

    boards: list[BoardRecord] = field(default_factory=list)
    alarms: list[PadAlarm] = field(default_factory=list)
    defects: list[DefectEvent] = field(default_factory=list)
    printer_states: list[PrinterStateRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.boards) + len(self.defects) + len(self.printer_states)


def alarm_message(scores: BoardScores) -> PadAlarm | None:
    """The alarm message of a scored board (all its alarmed pads, stable alarm_id), or None without alarms.

    Built from `scores.alarm`, the scorer's final per-pad decision, so stored alarm rows (derived from
    this message) and the published message always agree."""
    s = scores
    return PadAlarm.for_board(
        s.board, s.score, s.thresholds, s.model_version, s.alarm,
        process=s.process, evidence=s.evidence, evidence_boards=s.evidence_boards,
        evidence_limit=s.evidence_limit, outlier=s.outlier if s.cluster is not None else None,
    )  # fmt: skip


def split_batch(batch: ResultBatch) -> list[ResultBatch] | None:
    """Two smaller batches whose union is `batch`, for finding what a store refuses; None when it cannot
    be split (one board and its alarm, or the printers' defect events and states alone).

    Boards first leave the printer-level rows (defect events, printer states), then halve; each board keeps
    its own alarm message. (Only on this failure path is a printer state stored apart from its boards.)"""
    printer_rows = bool(batch.defects or batch.printer_states)
    if batch.boards and printer_rows:
        boards_only = ResultBatch(boards=list(batch.boards), alarms=list(batch.alarms))
        states = ResultBatch(defects=list(batch.defects), printer_states=list(batch.printer_states))
        return [boards_only, states]
    if len(batch.boards) <= 1:
        return None
    half = len(batch.boards) // 2
    parts = []
    for boards in (batch.boards[:half], batch.boards[half:]):
        ids = {r.board.event_id for r in boards}
        parts.append(ResultBatch(boards=list(boards), alarms=[a for a in batch.alarms if a.event_id in ids]))
    return parts
