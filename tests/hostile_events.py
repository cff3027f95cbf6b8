"""Hostile board events shared by the validator's property tests and the live worker test (#12).

`hostile_records(good, rng, n)` turns one valid event (a JSON-ready dict) into `n` Kafka values that the
validator must reject, each with the name of its kind: NUL and other unstorable characters in every
string field (JSON escapes and raw CESU-8 bytes), over-long ids, NaN / inf / huge numbers, wrong types,
unknown schema versions, duplicate keys and pad ids, unequal arrays, broken or non-object JSON, deep
nesting, invalid UTF-8, too many pads, tombstones. Copies keep the good event's `event_id` unless the
kind changes it, so an invalid twin of a good board also tests colliding ids.
"""

from __future__ import annotations

import copy
import json
import random
import string
from collections.abc import Callable
from typing import Any

ID_FIELDS = ("event_id", "line_id", "printer_id", "inspector_id", "recipe_id", "board_id")
NUMBER_COLUMNS = ("x_mm", "y_mm", "size_x_mm", "size_y_mm", "volume_pct", "height_um", "area_pct")

# Every character no stored text may hold: C0 (NUL, tab, newline...), DEL, C1, and lone surrogates.
UNSTORABLE = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))] + [
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
]
SQL_LOOKING = [
    "'; DROP TABLE boards; --",
    "' OR '1'='1",
    '"; DELETE FROM pad_alarms WHERE "1"="1',
    "$$; SELECT pg_sleep(10); $$",
    "Robert'); DROP TABLE students;--",
    "1; COPY board_inspections TO PROGRAM 'id'",
    "%s",
    "%(board_id)s",
    "{0}",
    "\\'",
    "E'\\\\x00'",
    "\\x00",
    "\\u0000",
]
# Printable text of every kind a line may send: ASCII, quotes and backslashes, Latin-1 and CJK letters,
# an emoji (a surrogate pair in JSON), a no-break space, a line separator, a zero-width joiner.
PRINTABLE = (
    string.ascii_letters + string.digits + " -_.:/'\"\\%$;()=*" + "ÄÖÜßéñ板子回流\U0001f600\u00a0\u2028\u200d"
)


def _dumps(event: Any) -> bytes:
    return json.dumps(event).encode()  # ASCII with \uXXXX escapes, NaN / Infinity tokens allowed


Mutation = Callable[[dict[str, Any], random.Random], bytes | None]


def _nul_board_id(e: dict[str, Any], rng: random.Random) -> bytes:
    e["board_id"] = e["board_id"] + "\x00" + str(rng.randint(0, 99))  # the poison pill
    return _dumps(e)


def _unstorable_id(e: dict[str, Any], rng: random.Random) -> bytes:
    name = rng.choice(ID_FIELDS)
    e[name] = e[name][:3] + rng.choice(UNSTORABLE) + e[name][3:]
    return _dumps(e)


def _cesu_surrogate(e: dict[str, Any], rng: random.Random) -> bytes:
    e[rng.choice(ID_FIELDS)] += rng.choice(["\ud800", "\udfff"])
    return json.dumps(e, ensure_ascii=False).encode("utf-8", "surrogatepass")  # not valid UTF-8


def _unstorable_pad(e: dict[str, Any], rng: random.Random) -> bytes:
    column = e["pads"][rng.choice(["pad_id", "shape"])]
    i = rng.randrange(len(column))
    column[i] = column[i] + rng.choice(UNSTORABLE)
    return _dumps(e)


