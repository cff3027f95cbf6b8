"""Parquet layout for board histories: one row per board, pads as list columns (layout "boards.v1").

Columns (Arrow types):
    event_id, line_id, printer_id, inspector_id, recipe_id, board_id: string
    print_index: int64;  inspected_at: timestamp[us, UTC];  squeegee_direction: string (nullable)
    pad_id, shape: list<string>;  x_mm, y_mm, size_x_mm, size_y_mm, volume_pct, height_um, area_pct:
    list<float64>;  offset_x_um, offset_y_um: list<float64> (null when the board had none)
    ground truth (null when unknown): labels list<int8> (+1 excess, -1 insufficient, 0),
    sources list<uint8> (bit field, see crrn.sim.truth), defects list<struct<name, severity, amplitude>>,
    cleaning_phase int32
    optional real-line fields (issue 13; absent in older files, read back as None): barcode,
    stencil_id string; panel_position int32; prints_since_cleaning int64; component_ref, spi_result
    list<string>
Row groups hold at most ROW_GROUP_BOARDS boards or ROW_GROUP_PADS pads, so `iter_parquet` reads a
file of any size in bounded memory. Every board read back goes through `parse_inspection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crrn.sim.truth import ActiveDefect, GroundTruth
from schemas.inspection import BoardInspection
from schemas.validation import (
    CONTEXT_INT_FIELDS,
    CONTEXT_STRING_FIELDS,
    ID_FIELDS,
    OPTIONAL_PAD_FIELDS,
    OPTIONAL_PAD_STRING_FIELDS,
    REQUIRED_PAD_FIELDS,
    parse_inspection,
)

LAYOUT = "boards.v1"
ROW_GROUP_BOARDS = 512
ROW_GROUP_PADS = 1_000_000
STRING_PAD_FIELDS = ("pad_id", "shape")
FLOAT_PAD_FIELDS = tuple(f for f in REQUIRED_PAD_FIELDS + OPTIONAL_PAD_FIELDS if f not in STRING_PAD_FIELDS)

BOARD_COLUMNS = (*ID_FIELDS, "print_index", "inspected_at", "squeegee_direction")
PLAIN_COLUMNS = (*BOARD_COLUMNS, "defects", "cleaning_phase")

DEFECT_TYPE = pa.struct([("name", pa.string()), ("severity", pa.float64()), ("amplitude", pa.float64())])
SCHEMA = pa.schema(
    [(name, pa.string()) for name in ID_FIELDS]
    + [
        ("print_index", pa.int64()),
        ("inspected_at", pa.timestamp("us", tz="UTC")),
        ("squeegee_direction", pa.string()),
    ]
    + [(name, pa.list_(pa.string())) for name in STRING_PAD_FIELDS]
    + [(name, pa.list_(pa.float64())) for name in FLOAT_PAD_FIELDS]
    + [
        ("labels", pa.list_(pa.int8())),
        ("sources", pa.list_(pa.uint8())),
        ("defects", pa.list_(DEFECT_TYPE)),
        ("cleaning_phase", pa.int32()),
    ]
    + [(name, pa.string()) for name in CONTEXT_STRING_FIELDS]
    + [("panel_position", pa.int32()), ("prints_since_cleaning", pa.int64())]
    + [(name, pa.list_(pa.string())) for name in OPTIONAL_PAD_STRING_FIELDS],
    metadata={b"spi_crrn.layout": LAYOUT.encode()},
)


def _list_column(chunks: list[np.ndarray | None], value_type: pa.DataType) -> pa.Array:
    """A list<value_type> column from per-board arrays (None -> null row)."""
    lengths = np.array([0 if c is None else len(c) for c in chunks], dtype=np.int32)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    present = [c for c in chunks if c is not None]
    values = pa.array(np.concatenate(present) if present else np.array([]), type=value_type)
    mask = pa.array([c is None for c in chunks]) if any(c is None for c in chunks) else None
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def _table(boards: list[BoardInspection], truths: list[GroundTruth | None]) -> pa.Table:
    cols: dict[str, Any] = {
        name: pa.array([getattr(b, name) for b in boards], pa.string()) for name in ID_FIELDS
    }
    cols["print_index"] = pa.array([b.print_index for b in boards], pa.int64())
    cols["inspected_at"] = pa.array(
        [b.inspected_at.astimezone(UTC) for b in boards], pa.timestamp("us", tz="UTC")
    )
    cols["squeegee_direction"] = pa.array([b.squeegee_direction for b in boards], pa.string())
    for name in STRING_PAD_FIELDS:
        cols[name] = _list_column([getattr(b.pads, name) for b in boards], pa.string())
    for name in FLOAT_PAD_FIELDS:
        cols[name] = _list_column([getattr(b.pads, name) for b in boards], pa.float64())
    cols["labels"] = _list_column([None if t is None else t.labels for t in truths], pa.int8())
    cols["sources"] = _list_column([None if t is None else t.sources for t in truths], pa.uint8())
    cols["defects"] = pa.array(
        [None if t is None else [d.__dict__ for d in t.defects] for t in truths], pa.list_(DEFECT_TYPE)
    )
    cols["cleaning_phase"] = pa.array([None if t is None else t.cleaning_phase for t in truths], pa.int32())
    for name in CONTEXT_STRING_FIELDS + CONTEXT_INT_FIELDS:
        cols[name] = pa.array([getattr(b, name) for b in boards], SCHEMA.field(name).type)
    for name in OPTIONAL_PAD_STRING_FIELDS:
        cols[name] = _list_column([getattr(b.pads, name) for b in boards], pa.string())
    return pa.Table.from_pydict(cols, schema=SCHEMA)


def write_parquet(path: str | Path, pairs: Iterable[tuple[BoardInspection, GroundTruth | None]]) -> int:
    """Write (board, truth or None) pairs in row groups; returns the number of boards."""
    count = 0
    with pq.ParquetWriter(str(path), SCHEMA, compression="zstd") as writer:
        buf_boards: list[BoardInspection] = []
        buf_truths: list[GroundTruth | None] = []
        pads = 0
        for board, truth in pairs:
            if truth is not None and truth.event_id != board.event_id:
                raise ValueError(
                    f"truth for {truth.event_id} given with board {board.event_id}; keep them aligned"
                )
            buf_boards.append(board)
            buf_truths.append(truth)
            pads += board.n_pads
            if len(buf_boards) >= ROW_GROUP_BOARDS or pads >= ROW_GROUP_PADS:
                writer.write_table(_table(buf_boards, buf_truths))
                count += len(buf_boards)
                buf_boards, buf_truths, pads = [], [], 0
        if buf_boards:
            writer.write_table(_table(buf_boards, buf_truths))
            count += len(buf_boards)
    return count


def _rows_of_list(column: pa.ChunkedArray | pa.Array, as_str: bool) -> list[np.ndarray | None]:
    """Split a list column of one batch into per-row numpy arrays (views, no per-element Python work)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = arr.offsets.to_numpy()
    values = arr.values.to_numpy(zero_copy_only=False)
    if as_str:
        values = values.astype(str)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return [values[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(arr))]


