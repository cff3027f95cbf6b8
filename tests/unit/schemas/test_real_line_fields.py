"""The optional fields real inspections carry (issue 13): validated, round-tripped, in the JSON Schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import numpy as np
import pytest

from schemas.codec import inspection_to_dict, inspection_to_json
from schemas.errors import InvalidEvent
from schemas.json_schema import load_json_schema
from schemas.validation import parse_inspection

EXTRA_TOP = {"barcode": "SN-000123", "panel_position": 3, "stencil_id": "ST-7", "prints_since_cleaning": 0}
EXTRA_PADS = {"component_ref": ["C1", "C1", "U1"], "spi_result": ["pass", "warning", "fail"]}


def _full(event: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(event) | EXTRA_TOP
    event["pads"] |= EXTRA_PADS
    return event


def test_fields_are_read_and_round_trip(event: dict[str, Any]) -> None:
    board = parse_inspection(json.dumps(_full(event)))
    assert (board.barcode, board.panel_position, board.stencil_id, board.prints_since_cleaning) == (
        "SN-000123",
        3,
        "ST-7",
        0,
    )
    assert board.pads.component_ref is not None
    assert board.pads.component_ref.tolist() == ["C1", "C1", "U1"]
    assert board.pads.spi_result is not None
    assert board.pads.spi_result.dtype.kind == "U"
    assert not board.pads.spi_result.flags.writeable
    again = parse_inspection(inspection_to_json(board))
    assert inspection_to_dict(again) == inspection_to_dict(board)
    assert inspection_to_dict(board)["pads"]["spi_result"] == ["pass", "warning", "fail"]


def test_absent_or_null_means_unknown(event: dict[str, Any]) -> None:
    board = parse_inspection(event | {"barcode": None, "panel_position": None})
    assert board.barcode is None
    assert board.panel_position is None
    assert board.prints_since_cleaning is None
    assert board.pads.component_ref is None
    assert board.pads.spi_result is None
    assert "barcode" not in inspection_to_dict(board)
    assert "spi_result" not in inspection_to_dict(board)["pads"]


def test_numpy_columns_from_producers(event: dict[str, Any]) -> None:
    event["pads"]["component_ref"] = np.array(["R1", "R1", "U2"])
    event["pads"]["spi_result"] = np.array(["pass", "pass", "fail"])
    board = parse_inspection(event)
    assert board.pads.spi_result is not None
    assert board.pads.spi_result[2] == "fail"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"barcode": ""}, "barcode", "empty"),
        ({"barcode": 12}, "barcode", "number"),
        ({"stencil_id": "x" * 201}, "stencil_id", "limit"),
        ({"panel_position": 0}, "panel_position", "[1, 10000]"),
        ({"panel_position": 1.5}, "panel_position", "integer"),
        ({"panel_position": True}, "panel_position", "boolean"),
        ({"prints_since_cleaning": -1}, "prints_since_cleaning", "[0,"),
        ({"prints_since_cleaning": "3"}, "prints_since_cleaning", "string"),
    ],
)
def test_bad_context_values(event: dict[str, Any], change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_inspection(event | change)
    assert err.value.field == field
    assert words in err.value.problem


@pytest.mark.parametrize(
    ("name", "values", "field", "words"),
    [
        ("spi_result", ["pass", "PASS", "fail"], "pads.spi_result[1]", "'pass', 'warning' or 'fail'"),
        ("spi_result", ["pass", "fail"], "pads.spi_result", "equal-length"),
        ("spi_result", ["pass", 1, "fail"], "pads.spi_result[1]", "number"),
        ("component_ref", ["C1", "", "U1"], "pads.component_ref[1]", "empty"),
        ("component_ref", "C1", "pads.component_ref", "array"),
    ],
)
def test_bad_pad_values(event: dict[str, Any], name: str, values: Any, field: str, words: str) -> None:
    event["pads"][name] = values
    with pytest.raises(InvalidEvent) as err:
        parse_inspection(event)
    assert err.value.field == field
    assert words in err.value.problem


# Each case is valid for both the JSON Schema and the reader, or invalid for both.
SCHEMA_CASES = [
    ({}, {}, True),
    (EXTRA_TOP, EXTRA_PADS, True),
    ({"barcode": None, "stencil_id": None, "panel_position": None, "prints_since_cleaning": None}, {}, True),
    ({}, {"component_ref": None, "spi_result": None}, True),
    ({"barcode": ""}, {}, False),
    ({"panel_position": 0}, {}, False),
    ({"panel_position": 10001}, {}, False),
    ({"prints_since_cleaning": -1}, {}, False),
    ({"stencil_id": 5}, {}, False),
    ({}, {"spi_result": ["pass", "ok", "fail"]}, False),
    ({}, {"component_ref": ["C1", 2, "U1"]}, False),
    ({}, {"spi_result": []}, False),
]


@pytest.mark.parametrize(("top", "pads", "valid"), SCHEMA_CASES)
def test_json_schema_agrees(
    event: dict[str, Any], top: dict[str, Any], pads: dict[str, Any], valid: bool
) -> None:
    event = copy.deepcopy(event) | top
    event["pads"] |= pads
    schema_ok = jsonschema.Draft202012Validator(load_json_schema("spi.board_inspection.v1")).is_valid(event)
    try:
        parse_inspection(json.dumps(event))
        parser_ok = True
    except InvalidEvent:
        parser_ok = False
    assert (schema_ok, parser_ok) == (valid, valid)
