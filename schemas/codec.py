"""Encode a `BoardInspection` back to its wire form (the inverse of `schemas.validation`).

`parse_inspection(inspection_to_json(board))` gives a board equal to `board` field by field: floats are
written with Python's shortest round-tripping repr, timestamps in RFC 3339 with their offset.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.inspection import BoardInspection
from schemas.validation import (
    CONTEXT_INT_FIELDS,
    CONTEXT_STRING_FIELDS,
    OPTIONAL_PAD_FIELDS,
    OPTIONAL_PAD_STRING_FIELDS,
    REQUIRED_PAD_FIELDS,
)


def inspection_to_dict(board: BoardInspection) -> dict[str, Any]:
    """The JSON-ready dict of one board (pads as columnar lists; optional fields only when set)."""
    pads: dict[str, Any] = {name: getattr(board.pads, name).tolist() for name in REQUIRED_PAD_FIELDS}
    for name in OPTIONAL_PAD_FIELDS + OPTIONAL_PAD_STRING_FIELDS:
        column = getattr(board.pads, name)
        if column is not None:
            pads[name] = column.tolist()
    out: dict[str, Any] = {
        "schema": board.schema,
        "event_id": board.event_id,
        "line_id": board.line_id,
        "printer_id": board.printer_id,
        "inspector_id": board.inspector_id,
        "recipe_id": board.recipe_id,
        "board_id": board.board_id,
        "print_index": board.print_index,
        "inspected_at": board.inspected_at.isoformat(),
    }
    if board.squeegee_direction is not None:
        out["squeegee_direction"] = board.squeegee_direction
    for name in CONTEXT_STRING_FIELDS + CONTEXT_INT_FIELDS:
        value = getattr(board, name)
        if value is not None:
            out[name] = value
    out["pads"] = pads
    return out


def inspection_to_json(board: BoardInspection) -> bytes:
    """Compact UTF-8 JSON of one board, one line (no newline inside), ready for Kafka or JSONL."""
    return json.dumps(inspection_to_dict(board), separators=(",", ":"), allow_nan=False).encode("utf-8")
