"""Hostile input at volume (#12): 10,000 generated malformed events through the one validator.

Each test below runs its generator for a fixed number of examples (derandomized, so CI sees the same
events every run) and checks the validator's contract on every one of them:
- it returns a `BoardInspection` or raises `InvalidEvent`; nothing else escapes;
- a rejection names a non-empty field and a non-empty, bounded problem (it becomes a dead letter);
- a survivor holds only storable text (UTF-8 encodable, no control characters), matches the JSON Schema
  and round-trips through `schemas/codec.py` unchanged.
The counts add up to 10,000 examples (4,500 mutations of valid events, 1,500 byte-level corruptions, 1,200
unstorable strings, 1,000 random JSON documents and deep nesting, 1,000 oversize events, 800 valid events
of any printable text); the file runs in about 25 s on two cores.
"""

from __future__ import annotations

import copy
import json
import random
import unicodedata
from collections.abc import Callable
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import inspection_to_dict, inspection_to_json
from schemas.errors import InvalidEvent
from schemas.inspection import BoardInspection
from schemas.json_schema import load_json_schema
from schemas.validation import ID_FIELDS, OPTIONAL_PAD_FIELDS, REQUIRED_PAD_FIELDS, Limits, parse_inspection
from tests.hostile_events import PRINTABLE, SQL_LOOKING, UNSTORABLE, hostile_records, too_many_pads

SCHEMA = jsonschema.Draft202012Validator(load_json_schema("spi.board_inspection.v1"))
PAD_FIELDS = (*REQUIRED_PAD_FIELDS, *OPTIONAL_PAD_FIELDS)
TOP_FIELDS = ("schema", *ID_FIELDS, "print_index", "inspected_at", "squeegee_direction", "pads")
MAX_PROBLEM_CHARS = 1000  # a dead letter's reason stays small whatever the input


def run(strategy: st.SearchStrategy[Any], examples: int, check: Callable[[Any], None]) -> int:
    """Run `check` on `examples` derandomized examples of `strategy`; return how many ran."""
    seen = [0]

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def inner(value: Any) -> None:
        seen[0] += 1
        check(value)

    inner()
    return seen[0]


def storable(text: str) -> bool:
    text.encode("utf-8")  # raises on a lone surrogate
    return not any(unicodedata.category(c) == "Cc" for c in text)


def survives_or_rejects(raw: Any, limits: Limits | None = None) -> BoardInspection | InvalidEvent:
    """The contract on one input; returns what the validator gave."""
    try:
        board = parse_inspection(raw, limits or Limits())
    except InvalidEvent as exc:
        err = exc
    else:
        err = None
    if err is not None:
        assert isinstance(err.field, str), err
        assert err.field, err
        assert len(err.field) <= 100, err.field[:200]
        assert isinstance(err.problem, str), err
        assert err.problem, err
        assert len(err.problem) <= MAX_PROBLEM_CHARS, err.problem[:200]
        return err
    for name in ID_FIELDS:
        assert storable(getattr(board, name))
    for column in (board.pads.pad_id, board.pads.shape):
        assert storable("".join(column.tolist()))
    wire = inspection_to_json(board)
    assert SCHEMA.is_valid(json.loads(wire))
    again = parse_inspection(wire)
    assert inspection_to_dict(again) == inspection_to_dict(board)
    return board


# --------------------------------------------------------------------------- hostile building blocks
SCHEMA_VERSIONS = [
    "spi.board_inspection.v2",
    "spi.board_inspection.v0",
    "SPI.BOARD_INSPECTION.V1",
    "spi.board_inspection.v1 ",
    "",
    "spi.pad_alarm.v1",
]
hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=20),
    st.builds(
        lambda a, c, b: a + c + b, st.text(max_size=8), st.sampled_from(UNSTORABLE), st.text(max_size=8)
    ),
    st.sampled_from(SQL_LOOKING),
    st.sampled_from(SCHEMA_VERSIONS),
    st.integers(60, 140).map(lambda n: "x" * n),  # around the 64 / 128 character limits
    st.sampled_from(["forward", "backward", "2024-05-01T08:30:00Z", "2024-13-01T08:30:00Z", "NaN"]),
)
hostile_scalar = st.one_of(
    hostile_text,
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 3, max_value=2**64),
    st.sampled_from([10**400, -(10**400), 2**53 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 5e-324]),
)
hostile_value = st.recursive(
    hostile_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=6,
)


