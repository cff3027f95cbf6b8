"""The fast path of `parse_inspection` for JSON bytes: pad columns go straight from bytes to numpy arrays.

The reference path (`schemas.validation.parse_reference`) lets `json.loads` build one Python object per
pad value (about 650,000 for a 50,000-pad board) and then converts them. This path builds none:
msgspec checks the JSON syntax of the whole event in one pass and hands back every pad column as its
raw bytes (`msgspec.Raw`); a number column is cut at its commas and parsed by Arrow's string -> float64
cast (fast_float, correctly rounded like Python's `float()`, so the values are bit for bit those of
`json.loads`); a string column is cut out of the bytes at its quote positions. The range, length,
uniqueness and storability checks are the reference path's (the same `Limits`, the same
`pad_number_bounds`), vectorized over whole columns.

Contract: `parse_fast(raw, limits)` returns exactly the `BoardInspection` the reference path would
return, or None when it cannot vouch for that; the caller then runs the reference path, which accepts
or rejects with its own message. So every rejection and every error message comes from the reference
path, and None is returned for anything outside the common, valid case, e.g.:
  - JSON that is not compact (whitespace between tokens), unknown top-level fields, escapes in keys
    and duplicate keys (see `_compact_length`);
  - any value the reference path would reject (a failing check here returns None, not the error);
  - numbers that `json.loads` reads differently from a float parser: the integer `-0` (json gives 0,
    not -0.0) and values that overflow to infinity (huge integers are an OverflowError there);
  - input that is not UTF-8, or an event over `Limits.max_event_bytes`.
String columns with backslash escapes or non-ASCII text are decoded by msgspec into a list of str and
checked by the reference path's `_string_array` (still without `json.loads`).

Duplicate keys: msgspec keeps the last of a repeated key, so duplicates are ruled out by length. A
compact object `{"k1":v1,...,"kn":vn}` is exactly `2 + sum(len(ki) + 3 + len(vi)) + (n - 1)` bytes
(`len(vi)` from the raw value span); every dropped duplicate, unknown field, whitespace byte or escaped
key only adds bytes, so equality for the event with its `pads` object inside proves none is there.
Objects nested deeper can only hide in values this module does not parse itself: a top-level value
that decodes to an array or object, or an unknown pad column containing a `:`, returns None.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import as_strided

from schemas.errors import InvalidEvent
from schemas.inspection import SPI_RESULTS, BoardInspection, PadArrays
from schemas.reference_decode import (
    CONTEXT_INT_FIELDS,
    CONTEXT_STRING_FIELDS,
    ID_FIELDS,
    OPTIONAL_PAD_FIELDS,
    OPTIONAL_PAD_STRING_FIELDS,
    REQUIRED_PAD_FIELDS,
    Limits,
    _check_unique,
    _string_array,
    board_from_object,
    pad_number_bounds,
)

TOP_FIELDS = (
    "schema",
    *ID_FIELDS,
    "print_index",
    "inspected_at",
    "squeegee_direction",
    *CONTEXT_STRING_FIELDS,
    *CONTEXT_INT_FIELDS,
)
STRING_PAD_FIELDS = frozenset({"pad_id", "shape", *OPTIONAL_PAD_STRING_FIELDS})
KNOWN_PAD_FIELDS = frozenset({*REQUIRED_PAD_FIELDS, *OPTIONAL_PAD_FIELDS, *OPTIONAL_PAD_STRING_FIELDS})

# The event as msgspec sees it: every known top-level value as raw bytes, `pads` as {name: raw column}.
# Unknown top-level fields are skipped by msgspec (their syntax still checked) and then caught by length.
_Event: Any = msgspec.defstruct(
    "_Event",
    [(name, msgspec.Raw | msgspec.UnsetType, msgspec.UNSET) for name in TOP_FIELDS]
    + [("pads", dict[str, msgspec.Raw] | msgspec.UnsetType, msgspec.UNSET)],
)
_EVENT = msgspec.json.Decoder(_Event)
_VALUE = msgspec.json.Decoder()
_STRINGS = msgspec.json.Decoder(list[str])

_WHITESPACE = b" \t\r\n"
_NUMBER_BYTES = b"0123456789+-.eE,"  # all a compact array of JSON numbers can hold between its brackets
_HASH_MULTIPLIER = np.uint64(1099511628211)  # FNV-1 64-bit prime; any odd constant works


def parse_fast(raw: bytes | bytearray | memoryview | str, limits: Limits) -> BoardInspection | None:
    """The board `parse_reference(raw, limits)` would return, or None (then run that)."""
    data = _utf8_bytes(raw, limits)
    if data is None:
        return None
    try:
        return _parse(data, limits)
    except (msgspec.MsgspecError, RecursionError):  # not an object, bad syntax, NaN, bad surrogate, too deep
        return None
    except InvalidEvent:  # the reference path says which field and how to fix it
        return None


def _parse(data: bytes, limits: Limits) -> BoardInspection | None:
    event = _EVENT.decode(data)
    if event.pads is msgspec.UNSET or _compact_length(event) != len(data.strip(_WHITESPACE)):
        return None
    obj: dict[str, Any] = {}
    for name in TOP_FIELDS:
        span = getattr(event, name)
        if span is not msgspec.UNSET:
            value = _VALUE.decode(span)
            if isinstance(value, list | dict):  # would be rejected; and may hide a duplicate key
                return None
            obj[name] = value
    pads = _pad_arrays(event.pads, data.isascii(), limits)
    return None if pads is None else board_from_object(obj, limits, pads)


def _utf8_bytes(raw: bytes | bytearray | memoryview | str, limits: Limits) -> bytes | None:
    if isinstance(raw, str):
        if len(raw) > limits.max_event_bytes:
            return None
        try:
            return raw.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in the str itself
            return None
    if not isinstance(raw, bytes | bytearray | memoryview):
        return None
    data = bytes(raw)
    if len(data) > limits.max_event_bytes:
        return None
    if not data.isascii():
        try:
            data.decode("utf-8")  # msgspec does not check the UTF-8 of values it skips
        except UnicodeDecodeError:
            return None
    return data


def _compact_length(event: Any) -> int:
    """Bytes the event would have as compact JSON with exactly the keys msgspec kept (module docstring)."""
    pads = event.pads
    pads_length = _object_length((len(key.encode("utf-8")), len(span)) for key, span in pads.items())
    spans = [(name, getattr(event, name)) for name in TOP_FIELDS]
    pairs = [(len(name), len(span)) for name, span in spans if span is not msgspec.UNSET]
    return _object_length([*pairs, (len("pads"), pads_length)])


def _object_length(pairs: Any) -> int:
    """Length of `{"k":v,...}` for (key bytes, value bytes) pairs, no whitespace."""
    total, count = 2, 0
    for key_bytes, value_bytes in pairs:
        total += key_bytes + 3 + value_bytes  # the key's two quotes and the colon
        count += 1
    return total + max(count - 1, 0)  # the commas


def _pad_arrays(pads: dict[str, msgspec.Raw], ascii_event: bool, limits: Limits) -> PadArrays | None:
    """Every pad column checked as `schemas.reference_decode._pads` checks it, or None."""
    spans = {name: bytes(span) for name, span in pads.items()}
    for name, span in spans.items():
        if name not in KNOWN_PAD_FIELDS and b":" in span:  # may hold an object, with a duplicate key
            return None
    present = {name: span for name, span in spans.items() if name in KNOWN_PAD_FIELDS and span != b"null"}
    if any(name not in present for name in REQUIRED_PAD_FIELDS):
        return None
    # The pad count, then every column's length, before any array is built.
    n = _count_strings(present["pad_id"])
    if n is None or not 1 <= n <= limits.max_pads:
        return None
    for name, span in present.items():
        count = _count_strings(span) if name in STRING_PAD_FIELDS else _count_numbers(span)
        if count != n:
            return None
    columns: dict[str, np.ndarray | None] = dict.fromkeys(
        (*REQUIRED_PAD_FIELDS, *OPTIONAL_PAD_FIELDS, *OPTIONAL_PAD_STRING_FIELDS)
    )
    numeric = [name for name in present if name not in STRING_PAD_FIELDS]
    values = parse_decimals(b",".join(present[name][1:-1] for name in numeric), n * len(numeric))
    if values is None:
        return None
    table = values.reshape(len(numeric), n)  # (C, n): one row per numeric column
    if not _in_bounds(table, [pad_number_bounds(limits)[name] for name in numeric]):
        return None
    table.flags.writeable = False  # the rows below are views of it
    columns.update(zip(numeric, table, strict=True))
    for name in (name for name in present if name in STRING_PAD_FIELDS):
        unique = name == "pad_id"
        span, max_chars = present[name], limits.max_pad_id_chars
        column = _string_column(f"pads.{name}", span, n, ascii_event, max_chars, unique)
        if column is None:
            return None
        columns[name] = column
    for column in columns.values():
        if column is not None:
            column.flags.writeable = False
    spi = columns["spi_result"]
    if spi is not None:
        allowed = np.zeros(n, dtype=bool)
        for verdict in SPI_RESULTS:  # three whole-column comparisons
            allowed |= spi == verdict
        if not allowed.all():
            return None
    return PadArrays(**columns)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- numbers
def _count_numbers(span: bytes) -> int | None:
    """Values in a compact array of numbers (commas + 1), or None when it holds anything else."""
    if len(span) < 3 or span[0] != 0x5B or span[-1] != 0x5D:  # '[' and ']'; '[]' has no pads
        return None
    if span[1:-1].translate(None, _NUMBER_BYTES):  # strings, true/false/null, nested arrays, whitespace
        return None
    return int(np.count_nonzero(np.frombuffer(span, dtype=np.uint8) == 0x2C)) + 1


def _in_bounds(table: np.ndarray, bounds: list[tuple[float, float, bool]]) -> bool:
    """Every value of the (C, n) table finite and inside its row's (lo, hi, lo_open) bounds."""
    lo, hi, lo_open = (np.array(part)[:, None] for part in zip(*bounds, strict=True))  # (C, 1) each
    with np.errstate(invalid="ignore"):
        bad = (table < lo) | (table > hi) | (lo_open & (table == lo))
    return bool(np.isfinite(table).all()) and not bool(bad.any())


