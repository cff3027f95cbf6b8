"""The reference path of `schemas.validation.parse_inspection`: `json.loads` (duplicate keys refused),
then every check of an event in order, building one `BoardInspection`.

`schemas.validation` documents the checks and the bounds; `schemas.fast_decode` is the fast path that
gives the same board or defers here. Both import their shared pieces (`Limits`, field lists, column
checks, `board_from_object`) from this module, which imports neither of them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from schemas.errors import InvalidEvent
from schemas.inspection import SCHEMA_V1, SPI_RESULTS, BoardInspection, PadArrays

ID_FIELDS = ("event_id", "line_id", "printer_id", "inspector_id", "recipe_id", "board_id")
REQUIRED_PAD_FIELDS = (
    "pad_id",
    "x_mm",
    "y_mm",
    "size_x_mm",
    "size_y_mm",
    "shape",
    "volume_pct",
    "height_um",
    "area_pct",
)
OPTIONAL_PAD_FIELDS = ("offset_x_um", "offset_y_um")
SQUEEGEE_DIRECTIONS = ("forward", "backward")
MAX_PRINT_INDEX = 2**63 - 1

RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)

_NUMBER_TYPES = frozenset({float, int, np.float64, np.float32, np.int64, np.int32})


# Characters no stored text may hold (module docstring): C0, DEL, C1 and the surrogate range.
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Error messages quote at most this many characters of a bad value (a hostile value may be megabytes).
_QUOTE_CHARS = 60


@dataclass(frozen=True)
class Limits:
    """Bounds an event must respect; the defaults are the documented contract of v1."""

    max_pads: int = 100_000
    max_id_chars: int = 128  # event/line/printer/inspector/recipe/board ids (UUIDs, serials, names)
    max_pad_id_chars: int = 64  # pad ids and aperture shapes (designator-pin, e.g. "U12-144")
    max_event_bytes: int = 16 * 2**20  # = the broker's message.max.bytes (streams/kafka/connection.py)
    volume_pct_max: float = 1000.0
    area_pct_max: float = 1000.0
    height_um_max: float = 2000.0
    size_mm_max: float = 100.0
    position_mm_abs_max: float = 1000.0
    offset_um_abs_max: float = 5000.0
    max_panel_position: int = 10_000  # issue 13: boards per multi-up panel


def json_kind(value: Any) -> str:
    """The JSON name of a Python value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:  # a hostile key may be megabytes or control characters: quote it then
                shown = key if len(key) <= 64 and not _UNSTORABLE.search(key) else _quote(key)
                raise InvalidEvent(shown, "appears twice in one JSON object; send each key once")
            seen.add(key)
    return out


def _load(raw: bytes | bytearray | memoryview | str | dict[str, Any], limits: Limits) -> Any:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, bytes | bytearray | memoryview):
        if len(raw) > limits.max_event_bytes:
            raise InvalidEvent("event", f"has {len(raw)} bytes; the limit is {limits.max_event_bytes}")
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent("event", f"is not UTF-8 (byte {exc.start}); send UTF-8 encoded JSON") from None
    if not isinstance(raw, str):
        raise InvalidEvent("event", f"is a Python {type(raw).__name__}; pass bytes, str or dict")
    if len(raw) > limits.max_event_bytes:
        raise InvalidEvent("event", f"has {len(raw)} characters; the limit is {limits.max_event_bytes}")
    try:
        return json.loads(raw, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            "event", f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); send one object"
        ) from None
    except RecursionError:
        raise InvalidEvent("event", "is nested too deeply; send a flat event object") from None
    except ValueError as exc:  # e.g. an integer literal of more than 4300 digits (sys.int_info)
        raise InvalidEvent(
            "event", f"holds a value the JSON reader refuses ({exc}); send plain numbers"
        ) from None


def _required(obj: dict[str, Any], name: str, what: str) -> Any:
    if name not in obj:
        raise InvalidEvent(name, f"is missing; send {what}")
    value = obj[name]
    if value is None:
        raise InvalidEvent(name, f"is null; send {what}")
    return value


