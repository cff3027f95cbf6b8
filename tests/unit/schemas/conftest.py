"""A small valid board event (plain JSON types) that tests modify to make each kind of bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest

VALID_EVENT: dict[str, Any] = {
    "schema": "spi.board_inspection.v1",
    "event_id": "e-1",
    "line_id": "L1",
    "printer_id": "P1",
    "inspector_id": "SPI-1",
    "recipe_id": "R1",
    "board_id": "B-0001",
    "print_index": 7,
    "inspected_at": "2024-05-01T08:30:00.125Z",
    "squeegee_direction": "forward",
    "pads": {
        "pad_id": ["C1-1", "C1-2", "U1-1"],
        "x_mm": [10.0, 11.0, 30.5],
        "y_mm": [5.0, 5.0, 20],
        "size_x_mm": [0.5, 0.5, 0.3],
        "size_y_mm": [0.55, 0.55, 1.5],
        "shape": ["chip-0402", "chip-0402", "QFP-0.5"],
        "volume_pct": [98.5, 101.2, 87.0],
        "height_um": [120.0, 118.5, 110.0],
        "area_pct": [99.0, 100.5, 95.0],
        "offset_x_um": [1.5, -2.0, 0.0],
        "offset_y_um": [0.0, 3.0, -1.0],
    },
}


@pytest.fixture
def event() -> dict[str, Any]:
    """A fresh deep copy of VALID_EVENT, safe to mutate."""
    return copy.deepcopy(VALID_EVENT)
