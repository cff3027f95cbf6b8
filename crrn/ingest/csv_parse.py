"""One per-pad SPI CSV file (bytes) -> validated `BoardInspection`s, or a `CsvRejectedError` (line, column).

Vectorized per file: pyarrow.csv reads every column as strings; numeric columns are checked with one
regular expression per column and cast at once; rows are grouped into boards with one `np.unique`; the
only Python loop is over boards (a few per file), never over pads. Every board then goes through
`schemas.validation.parse_inspection`, and a rejection there is mapped back to the CSV line and header.

Identity of the boards (the `IngestContext` carries what the file does not):
- printer / line / inspector: a mapped column, else the context (CLI flags); line defaults to the printer.
- recipe: a mapped column, else the context, else "auto-" + the first 12 hex digits of the SHA-1 of the
  board's sorted pad ids (boards with the same pads share a recipe, which is what windows need).
- board_id: the barcode when mapped, else the board key values joined with "-".
- event_id: uuid5 of (file content SHA-256, board key): re-ingesting the same bytes gives the same ids.
- inspected_at: a `timestamp` column or `date` + `time` columns, read with the format's datetime formats
  in the context's timezone; else the context's fallback time (the file's modification time).
- print_index: a mapped column, else from the inspection time: milliseconds since the epoch x 10_000 +
  panel position, so boards sort in print order and the multi-up boards of one print stay distinct.
Line numbers assume one CSV record per line (header = line 1), which is what SPI exports write.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from crrn.ingest.csv_format import BOARD_INT_FIELDS, BOARD_STRING_FIELDS, PAD_NUMBER_FIELDS, CsvFormat
from schemas.errors import InvalidEvent
from schemas.messages import ID_NAMESPACE
from schemas.validation import parse_inspection

NUMBER_RE = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
INTEGER_RE = r"^\s*[+]?[0-9]+\s*$"
PRINT_INDEX_PER_MS = 10_000


class CsvRejectedError(ValueError):
    """A file that cannot be ingested: where (line, column) and what to fix."""

    def __init__(self, line: int | None, column: str | None, problem: str) -> None:
        self.line, self.column, self.problem = line, column, problem
        where = ", ".join(
            p for p in (f"line {line}" if line else "", f"column {column!r}" if column else "") if p
        )
        super().__init__(f"{where}: {problem}" if where else problem)


@dataclass(frozen=True)
class IngestContext:
    """What the file itself may not say: the printer and line it came from, the clock, its hash."""

    content_sha256: str
    fallback_time: datetime  # timezone-aware; used when the format maps no time columns
    timezone: tzinfo
    printer_id: str | None = None
    line_id: str | None = None
    inspector_id: str | None = None
    recipe_id: str | None = None
    stencil_id: str | None = None


@dataclass(frozen=True, eq=False)
class ParsedFile:
    boards: list[Any]  # list[BoardInspection], in the order of their first row in the file
    board_keys: list[str]  # the board key of each, "\x1f"-joined
    n_rows: int


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def board_event_id(content_sha256: str, board_key: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"csv\x1f{content_sha256}\x1f{board_key}"))


def _read_table(data: bytes, fmt: CsvFormat) -> pa.Table:
    text_start = data[:65536].decode("utf-8-sig", errors="replace")
    first = text_start.splitlines()[0] if text_start.strip() else ""
    if not first:
        raise CsvRejectedError(1, None, "the file is empty; write a header line and one row per pad")
    try:
        header_table = pacsv.read_csv(
            io.BytesIO(first.encode() + b"\n"),
            parse_options=pacsv.ParseOptions(delimiter=fmt.delimiter),
        )
        names = header_table.column_names
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(encoding="utf-8"),
            parse_options=pacsv.ParseOptions(delimiter=fmt.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise CsvRejectedError(
            _line_of(str(exc)), None, f"is not a readable CSV ({exc}); fix the quoting or delimiter"
        ) from None
    needed = [fmt.columns[f] for f in fmt.columns] + list(fmt.board_key)
    missing = [h for h in dict.fromkeys(needed) if h not in table.column_names]
    if missing:
        raise CsvRejectedError(
            1, missing[0], f"is not in the header; this format ({fmt.name}) needs {', '.join(missing)}"
        )
    if table.num_rows == 0:
        raise CsvRejectedError(2, None, "the file has a header but no rows; write one row per pad")
    return table


def _line_of(message: str) -> int | None:
    import re

    m = re.search(r"[Rr]ow #?(\d+)", message)
    return int(m.group(1)) + 1 if m else None


def _strings(table: pa.Table, header: str) -> np.ndarray:
    return np.asarray(pc.utf8_trim_whitespace(table.column(header)).to_numpy(zero_copy_only=False)).astype(
        str
    )


def _numbers(table: pa.Table, header: str, fmt: CsvFormat) -> np.ndarray:
    col = pc.utf8_trim_whitespace(table.column(header))
    if fmt.decimal == ",":
        col = pc.replace_substring(col, ",", ".")
    ok = pc.match_substring_regex(col, NUMBER_RE).to_numpy(zero_copy_only=False)
    if not ok.all():
        i = int(np.argmin(ok))
        value = col[i].as_py()
        raise CsvRejectedError(
            i + 2,
            header,
            f"is {value!r}, not a number; write a decimal number ('{fmt.decimal}' as decimal mark)",
        )
    return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _integers(values: np.ndarray, header: str, rows: np.ndarray) -> np.ndarray:
    ok = np.char.isdigit(values)
    if not ok.all():
        i = int(np.argmin(ok))
        raise CsvRejectedError(
            int(rows[i]) + 2, header, f"is {values[i]!r}, not an integer >= 0; write a whole number"
        )
    return values.astype(np.int64)


def _verdicts(values: np.ndarray, header: str, fmt: CsvFormat) -> np.ndarray:
    lower = np.char.lower(values)
    words = np.array(sorted(fmt.results))
    pos = np.clip(np.searchsorted(words, lower), 0, len(words) - 1)
    known = words[pos] == lower
    if not known.all():
        i = int(np.argmin(known))
        problem = (
            f"is {values[i]!r}, an unknown verdict; use one of {', '.join(words)} "
            "or map it in the [results] table of a mapping file"
        )
        raise CsvRejectedError(i + 2, header, problem)
    verdict = np.array([fmt.results[w] for w in words])
    return verdict[pos]


def _parse_time(text: str, fmt: CsvFormat, zone: tzinfo) -> datetime | None:
    for pattern in fmt.datetime_formats:
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed
    return None


def parse_csv(data: bytes, fmt: CsvFormat, ctx: IngestContext) -> ParsedFile:
    """Parse one export file; raise `CsvRejectedError` (line, column, fix) for the first problem found."""
    table = _read_table(data, fmt)
    n_rows = table.num_rows
    # Board grouping: one combined key per row, boards in the order of their first row.
    key_parts = [_strings(table, h) for h in fmt.board_key]
    keys = key_parts[0] if len(key_parts) == 1 else np.char.add(key_parts[0], "")
    for part in key_parts[1:]:
        keys = np.char.add(np.char.add(keys, "\x1f"), part)
    empty = np.char.str_len(keys) == 0
    if empty.any():
        i = int(np.argmax(empty))
        raise CsvRejectedError(i + 2, fmt.board_key[0], "is empty; every row needs its board key")
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    board_order = np.argsort(first, kind="stable")  # (B,) unique index, in file order
    rank = np.empty_like(board_order)
    rank[board_order] = np.arange(len(board_order))
    rows_sorted = np.argsort(rank[inverse], kind="stable")  # (N,) rows grouped by board, file order inside
    bounds = np.concatenate([[0], np.cumsum(np.bincount(rank[inverse], minlength=len(uniq)))])

    pad_cols: dict[str, np.ndarray] = {}
    for name in PAD_NUMBER_FIELDS:
        if name in fmt.columns:
            pad_cols[name] = _numbers(table, fmt.columns[name], fmt) * fmt.scale.get(name, 1.0)
    for name in ("pad_id", "component_ref", "pin", "shape"):
        if name in fmt.columns:
            pad_cols[name] = _strings(table, fmt.columns[name])
    if "pad_id" not in pad_cols:
        pad_cols["pad_id"] = np.char.add(np.char.add(pad_cols["component_ref"], "-"), pad_cols["pin"])
    if "spi_result" in fmt.columns:
        pad_cols["spi_result"] = _verdicts(
            _strings(table, fmt.columns["spi_result"]), fmt.columns["spi_result"], fmt
        )
    for axis, size in (("offset_x", "size_x_mm"), ("offset_y", "size_y_mm")):
        if axis in pad_cols:
            raw = pad_cols.pop(axis)
            if fmt.offset_unit == "pct_of_size":
                pad_cols[f"{axis}_um"] = raw / 100.0 * pad_cols[size] * 1000.0
            else:
                pad_cols[f"{axis}_um"] = raw * (1000.0 if fmt.offset_unit == "mm" else 1.0)
    board_cols = {
        n: _strings(table, fmt.columns[n]) for n in BOARD_STRING_FIELDS + BOARD_INT_FIELDS if n in fmt.columns
    }
    _check_constant(board_cols, fmt, rows_sorted, bounds)

    boards, board_keys = [], []
    for b, u in enumerate(board_order):
        rows = rows_sorted[bounds[b] : bounds[b + 1]]  # (P,) file rows of this board
        first_row = int(rows[0])
        event = _board_dict(fmt, ctx, board_cols, first_row, rows, str(uniq[u]), key_parts, pad_cols)
        try:
            boards.append(parse_inspection(event))
        except InvalidEvent as exc:
            raise _locate(exc, fmt, rows) from None
        board_keys.append(str(uniq[u]))
    return ParsedFile(boards, board_keys, n_rows)


def _check_constant(
    cols: dict[str, np.ndarray], fmt: CsvFormat, rows_sorted: np.ndarray, bounds: np.ndarray
) -> None:
    """Board-level columns must hold one value per board (a file mixing printers in a board is wrong)."""
    starts = np.repeat(rows_sorted[bounds[:-1]], np.diff(bounds))  # (N,) first row of each row's board
    for name, values in cols.items():
        differs = values[rows_sorted] != values[starts]
        if differs.any():
            i = int(rows_sorted[int(np.argmax(differs))])
            first = values[int(starts[int(np.argmax(differs))])]
            problem = f"is {values[i]!r} but the board's first row says {first!r}; one board has one {name}"
            raise CsvRejectedError(i + 2, fmt.columns[name], problem)


def _board_dict(
    fmt: CsvFormat,
    ctx: IngestContext,
    board_cols: dict[str, np.ndarray],
    first_row: int,
    rows: np.ndarray,
    key: str,
    key_parts: list[np.ndarray],
    pad_cols: dict[str, np.ndarray],
) -> dict[str, Any]:
    def board_value(name: str) -> str | None:
        col = board_cols.get(name)
        value = None if col is None else str(col[first_row])
        return value or None

    line = 2 + first_row
    ints: dict[str, int | None] = {}
    for name in BOARD_INT_FIELDS:
        value = board_value(name)
        ints[name] = (
            None
            if value is None
            else int(_integers(np.array([value]), fmt.columns[name], np.array([first_row]))[0])
        )
    if "timestamp" in board_cols:
        text = board_value("timestamp") or ""
    elif "date" in board_cols and "time" in board_cols:
        text = f"{board_value('date') or ''} {board_value('time') or ''}"
    else:
        text = ""
    inspected_at = ctx.fallback_time
    if text:
        parsed = _parse_time(text.strip(), fmt, ctx.timezone)
        if parsed is None:
            column = fmt.columns.get("timestamp") or fmt.columns.get("date")
            problem = (
                f"is {text!r}, not a time this format reads; use one of "
                f"{', '.join(fmt.datetime_formats[:3])} or set datetime_formats in a mapping file"
            )
            raise CsvRejectedError(line, column, problem)
        inspected_at = parsed
    position = ints["panel_position"]
    print_index = ints["print_index"]
    if print_index is None:
        ms = round(inspected_at.timestamp() * 1000)
        print_index = max(ms, 0) * PRINT_INDEX_PER_MS + (position or 0)
    printer = board_value("printer_id") or ctx.printer_id
    if printer is None:
        raise CsvRejectedError(line, None, "names no printer; pass --printer ID or map a printer_id column")
    line_id = board_value("line_id") or ctx.line_id or printer
    pad_id = pad_cols["pad_id"][rows]
    recipe = board_value("recipe_id") or ctx.recipe_id
    if recipe is None:
        digest = hashlib.sha1("\x1f".join(np.sort(pad_id).tolist()).encode()).hexdigest()
        recipe = f"auto-{digest[:12]}"
    pads: dict[str, Any] = {
        "pad_id": pad_id,
        "shape": pad_cols["shape"][rows] if "shape" in pad_cols else np.full(len(rows), "pad"),
    }
    for name in ("x_mm", "y_mm", "size_x_mm", "size_y_mm", "volume_pct", "height_um", "area_pct",
                 "offset_x_um", "offset_y_um", "component_ref", "spi_result"):  # fmt: skip
        if name in pad_cols:
            pads[name] = pad_cols[name][rows]
    direction = board_value("squeegee_direction")
    return {
        "schema": "spi.board_inspection.v1",
        "event_id": board_event_id(ctx.content_sha256, key),
        "line_id": line_id,
        "printer_id": printer,
        "inspector_id": board_value("inspector_id") or ctx.inspector_id or f"SPI-{line_id}",
        "recipe_id": recipe,
        "board_id": board_value("barcode") or "-".join(str(p[first_row]) for p in key_parts),
        "print_index": print_index,
        "inspected_at": inspected_at,
        "squeegee_direction": None if direction is None else direction.lower(),
        "barcode": board_value("barcode"),
        "panel_position": position,
        "stencil_id": board_value("stencil_id") or ctx.stencil_id,
        "prints_since_cleaning": ints["prints_since_cleaning"],
        "pads": pads,
    }


# event field of parse_inspection -> format field, for naming the CSV column of a rejection
_EVENT_TO_FORMAT = {"offset_x_um": "offset_x", "offset_y_um": "offset_y", "board_id": "barcode"}


def _locate(exc: InvalidEvent, fmt: CsvFormat, rows: np.ndarray) -> CsvRejectedError:
    """Map `pads.volume_pct[17]` back to the CSV line of that pad and the header of that column."""
    field = exc.field
    line: int | None = int(rows[0]) + 2
    name = field
    if field.startswith("pads."):
        name = field[5:]
        if "[" in name:
            name, _, rest = name.partition("[")
            line = int(rows[int(rest.rstrip("]"))]) + 2
    name = _EVENT_TO_FORMAT.get(name, name)
    column = fmt.columns.get(name)
    if column is None and name == "pad_id" and "component_ref" in fmt.columns:
        column = f"{fmt.columns['component_ref']}+{fmt.columns['pin']}"
    return CsvRejectedError(line, column or field, exc.problem)