def _too_long(e: dict[str, Any], rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        e[rng.choice(ID_FIELDS)] = "x" * 129
    else:
        e["pads"]["pad_id"][0] = "p" * 65
    return _dumps(e)


def _not_finite(e: dict[str, Any], rng: random.Random) -> bytes:
    column = e["pads"][rng.choice(NUMBER_COLUMNS)]
    column[rng.randrange(len(column))] = rng.choice([float("nan"), float("inf"), -float("inf")])
    return _dumps(e)


def _huge_number(e: dict[str, Any], rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        e["print_index"] = 2**63
    elif kind == 1:
        e["pads"]["x_mm"][0] = 10**400  # too large for a float
    elif kind == 2:
        e["pads"]["volume_pct"][0] = 1e308
    else:
        return _dumps(e).replace(b'"print_index": ', b'"print_index": ' + b"9" * 5000 + b', "x": ', 1)
    return _dumps(e)


def _wrong_type(e: dict[str, Any], rng: random.Random) -> bytes:
    target, name, value = rng.choice(
        [
            (e, "board_id", 42),
            (e, "printer_id", ["P1"]),
            (e, "print_index", "7"),
            (e, "print_index", True),
            (e, "inspected_at", 1714552200),
            (e, "squeegee_direction", "sideways"),
            (e, "pads", [1, 2, 3]),
            (e["pads"], "volume_pct", "100"),
            (e["pads"], "pad_id", {"a": 1}),
        ]
    )
    target[name] = value
    return _dumps(e)


def _bad_element(e: dict[str, Any], rng: random.Random) -> bytes:
    column = e["pads"][rng.choice(NUMBER_COLUMNS)]
    column[rng.randrange(len(column))] = rng.choice(["1.0", True, None, [1.0], {"v": 1}])
    return _dumps(e)


def _schema_version(e: dict[str, Any], rng: random.Random) -> bytes:
    e["schema"] = rng.choice(
        ["spi.board_inspection.v2", "spi.board_inspection.v0", "SPI.BOARD_INSPECTION.V1", ""]
    )
    return _dumps(e)


def _duplicate_key(e: dict[str, Any], rng: random.Random) -> bytes:
    return _dumps(e)[:-1] + b', "board_id": "twin"}'


def _duplicate_pad(e: dict[str, Any], rng: random.Random) -> bytes:
    ids = e["pads"]["pad_id"]
    if len(ids) == 1:
        ids.append(ids[0])  # (then also one pad id more than the other columns have values)
    else:
        ids[-1] = ids[rng.randrange(len(ids) - 1)]
    return _dumps(e)


def _unequal_arrays(e: dict[str, Any], rng: random.Random) -> bytes:
    name = rng.choice(NUMBER_COLUMNS)
    e["pads"][name] = e["pads"][name][:-1]
    return _dumps(e)


def _missing(e: dict[str, Any], rng: random.Random) -> bytes:
    del e[rng.choice([*ID_FIELDS, "schema", "print_index", "inspected_at", "pads"])]
    return _dumps(e)


def _bad_range(e: dict[str, Any], rng: random.Random) -> bytes:
    kind = rng.randrange(3)
    if kind == 0:
        e["print_index"] = -1
    elif kind == 1:
        e["inspected_at"] = "2024-05-01T08:30:00"  # no timezone
    else:
        e["pads"]["height_um"][0] = 2500.0
    return _dumps(e)


def _broken_json(e: dict[str, Any], rng: random.Random) -> bytes:
    raw = _dumps(e)
    return raw[: rng.randrange(1, len(raw) - 1)]


def _random_bytes(e: dict[str, Any], rng: random.Random) -> bytes:
    return b"\x00" + rng.randbytes(rng.randint(0, 64))


def _invalid_utf8(e: dict[str, Any], rng: random.Random) -> bytes:
    raw = _dumps(e)
    cut = raw.index(b'"board_id"')
    return raw[:cut] + b"\xff\xfe" + raw[cut:]


def _not_an_object(e: dict[str, Any], rng: random.Random) -> bytes:
    return rng.choice([b"[]", b'"text"', b"42", b"null", json.dumps([e]).encode()])


def _deep(e: dict[str, Any], rng: random.Random) -> bytes:
    depth = rng.choice([5_000, 50_000])
    return _dumps(e)[:-1] + b', "extra": ' + b"[" * depth + b"]" * depth + b"}"


def _too_many_pads(e: dict[str, Any], rng: random.Random) -> bytes:
    e["pads"]["pad_id"] = [f"p{i}" for i in range(100_001)]  # rejected on the count, before arrays
    return _dumps(e)


def _tombstone(e: dict[str, Any], rng: random.Random) -> bytes | None:
    return rng.choice([None, b""])


# (kind, weight, mutation): the weights make NUL in board_id the commonest, the costly kinds rare.
KINDS: list[tuple[str, int, Mutation]] = [
    ("nul_board_id", 12, _nul_board_id),
    ("unstorable_id", 10, _unstorable_id),
    ("cesu_surrogate", 3, _cesu_surrogate),
    ("unstorable_pad", 8, _unstorable_pad),
    ("too_long", 4, _too_long),
    ("not_finite", 6, _not_finite),
    ("huge_number", 4, _huge_number),
    ("wrong_type", 6, _wrong_type),
    ("bad_element", 4, _bad_element),
    ("schema_version", 3, _schema_version),
    ("duplicate_key", 2, _duplicate_key),
    ("duplicate_pad", 3, _duplicate_pad),
    ("unequal_arrays", 3, _unequal_arrays),
    ("missing", 3, _missing),
    ("bad_range", 3, _bad_range),
    ("broken_json", 4, _broken_json),
    ("random_bytes", 3, _random_bytes),
    ("invalid_utf8", 2, _invalid_utf8),
    ("not_an_object", 2, _not_an_object),
    ("deep", 1, _deep),
    ("tombstone", 1, _tombstone),
]


def hostile_records(good: dict[str, Any], rng: random.Random, n: int) -> list[tuple[str, bytes | None]]:
    """`n` (kind, Kafka value) pairs, every value one the validator must reject (None: a tombstone)."""
    chosen = rng.choices(KINDS, [weight for _, weight, _ in KINDS], k=n)
    return [(kind, mutate(copy.deepcopy(good), rng)) for kind, _, mutate in chosen]


def too_many_pads(good: dict[str, Any]) -> bytes:
    """One event with 100,001 pad ids (0.9 MB): over the default pad limit."""
    return _too_many_pads(copy.deepcopy(good), random.Random(0))
