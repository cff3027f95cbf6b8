"""Scores of a board -> what the pipeline stores and publishes (pure, no IO).

One scored board gives one `board_inspections` row, one `anomaly_maps` row, one `pad_alarms` row per
alarmed pad and at most one alarm message (all alarmed pads of the board, stable `alarm_id`). The
alarm rows and the message are built from the same `BoardScores.alarm` codes, so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crrn.scoring import BoardScores
from schemas.inspection import BoardInspection
from schemas.messages import DefectEvent, PadAlarm, alarm_id
from streams.db.writer import AnomalyMapRow, BoardRow, DefectRow, PadAlarmRow


@dataclass(frozen=True)
class SourceRef:
    """Where an input record came from."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class BoardResult:
    """Everything one board contributes to a result batch."""

    board: BoardRow
    anomaly_map: AnomalyMapRow | None
    pad_alarms: list[PadAlarmRow]
    alarm_message: PadAlarm | None


def board_row(
    board: BoardInspection, source: SourceRef, status: str, scores: BoardScores | None = None
) -> BoardRow:
    """The board summary row; scores give the counts, the max |score| and the model version."""
    n_exc = n_ins = 0
    max_abs: float | None = None
    if scores is not None:
        n_exc = int(np.count_nonzero(scores.alarm > 0))
        n_ins = int(np.count_nonzero(scores.alarm < 0))
        max_abs = float(np.max(np.abs(scores.score))) if scores.score.size else 0.0
    return BoardRow(
        event_id=board.event_id,
        printer_id=board.printer_id,
        line_id=board.line_id,
        inspector_id=board.inspector_id,
        recipe_id=board.recipe_id,
        board_id=board.board_id,
        print_index=board.print_index,
        inspected_at=board.inspected_at,
        squeegee_direction=board.squeegee_direction,
        n_pads=board.n_pads,
        status=status,
        model_version=None if scores is None else scores.model_version,
        n_excessive=n_exc,
        n_insufficient=n_ins,
        max_abs_score=max_abs,
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
    )


def scored_result(board: BoardInspection, scores: BoardScores, source: SourceRef) -> BoardResult:
    """Rows and alarm message of a scored board (pads in the board's own order)."""
    if scores.event_id != board.event_id:
        raise ValueError(f"scores of {scores.event_id} paired with board {board.event_id}")
    version = scores.model_version
    th = scores.thresholds
    hit = np.flatnonzero(scores.alarm)  # (A,) indexes of alarmed pads
    kinds = np.where(scores.alarm[hit] > 0, "excessive", "insufficient")  # (A,)
    limits = np.where(scores.alarm[hit] > 0, th.excessive, th.insufficient)  # (A,)
    aid = alarm_id(board.event_id, version)
    pad_ids = scores.pad_id[hit].tolist()
    score_hit = scores.score[hit].astype(float).tolist()
    vol_hit = board.pads.volume_pct[hit].astype(float).tolist()
    x_hit = board.pads.x_mm[hit].astype(float).tolist()
    y_hit = board.pads.y_mm[hit].astype(float).tolist()
    rows = [
        PadAlarmRow(
            alarm_id=aid,
            event_id=board.event_id,
            pad_id=str(pid),
            printer_id=board.printer_id,
            board_id=board.board_id,
            inspected_at=board.inspected_at,
            kind=str(kind),
            score=s,
            threshold=float(limit),
            measured_volume_pct=v,
            x_mm=x,
            y_mm=y,
            model_version=version,
        )
        for pid, kind, limit, s, v, x, y in zip(
            pad_ids, kinds, limits, score_hit, vol_hit, x_hit, y_hit, strict=True
        )
    ]
    message = PadAlarm.for_board(
        board, scores.score, th, version, scores.alarm
    )
    return BoardResult(
        board=board_row(board, source, "scored", scores),
        anomaly_map=AnomalyMapRow(
            event_id=board.event_id,
            model_version=version,
            scores=scores.score.astype(float).tolist(),
            pad_ids=scores.pad_id.tolist(),
        ),
        pad_alarms=rows,
        alarm_message=message,
    )


def defect_row(event: DefectEvent) -> DefectRow:
    return DefectRow(
        event_key=event.event_key,
        printer_id=event.printer_id,
        defect=event.defect,
        state=event.state,
        probability=event.probability,
        first_event_id=event.first_event_id,
        last_event_id=event.last_event_id,
        first_print_index=event.first_print_index,
        last_print_index=event.last_print_index,
        model_version=event.model_version,
    )
