"""The fast path (`schemas/fast_decode.py`) gives exactly the reference path's board or error.

Every test compares `parse_inspection` (fast path first) with `parse_reference` (json.loads and the
checks in order) on the same bytes: same board field by field, arrays bit for bit (dtype and the sign
of zero included), or the same `InvalidEvent` field and problem. Compact JSON is used throughout, the
form the fast path handles; `fast` asserts the fast path really produced the board.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.codec import inspection_to_json
from schemas.errors import InvalidEvent
from schemas.fast_decode import parse_decimals, parse_fast, rows_distinct
from schemas.inspection import BoardInspection
from schemas.validation import Limits, parse_inspection, parse_reference
from tests import hostile_events
from tests.unit.schemas.conftest import VALID_EVENT

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def compact(event: Any) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def outcome(parse: Any, raw: Any) -> BoardInspection | tuple[str, str]:
    try:
        return parse(raw, Limits())  # type: ignore[no-any-return]
    except InvalidEvent as exc:
        return (exc.field, exc.problem)


def assert_same_board(a: BoardInspection, b: BoardInspection) -> None:
    assert {k: v for k, v in vars(a).items() if k != "pads"} == {
        k: v for k, v in vars(b).items() if k != "pads"
    }
    for name, x in vars(a.pads).items():
        y = getattr(b.pads, name)
        if x is None or y is None:
            assert x is None, name
            assert y is None, name
            continue
        assert x.dtype == y.dtype, name
        assert x.shape == y.shape, name
        assert not x.flags.writeable, name
        if x.dtype.kind == "f":
            assert np.array_equal(x.view(np.uint64), y.view(np.uint64)), name  # bit for bit, -0.0 too
        else:
            assert np.array_equal(x, y), name


def same_outcome(raw: Any) -> BoardInspection | tuple[str, str]:
    """Fast-path-first and reference outcomes of `raw`, asserted equal; returns it."""
    got, want = outcome(parse_inspection, raw), outcome(parse_reference, raw)
    if isinstance(want, BoardInspection):
        assert isinstance(got, BoardInspection), got
        assert_same_board(got, want)
    else:
        assert got == want
    return got


def fast(raw: bytes) -> BoardInspection:
    board = parse_fast(raw, Limits())
    assert board is not None, "the fast path declined a valid compact event"
    assert_same_board(board, parse_reference(raw))
    return board


@pytest.fixture
def event() -> dict[str, Any]:
    return copy.deepcopy(VALID_EVENT)


# ------------------------------------------------------------------------------------ valid events
def test_simulated_boards_take_the_fast_path() -> None:
    fleet = simulate_fleet(FleetSpec(pads=300, boards_per_printer=2), seed=3)
    for board, _ in fleet:
        raw = inspection_to_json(board)
        assert_same_board(fast(raw), board)
        from_text = parse_fast(raw.decode(), Limits())  # str input takes it too
        assert from_text is not None
        assert_same_board(from_text, board)


def test_small_event_and_optional_columns(event: dict[str, Any]) -> None:
    fast(compact(event))
    del event["pads"]["offset_x_um"]
    event["pads"]["offset_y_um"] = None
    event["squeegee_direction"] = None
    board = fast(compact(event))
    assert board.pads.offset_x_um is None
    assert board.pads.offset_y_um is None


def test_surrounding_whitespace_and_str_input(event: dict[str, Any]) -> None:
    fast(b"  " + compact(event) + b"\n")
    assert parse_fast(compact(event).decode(), Limits()) is not None


def test_escaped_and_non_ascii_strings(event: dict[str, Any]) -> None:
    event["pads"]["pad_id"] = ["Ä1-1", 'C"1-2', "U1\\1"]
    event["board_id"] = "Bé-1"
    fast(json.dumps(event, separators=(",", ":")).encode())  # \u escapes
    fast(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())  # raw UTF-8


def test_number_forms_read_as_json_loads(event: dict[str, Any]) -> None:
    body = b"[-0,-0.0,0,1e2,1E-2,2.5e+1,0.30000000000000004,123456789012345678901e-18]"
    event["pads"]["pad_id"] = [f"p{i}" for i in range(8)]
    for name, values in event["pads"].items():
        event["pads"][name] = (values * 3)[:8]
    event["pads"]["offset_x_um"] = "HERE"
    text = compact(event).replace(b'"HERE"', body)
    board = fast(text)
    want = np.array(json.loads(body), dtype=np.float64)
    assert np.array_equal(board.pads.offset_x_um.view(np.uint64), want.view(np.uint64))
    assert not np.signbit(board.pads.offset_x_um[0])  # the integer -0 is 0 for json.loads
    assert np.signbit(board.pads.offset_x_um[1])  # -0.0 stays negative


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.floats(-1000, 1000, allow_nan=False),
            st.integers(-1000, 1000),
            st.decimals(-1000, 1000, allow_nan=False, allow_infinity=False, places=6),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_parse_decimals_matches_json_loads(values: list[Any]) -> None:
    body = ",".join(repr(v) if isinstance(v, float) else str(v) for v in values).encode()
    got = parse_decimals(body, len(values))
    want = np.array(json.loads(b"[" + body + b"]"), dtype=np.float64)
    assert got is not None
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))  # bit for bit


def test_parse_decimals_refuses_non_numbers() -> None:
    assert parse_decimals(b"1, 2", 2) is None  # whitespace is not part of a number
    assert parse_decimals(b"1.2.3", 1) is None


@SETTINGS
@given(
    st.lists(
        st.text(
            st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="\x7f"),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=30,
        unique=True,
    )
)
def test_any_printable_pad_ids(ids: list[str]) -> None:
    good = copy.deepcopy(VALID_EVENT)
    pads = good["pads"]
    for name in pads:
        pads[name] = [pads[name][i % 3] for i in range(len(ids))]
    pads["pad_id"] = ids
    for ensure_ascii in (True, False):
        raw = json.dumps(good, separators=(",", ":"), ensure_ascii=ensure_ascii).encode()
        if all(0x20 <= ord(c) < 0x7F or ord(c) >= 0xA0 for c in "".join(ids)):
            fast(raw)
        else:
            same_outcome(raw)


# -------------------------------------------------------------------------------- duplicate keys
def test_duplicate_top_level_key_is_rejected(event: dict[str, Any]) -> None:
    raw = compact(event)[:-1] + b',"board_id":"twin"}'
    assert parse_fast(raw, Limits()) is None
    assert same_outcome(raw) == ("board_id", "appears twice in one JSON object; send each key once")
    same_key_same_value = compact(event)[:-1] + b',"line_id":"L1"}'
    assert same_outcome(same_key_same_value)[0] == "line_id"  # type: ignore[index]


def test_duplicate_key_inside_pads_is_rejected(event: dict[str, Any]) -> None:
    raw = compact(event).replace(b'"shape":', b'"x_mm":[1,2,3],"shape":')
    assert parse_fast(raw, Limits()) is None
    assert same_outcome(raw) == ("x_mm", "appears twice in one JSON object; send each key once")
    twice_same = compact(event).replace(b'"shape":', b'"x_mm":[10.0,11.0,30.5],"shape":')
    assert same_outcome(twice_same)[0] == "x_mm"  # type: ignore[index]


def test_duplicate_key_nested_in_unknown_fields_is_rejected(event: dict[str, Any]) -> None:
    event["pads"]["extra"] = [{"a": 1}, 2, 3]
    raw = compact(event).replace(b'{"a":1}', b'{"a":1,"a":2}')
    assert same_outcome(raw) == ("a", "appears twice in one JSON object; send each key once")
    event["note"] = {"b": 1}
    raw = compact(event).replace(b'{"b":1}', b'{"b":1,"b":1}')
    assert same_outcome(raw)[0] in {"a", "b"}  # type: ignore[index]


def test_unknown_fields_without_duplicates_are_accepted(event: dict[str, Any]) -> None:
    event["pads"]["extra"] = [1, 2, 3]
    fast(compact(event))  # an unknown pad column without objects stays on the fast path
    event["note"] = {"source": "line 3"}
    assert isinstance(same_outcome(compact(event)), BoardInspection)  # unknown top-level: reference path


def test_escaped_key_is_not_mistaken_for_a_duplicate(event: dict[str, Any]) -> None:
    raw = compact(event).replace(b'"board_id"', b'"board\\u005fid"')
    assert isinstance(same_outcome(raw), BoardInspection)


# ----------------------------------------------------------------------------- rejections stay
@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"98.5", b"NaN"),
        (b"98.5", b"Infinity"),
        (b"98.5", b"1e400"),
        (b"98.5", b"1" * 400),
        (b"98.5", b'"98.5"'),
        (b"98.5", b"true"),
        (b"98.5", b"null"),
        (b"98.5", b"[98.5]"),
        (b"98.5", b"-1"),
        (b"0.5,0.5,0.3", b"0.5,0,0.3"),
        (b'"C1-2"', b'"C1-1"'),
        (b'"C1-2"', b'""'),
        (b'"C1-2"', b'"C1\\u00002"'),
        (b'"C1-2"', b'"C1\x7f2"'),
        (b'"C1-2"', b'"C1\\ud8002"'),
        (b'"C1-2"', b'"' + b"x" * 65 + b'"'),
        (b'"C1-2"', b"12"),
        (b'"C1-2",', b""),
        (b"98.5,", b""),
        (b'"e-1"', b'"e\\u0000"'),
        (b'"e-1"', b'"\xff"'),
        (b'"forward"', b'"sideways"'),
        (b"7", b"-7"),
        (b"7", b"7.5"),
        (b"7", b"1" * 5000),
        (b'"2024-05-01T08:30:00.125Z"', b'"2024-05-01 08:30"'),
        (b'"spi.board_inspection.v1"', b'"spi.board_inspection.v2"'),
    ],
)
def test_rejections_and_messages_match_the_reference(event: dict[str, Any], old: bytes, new: bytes) -> None:
    raw = compact(event)
    assert old in raw
    got = same_outcome(raw.replace(old, new, 1))
    assert not isinstance(got, BoardInspection)


def test_spi_result_and_component_ref(event: dict[str, Any]) -> None:
    event["pads"]["spi_result"] = ["pass", "warning", "fail"]
    event["pads"]["component_ref"] = ["C1", "C1", "U1"]
    fast(compact(event))
    event["pads"]["spi_result"] = ["pass", "warn", "fail"]
    assert same_outcome(compact(event)) == (
        "pads.spi_result[1]",
        "is 'warn'; send 'pass', 'warning' or 'fail'",
    )


def test_pad_limit_and_event_size(event: dict[str, Any]) -> None:
    raw = compact(event)
    assert same_outcome_limits(raw, Limits(max_pads=2))[0] == "pads.pad_id"
    assert same_outcome_limits(raw, Limits(max_event_bytes=len(raw) - 1))[0] == "event"


def same_outcome_limits(raw: bytes, limits: Limits) -> tuple[str, str]:
    def run(parse: Any) -> tuple[str, str]:
        with pytest.raises(InvalidEvent) as info:
            parse(raw, limits)
        return (info.value.field, info.value.problem)

    got = run(parse_inspection)
    assert got == run(parse_reference)
    return got


@settings(SETTINGS, max_examples=1000)
@given(st.integers(0, 2**32), st.integers(1, 4))
def test_random_byte_edits_give_the_reference_outcome(seed: int, edits: int) -> None:
    rng = random.Random(seed)
    good = copy.deepcopy(VALID_EVENT)
    good["pads"]["spi_result"] = ["pass", "fail", "pass"]
    raw = bytearray(compact(good))
    alphabet = b'0123456789-.eE,:[]{}"\\ux\x00\x7f\xff'
    for _ in range(edits):
        i = rng.randrange(len(raw))
        op = rng.randrange(3)
        if op == 0:
            raw[i] = rng.choice(alphabet)
        elif op == 1:
            del raw[i]
        else:
            raw.insert(i, rng.choice(alphabet))
    same_outcome(bytes(raw))


def test_hostile_records_in_compact_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostile_events, "_dumps", compact)
    records = hostile_events.hostile_records(copy.deepcopy(VALID_EVENT), random.Random(5), 400)
    outcomes = [same_outcome(record) for _, record in records if record is not None]
    assert sum(isinstance(got, BoardInspection) for got in outcomes) < 20  # some edits need json's spacing


# ---------------------------------------------------------------------------------- rows_distinct
def test_rows_distinct_hand_made() -> None:
    rows = np.array([[65, 66, 0], [65, 0, 0], [66, 65, 0]], dtype=np.uint8)  # "AB", "A", "BA"
    assert rows_distinct(rows)
    assert not rows_distinct(np.array([[65, 66], [67, 0], [65, 66]], dtype=np.uint8))


def test_repeated_pad_id_on_the_fast_path_names_both(event: dict[str, Any]) -> None:
    event["pads"]["pad_id"] = ["C1-1", "C1-2", "C1-1"]
    assert same_outcome(compact(event)) == (
        "pads.pad_id[2]",
        "repeats pads.pad_id[0] ('C1-1'); pad ids must be unique per board",
    )