def iter_parquet(
    path: str | Path, batch_size: int = 64
) -> Iterator[tuple[BoardInspection, GroundTruth | None]]:
    """Boards (validated) with their truth, `batch_size` rows in memory at a time."""
    parquet = pq.ParquetFile(str(path))
    for batch in parquet.iter_batches(batch_size=batch_size):
        plain = {name: batch.column(name).to_pylist() for name in PLAIN_COLUMNS}
        lists = {
            name: _rows_of_list(batch.column(name), name in STRING_PAD_FIELDS)
            for name in (*STRING_PAD_FIELDS, *FLOAT_PAD_FIELDS)
        }
        names = set(batch.schema.names)  # files written before issue 13 lack the optional columns
        context = {
            n: batch.column(n).to_pylist() for n in CONTEXT_STRING_FIELDS + CONTEXT_INT_FIELDS if n in names
        }
        lists.update(
            {n: _rows_of_list(batch.column(n), True) for n in OPTIONAL_PAD_STRING_FIELDS if n in names}
        )
        labels = _rows_of_list(batch.column("labels"), False)
        sources = _rows_of_list(batch.column("sources"), False)
        for i in range(batch.num_rows):
            raw: dict[str, Any] = {"schema": "spi.board_inspection.v1"}
            raw.update(
                {
                    name: plain[name][i]
                    for name in (*ID_FIELDS, "print_index", "inspected_at", "squeegee_direction")
                }
            )
            raw.update({name: values[i] for name, values in context.items()})
            raw["pads"] = {name: rows[i] for name, rows in lists.items()}
            board = parse_inspection(raw)
            label_row, source_row = labels[i], sources[i]
            truth = None
            if label_row is not None and source_row is not None:
                defects = tuple(ActiveDefect(**d) for d in (plain["defects"][i] or []))
                truth = GroundTruth(
                    board.event_id,
                    label_row.copy(),
                    source_row.copy(),
                    defects,
                    int(plain["cleaning_phase"][i] or 0),
                )
            yield board, truth
