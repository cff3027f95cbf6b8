"""The one validator of `spi.board_inspection.v1` events: raw bytes / text / dict -> `BoardInspection`.

Every consumer (the stream worker, `spi-crrn validate`, the file readers, the simulator) goes through
`parse_inspection`, so the invariants documented in `schemas/inspection.py` hold everywhere after it.
A rejection raises `InvalidEvent(field, problem)`; for arrays the field carries the first offending
index, e.g. `pads.volume_pct[17]: is NaN; send a finite number`.

Two paths, one result (this module is the front; `schemas/reference_decode.py` holds the checks). JSON
bytes and text first go through `schemas.fast_decode.parse_fast`: msgspec checks the syntax in one pass
and pad columns go from their bytes straight into numpy arrays (no Python object per pad; ~150+ MB/s of
event JSON on one core, `spi-crrn bench validation`). It returns exactly the board `parse_reference`
would, or None for anything unusual or invalid; then `parse_reference` (`json.loads` with the duplicate-
key hook, then the checks below in order) accepts or rejects, so every error message is the reference
path's. Pad arrays are checked vectorized on both paths: numpy converts
and checks a whole column at once; on the reference path the only per-element Python-level work is
what the JSON parser itself does and C-level `map(type, ...)` scans. In-process producers may pass a
dict whose pad arrays are already 1-D numpy arrays (numbers or unicode strings); those are checked the
same way and copied.

Documented bounds (see `Limits`; JSON Schema documents in `schemas/json/` state the same numbers):
    volume_pct in [0, 1000] (% of the aperture volume), area_pct in [0, 1000] (% of the aperture area),
    height_um in [0, 2000], size_x_mm / size_y_mm in (0, 100], x_mm / y_mm in [-1000, 1000],
    offset_x_um / offset_y_um in [-5000, 5000], the six ids 1..128 characters, pad ids and shape names
    1..64 characters, 1..100_000 pads per board, print_index an integer in [0, 2**63 - 1],
    inspected_at RFC 3339 with a timezone (`Z` or `+hh:mm`), at most 16 MiB per event (the broker's
    message limit; bytes for bytes input, characters for str input).

Text that reaches PostgreSQL or a Kafka key (every id, pad id and shape) must be storable: no C0
control character (U+0000-U+001F, NUL and tab included), no DEL (U+007F), no C1 control character
(U+0080-U+009F), and no lone surrogate (U+D800-U+DFFF, which a JSON `\ud800` escape can produce and
which cannot be encoded as UTF-8). PostgreSQL `text` refuses NUL outright, so without this check one
such event would fail the database write of every board stored in the same batch.

The order of the checks bounds the work a hostile event can cause: the byte size before UTF-8 and
JSON decoding, the pad count and every pad array's type and length before any numpy array is built.

Optional fields real inspections carry (issue 13), each omitted or null when unknown: barcode and
stencil_id strings like the ids, panel_position an integer in [1, 10000], prints_since_cleaning an
integer in [0, 2**63 - 1]; per pad component_ref (strings like shape) and spi_result
('pass' | 'warning' | 'fail').
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from schemas.errors import InvalidEvent
from schemas.fast_decode import parse_fast
from schemas.inspection import BoardInspection
from schemas.reference_decode import (
    CONTEXT_INT_FIELDS,
    CONTEXT_STRING_FIELDS,
    ID_FIELDS,
    OPTIONAL_PAD_FIELDS,
    OPTIONAL_PAD_STRING_FIELDS,
    REQUIRED_PAD_FIELDS,
    Limits,
    json_kind,
    parse_reference,
    parse_timestamp,
)

DEFAULT_LIMITS = Limits()  # the documented contract of v1 (frozen, shared)


def parse_inspection(
    raw: bytes | bytearray | memoryview | str | dict[str, Any], limits: Limits = DEFAULT_LIMITS
) -> BoardInspection:
    """Validate one `spi.board_inspection.v1` event; raise `InvalidEvent` naming the field and the fix.

    JSON input first tries `schemas.fast_decode.parse_fast`, which returns the board this function's
    reference path would return or None; on None (anything unusual, every invalid event) the reference
    path decides, so results and error messages are the reference path's either way.
    """
    if not isinstance(raw, dict):
        board = parse_fast(raw, limits)
        if board is not None:
            return board
    return parse_reference(raw, limits)


def validate_lines(
    lines: Iterable[bytes | str], limits: Limits = DEFAULT_LIMITS
) -> Iterator[tuple[int, BoardInspection | InvalidEvent]]:
    """Validate JSON Lines: yield (1-based line number, board or the error). Blank lines are skipped."""
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield line_no, parse_inspection(line, limits)
        except InvalidEvent as exc:
            yield line_no, exc


__all__ = [
    "CONTEXT_INT_FIELDS",
    "CONTEXT_STRING_FIELDS",
    "ID_FIELDS",
    "OPTIONAL_PAD_FIELDS",
    "OPTIONAL_PAD_STRING_FIELDS",
    "REQUIRED_PAD_FIELDS",
    "InvalidEvent",
    "Limits",
    "json_kind",
    "parse_inspection",
    "parse_reference",
    "parse_timestamp",
    "validate_lines",
]