def _quote(value: Any) -> str:
    """repr of a value for an error message, cut to `_QUOTE_CHARS` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"  # str() of a huge int is slow or refused
    text = repr(value)
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS] + "..."


def _too_long(field: str, n_chars: int, limit: int) -> InvalidEvent:
    return InvalidEvent(field, f"has {n_chars} characters; the limit is {limit}; send a shorter id")


def _unstorable(field: str, text: str, position: int) -> InvalidEvent:
    """The error for a character `_UNSTORABLE` matched at `position` of `text`."""
    code = ord(text[position])
    if 0xD800 <= code <= 0xDFFF:
        what = f"a lone surrogate U+{code:04X} at character {position} (not encodable as UTF-8)"
    else:
        what = f"the control character U+{code:04X} at character {position}"
    return InvalidEvent(
        field,
        f"contains {what}; send printable UTF-8 text"
        " (no NUL, tab, newline or other C0/C1 control character, DEL or lone surrogate)",
    )


def _id(obj: dict[str, Any], name: str, limits: Limits) -> str:
    value = _required(obj, name, "a non-empty string")
    if not isinstance(value, str):
        raise InvalidEvent(name, f"is a {json_kind(value)}; send a non-empty string")
    if not value:
        raise InvalidEvent(name, "is empty; send a non-empty string")
    if len(value) > limits.max_id_chars:
        raise _too_long(name, len(value), limits.max_id_chars)
    bad = _UNSTORABLE.search(value)
    if bad is not None:
        raise _unstorable(name, value, bad.start())
    return str(value)  # a str subclass becomes a plain str


def _print_index(obj: dict[str, Any]) -> int:
    value = _required(obj, "print_index", "an integer >= 0")
    if isinstance(value, bool | np.bool_):
        raise InvalidEvent("print_index", "is a boolean; send an integer >= 0")
    if isinstance(value, float | np.floating):
        if not math.isfinite(value) or not float(value).is_integer():
            raise InvalidEvent("print_index", f"is {_quote(value)}; send an integer >= 0")
        value = int(value)
    if not isinstance(value, int | np.integer):
        raise InvalidEvent("print_index", f"is a {json_kind(value)}; send an integer >= 0")
    value = int(value)
    if value < 0 or value > MAX_PRINT_INDEX:
        raise InvalidEvent("print_index", f"is {_quote(value)}; send an integer in [0, 2**63 - 1]")
    return value


def parse_timestamp(value: Any, name: str = "inspected_at") -> datetime:
    """An RFC 3339 timestamp with a timezone (or an aware datetime) -> aware datetime."""
    what = "an RFC 3339 timestamp with timezone, e.g. 2024-05-01T08:30:00.125Z"
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidEvent(name, f"has no timezone; send {what}")
        return value
    if not isinstance(value, str):
        raise InvalidEvent(name, f"is a {json_kind(value)}; send {what}")
    if len(value) > 64 or not RFC3339.fullmatch(value):  # fullmatch: `$` would allow a trailing newline
        raise InvalidEvent(name, f"is {_quote(value)}; send {what}")
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise InvalidEvent(name, f"is {value!r} ({exc}); send {what}") from None


def _direction(obj: dict[str, Any]) -> Any:
    value = obj.get("squeegee_direction")
    if value is None:
        return None
    if not isinstance(value, str) or value not in SQUEEGEE_DIRECTIONS:
        raise InvalidEvent("squeegee_direction", f"is {_quote(value)}; send 'forward', 'backward' or omit it")
    return str(value)


def _first(mask: np.ndarray) -> int:
    """Index of the first True in a boolean array that has one."""
    return int(np.argmax(mask))


def _locate_bad_type(field: str, values: list[Any], allowed: frozenset[type], what: str) -> InvalidEvent:
    type_ids = np.fromiter(map(id, map(type, values)), dtype=np.int64, count=len(values))  # (P,)
    ok = np.isin(type_ids, np.array([id(t) for t in allowed], dtype=np.int64))
    i = _first(~ok)
    return InvalidEvent(f"{field}[{i}]", f"is a {json_kind(values[i])}; send {what}")


def _column(
    field: str, value: Any, what: str, n_pads: int | None
) -> list[Any] | tuple[Any, ...] | np.ndarray:
    """The raw column, its type and length checked before anything is copied or converted."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise InvalidEvent(field, f"is a {value.ndim}-D array; send a flat array of {what}")
    elif not isinstance(value, list | tuple):
        raise InvalidEvent(field, f"is a {json_kind(value)}; send an array of {what}")
    if n_pads is not None and len(value) != n_pads:
        raise InvalidEvent(
            field, f"has {len(value)} values but pads.pad_id has {n_pads}; send equal-length arrays"
        )
    return value