def _valid_event(seed: int) -> dict[str, Any]:
    """A valid event with 1-12 pads from a seed: ids of any printable text, SQL-looking ones too.

    Built with `random.Random(seed)` rather than one Hypothesis draw per value: the draws would make
    generation, not validation, the cost of this file.
    """
    rng = random.Random(seed)
    n = rng.randint(1, 12)

    def text(max_chars: int) -> str:
        if rng.random() < 0.2:
            return rng.choice(SQL_LOOKING)
        return "".join(rng.choices(PRINTABLE, k=rng.randint(1, max_chars)))

    def numbers(lo: float, hi: float) -> list[float | int]:
        return [
            rng.uniform(lo, hi) if rng.random() < 0.8 else rng.randint(int(lo) + 1, int(hi)) for _ in range(n)
        ]

    pad_ids = list(dict.fromkeys(text(64) for _ in range(n)))  # unique, in order
    n = len(pad_ids)
    event: dict[str, Any] = {"schema": "spi.board_inspection.v1"}
    event |= {name: text(128) for name in ID_FIELDS}
    event["print_index"] = rng.choice([0, 1, rng.randint(0, 2**63 - 1), 2**63 - 1])
    event["inspected_at"] = rng.choice(["2024-05-01T08:30:00.125Z", "2024-05-01T10:00:00+05:30"])
    if rng.random() < 0.5:
        event["squeegee_direction"] = rng.choice(["forward", "backward", None])
    event["pads"] = {
        "pad_id": pad_ids,
        "x_mm": numbers(-1000, 1000),
        "y_mm": numbers(-1000, 1000),
        "size_x_mm": numbers(0.001, 100),
        "size_y_mm": numbers(0.001, 100),
        "shape": [rng.choice(["chip-0402", "QFP-0.5", "BGA 0.8 'x'", "Ü"]) for _ in range(n)],
        "volume_pct": numbers(0, 1000),
        "height_um": numbers(0, 2000),
        "area_pct": numbers(0, 1000),
    }
    if rng.random() < 0.5:
        event["pads"]["offset_x_um"] = numbers(-5000, 5000)
    return event


def valid_events() -> st.SearchStrategy[dict[str, Any]]:
    return st.integers(0, 2**32 - 1).map(_valid_event)


