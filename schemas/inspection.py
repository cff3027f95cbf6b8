"""The board inspection event as a typed, validated value: one SPI result for one printed board.

This is the in-memory form of `spi.board_inspection.v1` (see `schemas/json/`). It is built only by
`schemas.validation` (the one place that checks input), so code that receives a `BoardInspection` may
trust every invariant listed here without checking again.

Pads are columnar: every array has shape `(P,)` for the board's P pads, in the order the inspector sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

SCHEMA_V1 = "spi.board_inspection.v1"

SqueegeeDirection = Literal["forward", "backward"]
SPI_RESULTS = ("pass", "warning", "fail")  # the inspector's own per-pad verdict (pads.spi_result)


@dataclass(frozen=True, eq=False)
class PadArrays:
    """Per-pad measurements of one board, each array shape `(P,)`.

    Invariants (guaranteed by validation): equal lengths, `pad_id` unique, numbers finite,
    sizes > 0, volume/area/height >= 0. String arrays are numpy unicode arrays (`dtype.kind == "U"`).
    """

    pad_id: np.ndarray  # (P,) str, unique within the board
    x_mm: np.ndarray  # (P,) float64, pad centre on the board
    y_mm: np.ndarray  # (P,) float64
    size_x_mm: np.ndarray  # (P,) float64 > 0, aperture size
    size_y_mm: np.ndarray  # (P,) float64 > 0
    shape: np.ndarray  # (P,) str, aperture group (e.g. "0402", "QFP-0.5-pin")
    volume_pct: np.ndarray  # (P,) float64 >= 0, measured volume in % of the aperture volume
    height_um: np.ndarray  # (P,) float64 >= 0
    area_pct: np.ndarray  # (P,) float64 >= 0
    offset_x_um: np.ndarray | None = None  # (P,) float64, deposit offset from the pad centre
    offset_y_um: np.ndarray | None = None  # (P,) float64
    # Fields real inspections carry (issue 13); None when the inspector does not send them.
    component_ref: np.ndarray | None = None  # (P,) str, reference designator of the pad's component
    spi_result: np.ndarray | None = None  # (P,) str, one of SPI_RESULTS: the SPI's own verdict

    def __len__(self) -> int:
        return int(self.pad_id.shape[0])


@dataclass(frozen=True, eq=False)
class BoardInspection:
    """One inspected board. `print_index` is the printer's own print counter (>= 0).

    Optional context real lines carry (issue 13): `barcode` (the board's printed/laser barcode),
    `panel_position` (1-based array position of this board on a multi-up panel), `stencil_id`,
    `prints_since_cleaning` (prints since the last stencil cleaning, 0 = the first print after it).
    """

    event_id: str
    line_id: str
    printer_id: str
    inspector_id: str
    recipe_id: str
    board_id: str
    print_index: int
    inspected_at: datetime  # timezone-aware
    pads: PadArrays
    squeegee_direction: SqueegeeDirection | None = None
    schema: str = SCHEMA_V1
    barcode: str | None = None
    panel_position: int | None = None  # >= 1
    stencil_id: str | None = None
    prints_since_cleaning: int | None = None  # >= 0

    @property
    def n_pads(self) -> int:
        return len(self.pads)
