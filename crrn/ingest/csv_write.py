"""Write boards as per-pad CSV in a built-in export layout (what `spi-crrn simulate --format csv` writes).

The inverse of `csv_parse` for the built-in formats, so the whole ingest path can be tested from the
simulator: one file per board, one row per pad, columns in the vendor's order, floats in Python's
shortest round-tripping repr. Vectorized: one pyarrow table per board, written by pyarrow.csv.

Values the layouts need but the board event does not carry are derived and documented here:
- phm2022: PanelID = print_index (one print = one panel), FigureID = panel_position (1 when unknown),
  Date / Time = inspected_at in UTC, OffsetX/Y(%) = offset / pad size, Volume(um3) and Area(um2) from the
  percentages with a 120 um stencil, Shape(um) = height, Result GOOD / WARNING / BAD.
- kohyoung: ArrayIndex = panel_position (1 when unknown), InspectionTime in UTC, Result OK / WARNING / NG.
"""

from __future__ import annotations

import io
from datetime import UTC

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from crrn.ingest.csv_format import KOHYOUNG_HEADER, PHM2022_HEADER
from schemas.inspection import BoardInspection

STENCIL_UM = 120.0
LAYOUTS = ("phm2022", "kohyoung")
_WORDS = {
    "phm2022": {"pass": "GOOD", "warning": "WARNING", "fail": "BAD"},
    "kohyoung": {"pass": "OK", "warning": "WARNING", "fail": "NG"},
}


def _verdict_words(board: BoardInspection, layout: str) -> np.ndarray:
    verdict = board.pads.spi_result
    if verdict is None:
        verdict = np.full(board.n_pads, "pass")
    words = _WORDS[layout]
    return np.select(
        [verdict == "pass", verdict == "warning"], [words["pass"], words["warning"]], words["fail"]
    )


def board_to_csv(board: BoardInspection, layout: str) -> bytes:
    """One board's CSV export in `layout` ("phm2022" or "kohyoung")."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown CSV layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    p = board.pads
    n = board.n_pads
    zeros = np.zeros(n)
    off_x = p.offset_x_um if p.offset_x_um is not None else zeros
    off_y = p.offset_y_um if p.offset_y_um is not None else zeros
    refs = p.component_ref if p.component_ref is not None else p.pad_id
    position = board.panel_position or 1
    at = board.inspected_at.astimezone(UTC)
    aperture_um2 = p.size_x_mm * p.size_y_mm * 1e6  # (P,)
    if layout == "phm2022":
        cols: dict[str, object] = {
            "PanelID": np.full(n, board.print_index),
            "FigureID": np.full(n, position),
            "ComponentID": refs,
            "PinNumber": np.arange(1, n + 1),
            "PadID": p.pad_id,
            "Date": np.full(n, at.strftime("%Y-%m-%d")),
            "Time": np.full(n, at.strftime("%H:%M:%S.%f")),
            "PosX(mm)": p.x_mm,
            "PosY(mm)": p.y_mm,
            "PadType": p.shape,
            "Volume(%)": p.volume_pct,
            "Height(um)": p.height_um,
            "Area(%)": p.area_pct,
            "OffsetX(%)": off_x / (p.size_x_mm * 1000.0) * 100.0,
            "OffsetY(%)": off_y / (p.size_y_mm * 1000.0) * 100.0,
            "SizeX": p.size_x_mm,
            "SizeY": p.size_y_mm,
            "Volume(um3)": p.volume_pct / 100.0 * aperture_um2 * STENCIL_UM,
            "Area(um2)": p.area_pct / 100.0 * aperture_um2,
            "Shape(um)": p.height_um,
            "Result": _verdict_words(board, layout),
        }
        header: tuple[str, ...] = PHM2022_HEADER
    else:
        # pad_id "<ref>-<pin>" is what the Koh Young layout rebuilds: the pin is the rest after the ref
        # (when the ref itself holds no "-"; otherwise the whole pad id is written as the pin)
        prefixed = np.char.startswith(p.pad_id, np.char.add(refs, "-")) & (np.char.find(refs, "-") < 0)
        pins = np.where(prefixed, np.char.partition(p.pad_id, "-")[:, 2], p.pad_id)
        cols = {
            "Barcode": np.full(n, board.barcode or board.board_id),
            "ArrayIndex": np.full(n, position),
            "InspectionTime": np.full(n, at.strftime("%Y/%m/%d %H:%M:%S.%f")),
            "ComponentID": refs,
            "PinNumber": pins,
            "PadType": p.shape,
            "PosX(mm)": p.x_mm,
            "PosY(mm)": p.y_mm,
            "SizeX(mm)": p.size_x_mm,
            "SizeY(mm)": p.size_y_mm,
            "Volume(%)": p.volume_pct,
            "Volume(um3)": p.volume_pct / 100.0 * aperture_um2 * STENCIL_UM,
            "Height(um)": p.height_um,
            "Area(%)": p.area_pct,
            "Area(um2)": p.area_pct / 100.0 * aperture_um2,
            "OffsetX(um)": off_x,
            "OffsetY(um)": off_y,
            "Result": _verdict_words(board, layout),
        }
        header = KOHYOUNG_HEADER
    table = pa.table({name: pa.array(cols[name]) for name in header})
    out = io.BytesIO()
    out.write((",".join(header) + "\n").encode())  # the header unquoted, as the vendors write it
    try:  # values unquoted too; quoted only if one holds a comma or a quote
        pacsv.write_csv(
            table, out, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")
        )
    except pa.ArrowInvalid:
        out = io.BytesIO()
        out.write((",".join(header) + "\n").encode())
        pacsv.write_csv(
            table, out, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
    return out.getvalue()