def parse_decimals(body: bytes, n: int) -> np.ndarray | None:
    """(n,) float64 of n comma-separated JSON numbers (syntax already checked), or None if one is refused.
    Read-only (a view of Arrow's result) unless a "-0" had to be set to 0.0.

    Arrow casts a string array to float64 with fast_float, which rounds correctly, so each value is
    the float Python's `float()` gives for the same text. The string array is built over the digits
    with the commas removed: offsets (n + 1,) int32 from the comma positions. `json.loads` reads the
    integer `-0` as int 0 (then 0.0), a float parser as -0.0: such tokens (exactly two bytes, the only
    two-byte text that parses to -0.0) are set to 0.0.
    """
    commas = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 0x2C)  # (n - 1,)
    digits = body.translate(None, b",")  # one pass over the bytes; replace() copies per comma
    offsets = np.empty(n + 1, dtype=np.int32)  # (n + 1,)
    offsets[0] = 0
    offsets[1:-1] = commas - np.arange(n - 1)
    offsets[-1] = len(digits)
    text = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(digits))
    try:
        cast = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = cast.to_numpy(zero_copy_only=False)  # (n,) float64 over Arrow's buffer: no copy, read-only
    negative_zero = np.flatnonzero((values == 0.0) & np.signbit(values))
    integer = negative_zero[np.diff(offsets)[negative_zero] == 2]  # the tokens "-0"
    if len(integer):
        values = values.copy()  # rare: the only case that needs a writable array
        values[integer] = 0.0
    return values


