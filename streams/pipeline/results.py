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


@dataclass(frozen=True)
class DiagnosisStateRow:
    """A printer's `DefectPolicy.export_state()` after `last_print_index` (stored with those boards)."""

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
    diagnosis_states: list[DiagnosisStateRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.boards) + len(self.defects) + len(self.diagnosis_states)


def alarm_message(scores: BoardScores) -> PadAlarm | None:
    """The alarm message of a scored board (all its alarmed pads, stable alarm_id), or None without alarms.

    Built from `scores.alarm`, the scorer's final per-pad decision, so stored alarm rows (derived from
    this message) and the published message always agree."""
    s = scores
    return PadAlarm.for_board(s.board, s.score, s.thresholds, s.model_version, s.alarm)


def split_batch(batch: ResultBatch) -> list[ResultBatch] | None:
    """Two smaller batches whose union is `batch`, for finding what a store refuses; None when it cannot
    be split (one board and its alarm, or a printer's diagnosis rows alone).

    Boards first leave the printer-level rows (defects, diagnosis states), then halve; each board keeps
    its own alarm message. (Only on this failure path is a diagnosis state stored apart from its boards.)"""
    printer_rows = bool(batch.defects or batch.diagnosis_states)
    if batch.boards and printer_rows:
        boards_only = ResultBatch(boards=list(batch.boards), alarms=list(batch.alarms))
        diagnosis = ResultBatch(defects=list(batch.defects), diagnosis_states=list(batch.diagnosis_states))
        return [boards_only, diagnosis]
    if len(batch.boards) <= 1:
        return None
    half = len(batch.boards) // 2
    parts = []
    for boards in (batch.boards[:half], batch.boards[half:]):
        ids = {r.board.event_id for r in boards}
        parts.append(ResultBatch(boards=list(boards), alarms=[a for a in batch.alarms if a.event_id in ids]))
    return parts
