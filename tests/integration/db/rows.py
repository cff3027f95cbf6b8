"""Rows for the database tests: a board_inspections row by hand and its INSERT (writer role)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def board_row(event_id: str, printer: str, index: int) -> dict[str, object]:
    return {
        "event_id": event_id,
        "printer_id": printer,
        "line_id": "L1",
        "inspector_id": "SPI-1",
        "recipe_id": "R1",
        "board_id": f"B{index}",
        "print_index": index,
        "inspected_at": T0.replace(minute=index),
        "n_pads": 2,
        "status": "scored",
    }


INSERT_BOARD = text(
    """INSERT INTO board_inspections (event_id, printer_id, line_id, inspector_id, recipe_id, board_id,
       print_index, inspected_at, n_pads, status)
       VALUES (:event_id, :printer_id, :line_id, :inspector_id, :recipe_id, :board_id, :print_index,
       :inspected_at, :n_pads, :status)"""
)
