"""The JSON Schema documents agree with the validators on valid and invalid examples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from schemas.errors import InvalidEvent
from schemas.json_schema import SCHEMA_NAMES, load_json_schema
from schemas.messages import DeadLetter, PadAlarm, Thresholds
from schemas.validation import parse_inspection

HANDWRITTEN = Path(__file__).parent / "data" / "handwritten.jsonl"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_json_schema(name))


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_documents_are_valid_draft_2020_12(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(load_json_schema(name))


def _variant(event: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    target = event
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return event


# (path, value): `...` deletes the key. Each case is either valid for both or invalid for both.
CASES = [
    ((("squeegee_direction",), ...), True),
    ((("pads", "offset_x_um"), ...), True),
    ((("extra",), 1), True),
    ((("print_index",), 0), True),
    ((("inspected_at",), "2024-05-01T10:00:00+05:30"), True),
    ((("schema",), "spi.board_inspection.v2"), False),
    ((("board_id",), ...), False),
    ((("board_id",), 5), False),
    ((("event_id",), ""), False),
    ((("line_id",), "x" * 201), False),
    ((("print_index",), -1), False),
    ((("print_index",), True), False),
    ((("print_index",), 1.5), False),
    ((("inspected_at",), "2024-05-01T10:00:00"), False),
    ((("inspected_at",), "yesterday"), False),
    ((("squeegee_direction",), "up"), False),
    ((("pads", "volume_pct"), [1.0, -1.0, 2.0]), False),
    ((("pads", "volume_pct"), [1.0, True, 2.0]), False),
    ((("pads", "volume_pct"), [1.0, "2", 2.0]), False),
    ((("pads", "height_um"), [1.0, 2001.0, 2.0]), False),
    ((("pads", "size_x_mm"), [0.0, 1.0, 1.0]), False),
    ((("pads", "x_mm"), [0.0, 1000.5, 1.0]), False),
    ((("pads", "shape"), ["a", "", "b"]), False),
    ((("pads", "area_pct"), ...), False),
    ((("pads",), []), False),
]


@pytest.mark.parametrize(("change", "valid"), CASES)
def test_board_schema_agrees_with_parse_inspection(
    event: dict[str, Any], change: tuple[tuple[str, ...], Any], valid: bool
) -> None:
    event = _variant(event, *change)
    schema_ok = _validator("spi.board_inspection.v1").is_valid(event)
    try:
        parse_inspection(json.dumps(event))
        parser_ok = True
    except InvalidEvent:
        parser_ok = False
    assert (schema_ok, parser_ok) == (valid, valid)


def test_handwritten_events_match_the_schema() -> None:
    validator = _validator("spi.board_inspection.v1")
    for line in HANDWRITTEN.read_text().splitlines():
        validator.validate(json.loads(line))


def test_outgoing_messages_match_their_schemas(event: dict[str, Any]) -> None:
    board = parse_inspection(event)
    alarm = PadAlarm.for_board(board, np.array([9.0, 0.0, -9.0]), Thresholds(3.0, -3.0), "m1")
    assert alarm is not None
    _validator("spi.pad_alarm.v1").validate(json.loads(alarm.to_json()))
    letter = DeadLetter.from_error(b"x", InvalidEvent("event", "bad"), "t", 0, 1, board.inspected_at)
    _validator("spi.dead_letter.v1").validate(json.loads(letter.to_json()))
    assert not _validator("spi.pad_alarm.v1").is_valid(json.loads(alarm.to_json()) | {"pads": []})


def test_pad_alarm_schema_takes_the_optional_evidence_fields(event: dict[str, Any]) -> None:
    board = parse_inspection(event)
    msg = PadAlarm.for_board(
        board, np.array([9.0, 1.0, 0.0]), Thresholds(3.0, -3.0), "m1", np.array([1, 1, 0], dtype=np.int8),
        process=np.array([0, 1, 0], dtype=np.int8), evidence=np.array([0.5, 7.0, 0.0]),
        evidence_boards=np.array([1, 5, 0]), evidence_limit=6.0,
    )  # fmt: skip
    assert msg is not None
    wire = json.loads(msg.to_json())
    validator = _validator("spi.pad_alarm.v1")
    validator.validate(wire)
    assert [p["alarm_type"] for p in wire["pads"]] == ["board_outlier", "process"]
    pad = wire["pads"][1]
    for field, bad in (("alarm_type", "drift"), ("evidence_boards", -1), ("evidence_boards", 1.5),
                       ("evidence_limit", 0), ("evidence", "7")):  # fmt: skip
        assert not validator.is_valid(wire | {"pads": [pad | {field: bad}]}), field
