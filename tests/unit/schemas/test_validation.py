"""parse_inspection: valid events pass; each class of bad input is rejected naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.errors import InvalidEvent
from schemas.validation import Limits, parse_inspection, validate_lines

HANDWRITTEN = Path(__file__).parent / "data" / "handwritten.jsonl"


def reject(raw: Any, limits: Limits | None = None) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        parse_inspection(raw, limits or Limits())
    return info.value


def test_valid_event_from_bytes_str_and_dict(event: dict[str, Any]) -> None:
    for raw in (json.dumps(event).encode(), json.dumps(event), event):
        board = parse_inspection(raw)
        assert board.n_pads == 3
        assert board.pads.pad_id.tolist() == ["C1-1", "C1-2", "U1-1"]
        assert board.pads.volume_pct.dtype == np.float64
        assert board.pads.y_mm[2] == 20.0
        assert board.inspected_at.utcoffset() is not None
        assert board.inspected_at.microsecond == 125000
        assert board.squeegee_direction == "forward"


def test_optional_fields_may_be_absent(event: dict[str, Any]) -> None:
    del event["squeegee_direction"], event["pads"]["offset_x_um"], event["pads"]["offset_y_um"]
    event["extra_field"] = {"anything": 1}
    board = parse_inspection(event)
    assert board.squeegee_direction is None
    assert board.pads.offset_x_um is None


def test_arrays_are_read_only(event: dict[str, Any]) -> None:
    board = parse_inspection(event)
    with pytest.raises(ValueError, match="read-only"):
        board.pads.volume_pct[0] = 1.0


def test_handwritten_integrator_events_validate() -> None:
    results = list(validate_lines(HANDWRITTEN.read_bytes().splitlines()))
    assert [line for line, _ in results] == [1, 2]
    assert all(not isinstance(r, InvalidEvent) for _, r in results), results
    first = results[0][1]
    assert not isinstance(first, InvalidEvent)
    assert first.inspected_at.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b"{not json", "event", "not valid JSON"),
        (b"\xff\xfe{}", "event", "UTF-8"),
        ("[1, 2]", "event", "array"),
        ('"text"', "event", "string"),
        ('{"schema": "spi.board_inspection.v1", "schema": "x"}', "schema", "twice"),
    ],
)
def test_rejects_non_objects(raw: Any, field: str, words: str) -> None:
    err = reject(raw)
    assert err.field == field
    assert words in err.problem


def test_rejects_oversize_message() -> None:
    err = reject(b"{" + b" " * 100 + b"}", Limits(max_event_bytes=50))
    assert err.field == "event"
    assert "limit" in err.problem


def test_schema_version(event: dict[str, Any]) -> None:
    event["schema"] = "spi.board_inspection.v2"
    err = reject(event)
    assert err.field == "schema"
    assert "unknown version" in err.problem
    del event["schema"]
    assert reject(event).field == "schema"


@pytest.mark.parametrize(
    "name",
    [
        "event_id",
        "line_id",
        "printer_id",
        "inspector_id",
        "recipe_id",
        "board_id",
        "print_index",
        "inspected_at",
        "pads",
    ],
)
def test_missing_required_field(event: dict[str, Any], name: str) -> None:
    del event[name]
    err = reject(event)
    assert err.field == name
    assert "missing" in err.problem


@pytest.mark.parametrize(
    "name",
    ["pad_id", "x_mm", "y_mm", "size_x_mm", "size_y_mm", "shape", "volume_pct", "height_um", "area_pct"],
)
def test_missing_pad_array(event: dict[str, Any], name: str) -> None:
    del event["pads"][name]
    assert reject(event).field == f"pads.{name}"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"board_id": 42}, "board_id", "number"),
        ({"event_id": ""}, "event_id", "empty"),
        ({"line_id": "x" * 201}, "line_id", "201 characters"),
        ({"print_index": True}, "print_index", "boolean"),
        ({"print_index": -1}, "print_index", "-1"),
        ({"print_index": 1.5}, "print_index", "1.5"),
        ({"print_index": "3"}, "print_index", "string"),
        ({"inspected_at": "2024-05-01T08:30:00"}, "inspected_at", "timezone"),
        ({"inspected_at": "2024-05-01 08:30:00Z"}, "inspected_at", "RFC 3339"),
        ({"inspected_at": "2024-02-30T08:30:00Z"}, "inspected_at", "day is out of range"),
        ({"inspected_at": 1714552200}, "inspected_at", "number"),
        ({"squeegee_direction": "sideways"}, "squeegee_direction", "forward"),
        ({"pads": [1, 2]}, "pads", "array"),
    ],
)
def test_bad_top_level_values(event: dict[str, Any], change: dict[str, Any], field: str, words: str) -> None:
    event.update(change)
    err = reject(event)
    assert err.field == field
    assert words in err.problem


@pytest.mark.parametrize(
    ("name", "values", "field", "words"),
    [
        ("volume_pct", [98.5, float("nan"), 87.0], "pads.volume_pct[1]", "is NaN; send a finite number"),
        ("height_um", [120.0, 118.5, float("inf")], "pads.height_um[2]", "infinite"),
        ("volume_pct", [98.5, -0.1, 87.0], "pads.volume_pct[1]", "[0, 1000]"),
        ("volume_pct", [98.5, 1000.5, 87.0], "pads.volume_pct[1]", "[0, 1000]"),
        ("height_um", [120.0, 2500.0, 1.0], "pads.height_um[1]", "[0, 2000]"),
        ("area_pct", [-1.0, 1.0, 1.0], "pads.area_pct[0]", "[0, 1000]"),
        ("size_x_mm", [0.5, 0.0, 0.3], "pads.size_x_mm[1]", "(0, 100]"),
        ("size_y_mm", [0.5, 0.5, 101.0], "pads.size_y_mm[2]", "(0, 100]"),
        ("x_mm", [10.0, 1000.1, 3.0], "pads.x_mm[1]", "[-1000, 1000]"),
        ("y_mm", [-1000.5, 1.0, 3.0], "pads.y_mm[0]", "[-1000, 1000]"),
        ("offset_x_um", [0.0, 0.0, 6000.0], "pads.offset_x_um[2]", "[-5000, 5000]"),
        ("volume_pct", [98.5, True, 87.0], "pads.volume_pct[1]", "boolean"),
        ("volume_pct", [98.5, "101", 87.0], "pads.volume_pct[1]", "string"),
        ("volume_pct", [98.5, None, 87.0], "pads.volume_pct[1]", "null"),
        ("volume_pct", [98.5, 87.0], "pads.volume_pct", "has 2 values but pads.pad_id has 3"),
        ("x_mm", 5.0, "pads.x_mm", "send an array"),
        ("pad_id", ["C1-1", "U1-1", "C1-1"], "pads.pad_id[2]", "repeats pads.pad_id[0]"),
        ("pad_id", ["C1-1", 7, "U1-1"], "pads.pad_id[1]", "number"),
        ("pad_id", ["C1-1", "", "U1-1"], "pads.pad_id[1]", "empty"),
        ("shape", ["a", "b", "s" * 201], "pads.shape[2]", "201 characters"),
        ("pad_id", [], "pads.pad_id", "at least one pad"),
    ],
)
def test_bad_pad_arrays(event: dict[str, Any], name: str, values: Any, field: str, words: str) -> None:
    event["pads"][name] = values
    err = reject(json.dumps(event))  # through the JSON text, as the stream receives it
    assert err.field == field
    assert words in err.problem
    assert str(err) == f"{field}: {err.problem}"


def test_too_many_pads(event: dict[str, Any]) -> None:
    err = reject(event, Limits(max_pads=2))
    assert err.field == "pads.pad_id"
    assert "limit is 2" in err.problem


def test_large_integer_does_not_crash(event: dict[str, Any]) -> None:
    event["pads"]["x_mm"] = [10**400, 1, 2]
    assert reject(event).field.startswith("pads.x_mm")


def test_numpy_arrays_in_dict_are_checked(event: dict[str, Any]) -> None:
    event["pads"]["volume_pct"] = np.array([1.0, np.nan, 2.0])
    assert reject(event).field == "pads.volume_pct[1]"
    event["pads"]["volume_pct"] = np.array([True, False, True])
    assert "boolean" in reject(event).problem
    event["pads"]["volume_pct"] = np.array([1, 2, 3], dtype=np.int32)
    assert parse_inspection(event).pads.volume_pct.tolist() == [1.0, 2.0, 3.0]


def test_validate_lines_reports_line_numbers(event: dict[str, Any]) -> None:
    good = json.dumps(event)
    event["pads"]["volume_pct"][0] = -5
    lines = [good, "", json.dumps(event), "oops"]
    results = [(n, isinstance(r, InvalidEvent)) for n, r in validate_lines(lines)]
    assert results == [(1, False), (3, True), (4, True)]


UNSTORABLE = ["\x00", "\x01", "\t", "\n", "\x1f", "\x7f", "\x80", "\x9f", "\ud800", "\udfff"]


@pytest.mark.parametrize(
    "name", ["event_id", "line_id", "printer_id", "inspector_id", "recipe_id", "board_id"]
)
@pytest.mark.parametrize("char", UNSTORABLE)
def test_ids_with_unstorable_characters_are_rejected(event: dict[str, Any], name: str, char: str) -> None:
    event[name] = f"ab{char}cd"
    err = reject(json.dumps(event))  # json.dumps escapes them: \u0000, \ud800 as the stream receives
    assert err.field == name
    assert f"U+{ord(char):04X} at character 2" in err.problem
    assert "send printable UTF-8 text" in err.problem


@pytest.mark.parametrize("name", ["pad_id", "shape"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x85", "\udc00"])
def test_pad_strings_with_unstorable_characters_name_the_pad(
    event: dict[str, Any], name: str, char: str
) -> None:
    event["pads"][name] = ["C1-1", "C1-2", "U1-1"] if name == "pad_id" else ["a", "bb", "cc"]
    event["pads"][name][2] = "xy" + char  # a trailing NUL too: numpy would silently strip it
    err = reject(json.dumps(event))
    assert err.field == f"pads.{name}[2]"
    assert f"U+{ord(char):04X} at character 2" in err.problem


def test_unstorable_character_located_on_a_large_board() -> None:
    n = 50_000
    pads = {
        "pad_id": [f"P{i}" for i in range(n)],
        "x_mm": [0.0] * n, "y_mm": [0.0] * n, "size_x_mm": [1.0] * n, "size_y_mm": [1.0] * n,
        "shape": ["chip"] * n, "volume_pct": [100.0] * n, "height_um": [100.0] * n, "area_pct": [100.0] * n,
    }  # fmt: skip
    pads["pad_id"][31_337] = "P31\x00337"
    event = {"schema": "spi.board_inspection.v1", "print_index": 1, "inspected_at": "2024-05-01T08:30:00Z"}
    event |= {name: "x" for name in ("event_id", "line_id", "printer_id", "inspector_id", "recipe_id")}
    event |= {"board_id": "b", "pads": pads}
    err = reject(json.dumps(event))
    assert err.field == "pads.pad_id[31337]"
    assert "U+0000 at character 3" in err.problem


def test_numpy_string_columns_are_checked(event: dict[str, Any]) -> None:
    event["pads"]["shape"] = np.array(["a", "b\x07", "c"])
    assert reject(event).field == "pads.shape[1]"


def test_printable_unicode_ids_pass(event: dict[str, Any]) -> None:
    event["board_id"] = "Platine-Ü-板-\U0001f600 ' OR 1=1; --"
    event["pads"]["pad_id"] = ["C1-1", "C1-2", "U1-1 ä"]
    board = parse_inspection(json.dumps(event))
    assert board.board_id == event["board_id"]
    assert board.pads.pad_id[2] == "U1-1 ä"


def test_length_limits(event: dict[str, Any]) -> None:
    event["board_id"] = "b" * 128
    event["pads"]["pad_id"] = ["p" * 64, "C1-2", "U1-1"]
    assert parse_inspection(event).board_id == "b" * 128
    event["board_id"] = "b" * 129
    err = reject(event)
    assert (err.field, err.problem) == ("board_id", "has 129 characters; the limit is 128; send a shorter id")
    event["board_id"] = "b"
    event["pads"]["pad_id"][1] = "p" * 65
    assert reject(event).field == "pads.pad_id[1]"


def test_deep_nesting_is_an_invalid_event(event: dict[str, Any]) -> None:
    for raw in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        err = reject(raw)
        assert (err.field, "nested too deeply" in err.problem) == ("event", True)
    text = json.dumps(event)[:-1] + ', "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert "nested too deeply" in reject(text).problem


def test_integer_literal_too_long_for_python_is_an_invalid_event(event: dict[str, Any]) -> None:
    text = json.dumps(event).replace('"print_index": 7', '"print_index": ' + "9" * 5000)
    err = reject(text)
    assert err.field == "event"
    assert "refuses" in err.problem


def test_huge_values_are_not_echoed(event: dict[str, Any]) -> None:
    for name, value in (("schema", "v" * 1_000_000), ("squeegee_direction", "s" * 1_000_000)):
        err = reject(dict(event, **{name: value}))
        assert err.field == name
        assert len(err.problem) < 200
    err = reject(dict(event, print_index=10**5000))
    assert "integer of" in err.problem


def test_timestamp_with_trailing_newline_is_rejected(event: dict[str, Any]) -> None:
    event["inspected_at"] = "2024-05-01T08:30:00Z\n"
    assert reject(event).field == "inspected_at"


def test_pad_count_checked_before_other_columns_are_converted(event: dict[str, Any]) -> None:
    event["pads"]["volume_pct"] = ["not a number"] * 10  # a wrong length is reported, not the type
    err = reject(event)
    assert err.field == "pads.volume_pct"
    assert "has 10 values" in err.problem


def test_oversize_message_is_rejected_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    import schemas.reference_decode as validation

    def no_decode(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("json.loads ran on an oversize message")

    monkeypatch.setattr(validation.json, "loads", no_decode)
    raw = b"[" * (Limits().max_event_bytes + 1)  # one byte over 16 MiB: the broker's limit
    err = reject(raw)
    assert (err.field, err.problem) == ("event", f"has {len(raw)} bytes; the limit is {16 * 2**20}")


def test_pad_count_is_rejected_before_arrays_are_built(
    event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import schemas.reference_decode as validation

    n = Limits().max_pads + 1
    event["pads"] = {name: ["x"] * n for name in event["pads"]}

    def no_arrays(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a numpy array was built for an event with too many pads")

    monkeypatch.setattr(validation.np, "array", no_arrays)
    monkeypatch.setattr(validation.np, "fromiter", no_arrays)
    err = reject(event)
    assert (err.field, err.problem) == ("pads.pad_id", f"has {n} pads; the limit is 100000 per board")


def test_duplicate_hostile_keys_are_quoted_in_the_field() -> None:
    long_key = "k" * 10_000
    err = reject(f'{{"{long_key}": 1, "{long_key}": 2}}')
    assert len(err.field) < 100
    assert err.field.startswith("'kkk")
    err = reject('{"a\\u0000": 1, "a\\u0000": 2}')
    assert err.field == "'a\\x00'"
    assert "twice" in err.problem
