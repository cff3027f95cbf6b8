"""results.py: a board record pairs a board with its own scores; the alarm message of a scored board."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.scoring import BoardScores
from schemas.messages import alarm_id
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, alarm_message
from tests.unit.streams.hand_board import board, scores


def test_alarm_message_holds_every_alarmed_pad_with_a_stable_id() -> None:
    b = board()
    msg = alarm_message(scores(b))
    assert msg is not None
    assert msg.alarm_id == alarm_id("e1", "m1")
    assert [(p.pad_id, p.kind, p.score, p.volume_pct) for p in msg.pads] == [
        ("A", "excessive", 3.0, 150.0),
        ("C", "insufficient", -4.0, 40.0),
    ]
    quiet = BoardScores(**{**scores(b).__dict__, "alarm": np.zeros(3, dtype=np.int8)})
    assert alarm_message(quiet) is None


def test_board_record_needs_scores_exactly_when_scored_and_of_its_own_board() -> None:
    b, other = board(), board()
    src = SourceRef("t", 0, 1)
    with pytest.raises(ValueError, match="status 'scored'"):
        BoardRecord(b, src, "scored")
    with pytest.raises(ValueError, match="status 'late'"):
        BoardRecord(b, src, "late", scores(b))
    with pytest.raises(ValueError, match="paired with board"):
        BoardRecord(b, src, "scored", scores(other))
    assert BoardRecord(b, src, "scored", scores(b)).scores is not None