MUTATIONS = ["top", "delete", "extra", "column", "element", "collide", "length", "unstorable_pad"]


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with 1-3 hostile mutations (replace, delete, add, corrupt one pad, collide pad ids)."""
    event = copy.deepcopy(draw(valid_events()))
    pads = event["pads"]
    n = len(pads["pad_id"])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "top":
            event[draw(st.sampled_from(TOP_FIELDS))] = draw(hostile_value)
        elif kind == "delete":
            target = draw(st.sampled_from([event, pads])) if isinstance(pads, dict) else event
            if target:
                del target[draw(st.sampled_from(sorted(target)))]
        elif kind == "extra":
            event[draw(st.text(max_size=10))] = draw(hostile_value)
        elif not isinstance(pads, dict):
            continue
        elif kind == "column":
            pads[draw(st.sampled_from(PAD_FIELDS))] = draw(hostile_value)
        elif kind == "element":
            name = draw(st.sampled_from(PAD_FIELDS))
            if isinstance(pads.get(name), list) and pads[name]:
                pads[name][draw(st.integers(0, len(pads[name]) - 1))] = draw(hostile_scalar)
        elif (
            kind == "collide" and n > 1 and isinstance(pads.get("pad_id"), list) and len(pads["pad_id"]) == n
        ):
            i, j = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
            pads["pad_id"][i] = pads["pad_id"][j]
        elif kind == "length":
            name = draw(st.sampled_from(PAD_FIELDS))
            if isinstance(pads.get(name), list):
                pads[name] = pads[name] + pads[name][:1] if draw(st.booleans()) else pads[name][1:]
        elif kind == "unstorable_pad" and isinstance(pads.get("pad_id"), list) and pads["pad_id"]:
            i = draw(st.integers(0, len(pads["pad_id"]) - 1))
            pads["pad_id"][i] = str(pads["pad_id"][i]) + draw(st.sampled_from(UNSTORABLE))
    return event


def wire_forms(event: dict[str, Any]) -> st.SearchStrategy[Any]:
    """How a mutated event reaches the validator: JSON bytes (escaped or raw UTF-8, NaN tokens allowed),
    str, or the dict itself (the in-process producers)."""
    raw_utf8 = json.dumps(event, ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )  # CESU bytes if surrogates
    return st.sampled_from([json.dumps(event).encode(), raw_utf8, json.dumps(event), event])


# --------------------------------------------------------------------------- the tests
def test_mutations_of_valid_events() -> None:
    outcomes: list[bool] = []

    def check(raw: Any) -> None:
        outcomes.append(isinstance(survives_or_rejects(raw), BoardInspection))

    assert run(mutated_events().flatmap(wire_forms), 4500, check) == 4500
    assert 0 < sum(outcomes) < len(outcomes)  # both survivors and rejections were exercised


def test_valid_events_of_any_printable_text_round_trip() -> None:
    def check(event: dict[str, Any]) -> None:
        assert isinstance(survives_or_rejects(json.dumps(event)), BoardInspection)

    assert run(valid_events(), 800, check) == 800


def test_unstorable_characters_in_any_string_field_are_rejected() -> None:
    fields = st.sampled_from([*ID_FIELDS, "pads.pad_id", "pads.shape"])

    @st.composite
    def poisoned(draw: st.DrawFn) -> tuple[str, int | None, str]:
        event, field = draw(valid_events()), draw(fields)
        text = draw(st.sampled_from(PRINTABLE)) + draw(st.sampled_from(UNSTORABLE))
        if field.startswith("pads."):
            column = event["pads"][field[5:]]
            i = draw(st.integers(0, len(column) - 1))
            column[i] = (column[i] + text)[-64:]
            return json.dumps(event), i, field
        event[field] = (event[field] + text)[-128:]
        return json.dumps(event), None, field

    def check(case: tuple[str, int | None, str]) -> None:
        raw, i, field = case
        err = survives_or_rejects(raw)
        assert isinstance(err, InvalidEvent)
        assert err.field == (field if i is None else f"{field}[{i}]"), err
        assert "send printable UTF-8 text" in err.problem

    assert run(poisoned(), 1200, check) == 1200


def test_random_bytes_and_broken_json() -> None:
    @st.composite
    def broken(draw: st.DrawFn) -> bytes:
        text = json.dumps(draw(valid_events())).encode()
        kind = draw(st.sampled_from(["bytes", "truncate", "flip", "insert", "duplicate_key", "nan_token"]))
        if kind == "bytes":
            return draw(st.binary(max_size=300))
        cut = draw(st.integers(0, len(text) - 1))
        if kind == "truncate":
            return text[:cut]
        if kind == "flip":
            return text[:cut] + bytes([text[cut] ^ draw(st.integers(1, 255))]) + text[cut + 1 :]
        if kind == "insert":
            return text[:cut] + draw(st.binary(min_size=1, max_size=8)) + text[cut:]
        if kind == "duplicate_key":
            return text[:-1] + b', "board_id": "again"}'
        return text.replace(b'"print_index": ', b'"print_index": NaN, "x": ', 1)

    assert run(broken(), 1500, survives_or_rejects) == 1500


def test_random_json_documents_and_deep_nesting() -> None:
    documents = st.one_of(
        hostile_value.map(json.dumps),
        st.dictionaries(st.sampled_from(TOP_FIELDS), hostile_value, max_size=12).map(json.dumps),
        st.integers(1, 30_000).map(lambda depth: "[" * depth + "]" * depth),
        st.integers(1, 10_000).map(lambda depth: '{"schema":' * depth + "null" + "}" * depth),
    )
    assert run(documents, 1000, survives_or_rejects) == 1000


def test_oversize_messages_and_too_many_pads() -> None:
    @st.composite
    def oversized(draw: st.DrawFn) -> tuple[bytes, Limits, str]:
        event = draw(valid_events())
        n = len(event["pads"]["pad_id"])
        raw = json.dumps(event).encode()
        if draw(st.booleans()):
            return raw, Limits(max_event_bytes=draw(st.integers(1, len(raw) - 1))), "bytes"
        return raw, Limits(max_pads=draw(st.integers(1, n))), "pads"

    def check(case: tuple[bytes, Limits, str]) -> None:
        raw, limits, kind = case
        err = survives_or_rejects(raw, limits)
        n = len(json.loads(raw)["pads"]["pad_id"])
        if kind == "bytes" or n > limits.max_pads:
            assert isinstance(err, InvalidEvent)
            assert err.field == ("event" if kind == "bytes" else "pads.pad_id")
            assert "limit" in err.problem
        else:
            assert isinstance(err, BoardInspection)

    assert run(oversized(), 1000, check) == 1000


def test_the_live_tests_hostile_records_are_all_rejected() -> None:
    """tests/integration/pipeline/test_hostile_stream.py sends these to the worker: each must be a dead
    letter, and every kind must occur."""
    rng = random.Random(12)
    kinds = set()
    for seed in range(20):
        for kind, value in hostile_records(_valid_event(seed), rng, 50):
            kinds.add(kind)
            err = survives_or_rejects(b"" if value is None else value)
            assert isinstance(err, InvalidEvent), kind
            if kind == "nul_board_id":
                assert err.field == "board_id"
                assert "U+0000" in err.problem
    assert len(kinds) == 21
    err = survives_or_rejects(too_many_pads(_valid_event(0)))
    assert isinstance(err, InvalidEvent)
    assert err.field == "pads.pad_id"
