"""PadAlarm, DefectEvent, DeadLetter: round trips, stable ids, rejected fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from schemas.errors import InvalidEvent
from schemas.messages import (
    DeadLetter,
    DefectEvent,
    PadAlarm,
    Thresholds,
    alarm_id,
    defect_event_key,
)
from schemas.validation import parse_inspection

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def test_alarm_id_is_stable_and_distinct() -> None:
    assert alarm_id("e-1", "m1") == alarm_id("e-1", "m1")
    assert alarm_id("e-1", "m1") != alarm_id("e-1", "m2")
    assert alarm_id("e-1", "m1") != alarm_id("e-2", "m1")
    assert defect_event_key("P1", "clamp", "raised", "e-1", "m1") != defect_event_key(
        "P1", "clamp", "cleared", "e-1", "m1"
    )


def test_pad_alarm_for_board_picks_pads_by_signed_thresholds(event: dict[str, Any]) -> None:
    board = parse_inspection(event)
    scores = np.array([3.5, -0.2, -4.0])  # excessive, normal, insufficient
    alarm = PadAlarm.for_board(board, scores, Thresholds(3.0, -3.0), "m1")
    assert alarm is not None
    assert [(p.pad_id, p.kind) for p in alarm.pads] == [("C1-1", "excessive"), ("U1-1", "insufficient")]
    assert alarm.pads[1].volume_pct == 87.0
    assert alarm.pads[1].x_mm == 30.5
    assert alarm.alarm_id == alarm_id("e-1", "m1")
    assert PadAlarm.for_board(board, np.zeros(3), Thresholds(3.0, -3.0), "m1") is None


def test_pad_alarm_round_trip(event: dict[str, Any]) -> None:
    alarm = PadAlarm.for_board(
        parse_inspection(event), np.array([5.0, 0.0, 0.0]), Thresholds(2.0, -2.5), "m1"
    )
    assert alarm is not None
    assert PadAlarm.from_dict(json.loads(alarm.to_json())) == alarm


def test_defect_event_round_trip_and_checks() -> None:
    event = DefectEvent(
        event_key=defect_event_key("P1", "support", "raised", "e-1", "m1"),
        printer_id="P1",
        defect="support",
        state="raised",
        probability=0.93,
        first_event_id="e-1",
        last_event_id="e-9",
        first_print_index=1,
        last_print_index=9,
        model_version="m1",
        emitted_at=NOW,
    )
    assert DefectEvent.from_dict(json.loads(event.to_json())) == event
    bad = event.to_dict() | {"defect": "gremlins"}
    with pytest.raises(InvalidEvent) as info:
        DefectEvent.from_dict(bad)
    assert info.value.field == "defect"
    with pytest.raises(InvalidEvent, match="probability"):
        DefectEvent.from_dict(event.to_dict() | {"probability": 1.5})


def test_dead_letter_keeps_original_bytes() -> None:
    raw = b'\xff{"not": json'
    letter = DeadLetter.from_error(raw, InvalidEvent("event", "is not UTF-8"), "spi.inspections", 2, 41, NOW)
    again = DeadLetter.from_dict(json.loads(letter.to_json()))
    assert again == letter
    assert again.original == raw
    assert again.error_field == "event"


def test_thresholds_must_have_signs() -> None:
    with pytest.raises(InvalidEvent, match=r"thresholds\.insufficient"):
        Thresholds(3.0, 3.0)


def test_pad_alarm_tells_board_outliers_from_process_alarms(event: dict[str, Any]) -> None:
    board = parse_inspection(event)
    scores = np.array([3.5, 1.2, -0.4])  # pad 0 a board outlier; pad 1 inside the thresholds
    alarm_codes = np.array([1, 1, 0], dtype=np.int8)  # pad 1 alarmed by its evidence over boards
    msg = PadAlarm.for_board(
        board, scores, Thresholds(3.0, -3.0), "m1", alarm_codes,
        process=np.array([1, 1, 0], dtype=np.int8), evidence=np.array([6.5, 5.25, -1.0]),
        evidence_boards=np.array([4, 3, 1]), evidence_limit=5.0,
    )  # fmt: skip
    assert msg is not None
    assert [(p.pad_id, p.kind, p.alarm_type) for p in msg.pads] == [
        ("C1-1", "excessive", "board_outlier"),
        ("C1-2", "excessive", "process"),
    ]
    assert [(p.evidence, p.evidence_boards, p.evidence_limit) for p in msg.pads] == [
        (6.5, 4, 5.0),
        (5.25, 3, 5.0),
    ]
    wire = json.loads(msg.to_json())
    assert wire["pads"][1]["alarm_type"] == "process"
    assert PadAlarm.from_dict(wire) == msg


def test_pad_alarm_optional_fields_stay_optional(event: dict[str, Any]) -> None:
    old = PadAlarm.for_board(parse_inspection(event), np.array([5.0, 0.0, 0.0]), Thresholds(2.0, -2.5), "m1")
    assert old is not None
    wire = json.loads(old.to_json())
    assert set(wire["pads"][0]) == {"pad_id", "x_mm", "y_mm", "kind", "score", "volume_pct"}  # as before
    back = PadAlarm.from_dict(wire)
    assert back.pads[0].alarm_type is None
    assert back.pads[0].evidence_boards is None
    for field, bad in (("alarm_type", "drift"), ("evidence_boards", -1), ("evidence_limit", 0.0)):
        with pytest.raises(InvalidEvent, match=f"pads\\[0\\].{field}"):
            PadAlarm.from_dict(wire | {"pads": [wire["pads"][0] | {field: bad}]})