def _string_array(field: str, value: list[Any] | tuple[Any, ...] | np.ndarray, max_chars: int) -> np.ndarray:
    """(P,) unicode array; every string non-empty, at most `max_chars` long and storable text.

    The storability check runs one C-level regex search over the joined column (no per-pad Python
    loop); a hit's position maps back to its pad through the cumulative lengths.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            value = value.tolist()
        elif value.dtype.kind == "U":
            value = value.tolist()  # numpy strips trailing NULs itself; the rest is checked as for lists
        else:
            raise InvalidEvent(f"{field}[0]", f"is an array of {value.dtype}; send strings")
    if set(map(type, value)) - {str, np.str_}:
        raise _locate_bad_type(field, list(value), frozenset({str, np.str_}), "a string")
    lengths = np.fromiter(map(len, value), dtype=np.int64, count=len(value))  # (P,)
    bad = (lengths == 0) | (lengths > max_chars)
    if bad.any():
        i = _first(bad)
        if lengths[i] == 0:
            raise InvalidEvent(f"{field}[{i}]", "is empty; send a non-empty string")
        raise _too_long(f"{field}[{i}]", int(lengths[i]), max_chars)
    hit = _UNSTORABLE.search("".join(value))
    if hit is not None:
        ends = np.cumsum(lengths)  # (P,) end of each string in the joined text
        i = int(np.searchsorted(ends, hit.start(), side="right"))
        raise _unstorable(f"{field}[{i}]", str(value[i]), hit.start() - int(ends[i] - lengths[i]))
    return np.array(value, dtype=str)


def _number_array(
    field: str, value: list[Any] | tuple[Any, ...] | np.ndarray, lo: float, hi: float, lo_open: bool
) -> np.ndarray:
    """(P,) float64 array, finite, inside [lo, hi] (or (lo, hi] when `lo_open`)."""
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        if value.dtype.kind == "b":
            raise InvalidEvent(f"{field}[0]", "is a boolean; send a number")
        if value.dtype.kind not in "iuf":
            raise InvalidEvent(f"{field}[0]", f"is an array of {value.dtype}; send numbers")
        arr = np.array(value, dtype=np.float64)
    else:
        values = value.tolist() if isinstance(value, np.ndarray) else value
        if set(map(type, values)) - _NUMBER_TYPES:
            raise _locate_bad_type(field, list(values), _NUMBER_TYPES, "a number")
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            raise InvalidEvent(field, "holds an integer too large for a float; send finite numbers") from None
    finite = np.isfinite(arr)
    if not finite.all():
        i = _first(~finite)
        kind = "NaN" if np.isnan(arr[i]) else "infinite"
        raise InvalidEvent(f"{field}[{i}]", f"is {kind}; send a finite number")
    bad = ((arr <= lo) if lo_open else (arr < lo)) | (arr > hi)
    if bad.any():
        i = _first(bad)
        bracket = "(" if lo_open else "["
        raise InvalidEvent(f"{field}[{i}]", f"is {arr[i]:g}; send a value in {bracket}{lo:g}, {hi:g}]")
    return arr


_STRING_PAD_FIELDS = frozenset({"pad_id", "shape"})


def pad_number_bounds(limits: Limits) -> dict[str, tuple[float, float, bool]]:
    """(lo, hi, lo_open) of every numeric pad column: values in [lo, hi], or (lo, hi] when lo_open."""
    pos, size, off = limits.position_mm_abs_max, limits.size_mm_max, limits.offset_um_abs_max
    return {
        "x_mm": (-pos, pos, False),
        "y_mm": (-pos, pos, False),
        "size_x_mm": (0.0, size, True),
        "size_y_mm": (0.0, size, True),
        "volume_pct": (0.0, limits.volume_pct_max, False),
        "height_um": (0.0, limits.height_um_max, False),
        "area_pct": (0.0, limits.area_pct_max, False),
        "offset_x_um": (-off, off, False),
        "offset_y_um": (-off, off, False),
    }


def _pads(obj: dict[str, Any], limits: Limits) -> PadArrays:
    pads = _required(obj, "pads", "an object of equal-length pad arrays")
    if not isinstance(pads, dict):
        raise InvalidEvent("pads", f"is a {json_kind(pads)}; send an object of equal-length pad arrays")
    for name in REQUIRED_PAD_FIELDS:
        if pads.get(name) is None:
            raise InvalidEvent(f"pads.{name}", "is missing; send an array with one value per pad")
    # The pad count, then every column's type and length, before any array is built.
    n = len(_column("pads.pad_id", pads["pad_id"], "strings", None))
    if n == 0:
        raise InvalidEvent("pads.pad_id", "is empty; a board needs at least one pad")
    if n > limits.max_pads:
        raise InvalidEvent("pads.pad_id", f"has {n} pads; the limit is {limits.max_pads} per board")
    raw = {
        name: _column(f"pads.{name}", pads[name], "strings" if name in _STRING_PAD_FIELDS else "numbers", n)
        for name in (*REQUIRED_PAD_FIELDS, *OPTIONAL_PAD_FIELDS)
        if pads.get(name) is not None
    }
    pad_id = _string_array("pads.pad_id", raw["pad_id"], limits.max_pad_id_chars)
    _check_unique("pads.pad_id", pad_id)
    bounds = pad_number_bounds(limits)
    columns: dict[str, np.ndarray | None] = {}
    for name in (*REQUIRED_PAD_FIELDS, *OPTIONAL_PAD_FIELDS):  # the order of the checks = field order
        if name == "pad_id":
            columns[name] = pad_id
        elif name == "shape":
            columns[name] = _string_array("pads.shape", raw["shape"], limits.max_pad_id_chars)
        elif name in raw:
            columns[name] = _number_array(f"pads.{name}", raw[name], *bounds[name])
        else:
            columns[name] = None  # an optional column, absent or null
    columns.update(_real_line_pads(pads, n, limits))
    for arr in columns.values():
        if arr is not None:
            arr.flags.writeable = False
    return PadArrays(**columns)  # type: ignore[arg-type]


def _check_unique(field: str, ids: np.ndarray) -> None:
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    repeated = ordered[1:] == ordered[:-1]
    if repeated.any():
        later = order[1:][repeated]  # positions that repeat an earlier (stable-sorted) id
        earlier = order[:-1][repeated]
        k = int(np.argmin(later))
        shown = str(ordered[1:][repeated][k])  # a plain str: its repr is 'C1-1', not np.str_('C1-1')
        raise InvalidEvent(
            f"{field}[{later[k]}]",
            f"repeats {field}[{earlier[k]}] ({shown!r}); pad ids must be unique per board",
        )


# ---------------------------------------------------------------- optional real-line fields (issue 13)
# Kept apart from the checks above: every field here is optional (absent or null = unknown), strings go
# through the same `_id` / `_string_array` checks as the required ids and pad strings.
CONTEXT_STRING_FIELDS = ("barcode", "stencil_id")
CONTEXT_INT_FIELDS = ("panel_position", "prints_since_cleaning")
OPTIONAL_PAD_STRING_FIELDS = ("component_ref", "spi_result")


def _optional_int(obj: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    what = f"an integer in [{lo}, {hi}] or omit it"
    if isinstance(value, bool | np.bool_):
        raise InvalidEvent(name, f"is a boolean; send {what}")
    if isinstance(value, float | np.floating):
        if not math.isfinite(value) or not float(value).is_integer():
            raise InvalidEvent(name, f"is {value!r}; send {what}")
        value = int(value)
    if not isinstance(value, int | np.integer):
        raise InvalidEvent(name, f"is a {json_kind(value)}; send {what}")
    if not lo <= int(value) <= hi:
        raise InvalidEvent(name, f"is {int(value)}; send {what}")
    return int(value)


def _real_line_context(obj: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """barcode, stencil_id, panel_position, prints_since_cleaning (each None when absent or null)."""
    out: dict[str, Any] = {
        name: None if obj.get(name) is None else _id(obj, name, limits) for name in CONTEXT_STRING_FIELDS
    }
    out["panel_position"] = _optional_int(obj, "panel_position", 1, limits.max_panel_position)
    out["prints_since_cleaning"] = _optional_int(obj, "prints_since_cleaning", 0, MAX_PRINT_INDEX)
    return out


def _real_line_pads(pads: dict[str, Any], n: int, limits: Limits) -> dict[str, np.ndarray | None]:
    """pads.component_ref and pads.spi_result, (P,) unicode arrays or None when absent or null."""
    out: dict[str, np.ndarray | None] = {}
    ref = pads.get("component_ref")
    out["component_ref"] = (
        None
        if ref is None
        else _string_array(
            "pads.component_ref", _column("pads.component_ref", ref, "strings", n), limits.max_pad_id_chars
        )
    )
    verdict = pads.get("spi_result")
    if verdict is None:
        out["spi_result"] = None
    else:
        column = _column("pads.spi_result", verdict, "strings", n)
        arr = _string_array("pads.spi_result", column, limits.max_pad_id_chars)
        bad = ~np.isin(arr, np.array(SPI_RESULTS))
        if bad.any():
            i = _first(bad)
            problem = f"is {str(arr[i])[:40]!r}; send 'pass', 'warning' or 'fail'"
            raise InvalidEvent(f"pads.spi_result[{i}]", problem)
        out["spi_result"] = arr
    return out


def parse_reference(
    raw: bytes | bytearray | memoryview | str | dict[str, Any], limits: Limits = Limits()
) -> BoardInspection:
    """The reference validator: `json.loads` (duplicate keys refused), then every check in order."""
    obj = _load(raw, limits)
    if not isinstance(obj, dict):
        raise InvalidEvent("event", f"is a JSON {json_kind(obj)}; send one JSON object per event")
    return board_from_object(obj, limits)


def board_from_object(obj: dict[str, Any], limits: Limits, pads: PadArrays | None = None) -> BoardInspection:
    """The board of a decoded event object; `pads` when the caller already built and checked them."""
    schema = _required(obj, "schema", f"{SCHEMA_V1!r}")
    if schema != SCHEMA_V1:
        raise InvalidEvent(
            "schema", f"is {_quote(schema)}, an unknown version; this reader accepts {SCHEMA_V1!r}"
        )
    ids = {name: _id(obj, name, limits) for name in ID_FIELDS}
    print_index = _print_index(obj)
    inspected_at = parse_timestamp(_required(obj, "inspected_at", "an RFC 3339 timestamp"))
    direction = _direction(obj)
    if pads is None:
        pads = _pads(obj, limits)
    context = _real_line_context(obj, limits)
    return BoardInspection(
        **ids,
        print_index=print_index,
        inspected_at=inspected_at,
        pads=pads,
        squeegee_direction=direction,
        barcode=context["barcode"],
        panel_position=context["panel_position"],
        stencil_id=context["stencil_id"],
        prints_since_cleaning=context["prints_since_cleaning"],
    )
