"""results.py: rows and the alarm message of a scored board, checked on a hand-made 3-pad board."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from crrn.scoring import BoardScores
from crrn.thresholds import Thresholds
from schemas.inspection import BoardInspection, PadArrays
from schemas.messages import alarm_id
from streams.worker.results import SourceRef, board_row, scored_result


def board() -> BoardInspection:
    n = 3
    pads = PadArrays(
        pad_id=np.array(["A", "B", "C"]),
        x_mm=np.array([1.0, 2.0, 3.0]),
        y_mm=np.array([4.0, 5.0, 6.0]),
        size_x_mm=np.ones(n),
        size_y_mm=np.ones(n),
        shape=np.array(["0402"] * n),
        volume_pct=np.array([150.0, 100.0, 40.0]),
        height_um=np.full(n, 120.0),
        area_pct=np.full(n, 100.0),
    )
    return BoardInspection("e1", "L1", "P1", "I1", "R1", "B1", 7, datetime(2024, 1, 1, tzinfo=UTC), pads)


def scores(b: BoardInspection) -> BoardScores:
    return BoardScores(
        board=b,
        score=np.array([3.0, 0.5, -4.0], dtype=np.float32),
        alarm=np.array([1, 0, -1], dtype=np.int8),
        model_version="m1",
        method="crrn",
        thresholds=Thresholds(2.0, -2.5),
    )


def test_scored_board_gives_summary_map_alarm_rows_and_one_message() -> None:
    b = board()
    result = scored_result(b, scores(b), SourceRef("t", 2, 41))
    row = result.board
    assert (row.status, row.n_excessive, row.n_insufficient, row.max_abs_score) == ("scored", 1, 1, 4.0)
    assert (row.source_topic, row.source_partition, row.source_offset, row.model_version) == (
        "t",
        2,
        41,
        "m1",
    )
    assert result.anomaly_map is not None
    assert result.anomaly_map.pad_ids == ["A", "B", "C"]
    assert result.anomaly_map.scores == [3.0, 0.5, -4.0]
    alarms = {(r.pad_id, r.kind, r.threshold, r.measured_volume_pct) for r in result.pad_alarms}
    assert alarms == {("A", "excessive", 2.0, 150.0), ("C", "insufficient", -2.5, 40.0)}
    msg = result.alarm_message
    assert msg is not None
    assert msg.alarm_id == alarm_id("e1", "m1")
    assert [(p.pad_id, p.kind) for p in msg.pads] == [("A", "excessive"), ("C", "insufficient")]


def test_board_without_alarms_has_no_message_and_unscored_rows_name_no_model() -> None:
    b = board()
    quiet = scores(b)
    quiet = BoardScores(**{**quiet.__dict__, "alarm": np.zeros(3, dtype=np.int8)})
    assert scored_result(b, quiet, SourceRef("t", 0, 0)).alarm_message is None
    row = board_row(b, SourceRef("t", 0, 0), "late")
    assert (row.status, row.model_version, row.max_abs_score, row.n_excessive) == ("late", None, None, 0)