# ---------------------------------------------------------------------------------------- strings
def _count_strings(span: bytes) -> int | None:
    """Values of an array of strings: quotes / 2 without escapes (checked exactly when cut), else decoded."""
    if span[:1] != b"[":
        return None
    if b"\\" in span:
        values = _strings_list(span)
        return None if values is None else len(values)
    return int(np.count_nonzero(np.frombuffer(span, dtype=np.uint8) == 0x22)) // 2


def _strings_list(span: bytes) -> list[str] | None:
    try:
        return _STRINGS.decode(span)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _string_column(
    field: str, span: bytes, n: int, ascii_event: bool, max_chars: int, unique: bool
) -> np.ndarray | None:
    """(n,) unicode array, each string 1..max_chars storable characters (unique if asked); or None."""
    cut = _cut_strings(span, n, max_chars) if ascii_event or span.isascii() else None
    if cut is None:  # escapes or non-ASCII text: msgspec's str objects, the reference checks
        values = _strings_list(span)
        if values is None or len(values) != n:
            return None
        column = _string_array(field, values, max_chars)
        if unique:
            _check_unique(field, column)
        return column
    matrix, width = cut
    column = matrix.astype(np.uint32).view(f"<U{width}").reshape(n)  # ASCII bytes are their code points
    if unique and not rows_distinct(matrix):
        _check_unique(field, column)  # a hash collision or a real repeat: the exact check decides
    return column


def _cut_strings(span: bytes, n: int, max_chars: int) -> tuple[np.ndarray, int] | None:
    """(n, width) uint8 rows of a compact ASCII `["a","bc",...]` without escapes, zero-padded; or None.

    Without backslashes every quote delimits a string; compact means each closing quote is followed
    by `,"` (3 bytes to the next string's first character). ASCII without DEL is storable text: JSON
    itself forbids raw control characters inside strings (msgspec checked that).
    """
    if span[:2] != b'["' or span[-2:] != b'"]' or b"\\" in span or b"\x7f" in span:
        return None
    quotes = np.flatnonzero(np.frombuffer(span, dtype=np.uint8) == 0x22)  # (2n,)
    if len(quotes) != 2 * n or quotes[-1] != len(span) - 2:
        return None
    opens, closes = quotes[0::2], quotes[1::2]  # (n,) each
    if n > 1 and not np.all(opens[1:] - closes[:-1] == 2):
        return None
    lengths = closes - opens - 1  # (n,)
    width = int(lengths.max())
    if lengths.min() < 1 or width > max_chars:
        return None
    padded = np.frombuffer(span + bytes(width), dtype=np.uint8)
    windows = as_strided(padded, shape=(len(span) + 1, width), strides=(1, 1), writeable=False)
    matrix = windows[opens + 1]  # (n, width), a copy: row i starts at string i's first character
    matrix *= np.arange(width) < lengths[:, None]  # zero past each string's end
    return matrix, width


def rows_distinct(matrix: np.ndarray) -> bool:
    """True when the (n, width) uint8 rows are certainly pairwise distinct (64-bit hashes all differ).

    False means a repeat or a hash collision; the caller then runs the exact check. The loop runs over
    the width (characters), not over rows.
    """
    hashes = np.zeros(matrix.shape[0], dtype=np.uint64)  # (n,)
    for j in range(matrix.shape[1]):
        hashes = hashes * _HASH_MULTIPLIER + matrix[:, j]  # wraps modulo 2**64
    hashes.sort()
    return not bool(np.any(hashes[1:] == hashes[:-1]))
