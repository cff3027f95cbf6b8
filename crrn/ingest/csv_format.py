"""Column layouts of per-pad SPI CSV exports: the built-in formats and TOML mapping files for the rest.

A `CsvFormat` says which CSV column holds which board-event field (`columns`: event field -> header), the
unit factor to apply (`scale`: the value is multiplied by it), how offsets are given (`offset_unit`: um,
mm, or % of the pad size as in the PHM 2022 export), which columns identify one board inside a file
(`board_key`), and how the inspector's verdict words map to pass / warning / fail (`results`).

Built-in formats:
- `phm2022`: the PHM Society 2022 data challenge export (Bitron SPI): one row per pad, boards keyed by
  (PanelID, FigureID); FigureID is the board's array position on the panel; SizeX / SizeY taken as mm,
  OffsetX/Y (%) as % of the pad size; PadType is the aperture group; Date + Time the inspection time.
- `kohyoung`: a Koh Young-style per-pad export: boards keyed by (Barcode, ArrayIndex), the component and
  pin name each pad (pad id = "<component>-<pin>"), volume / height / area in % and um, offsets in um.

Mapping file (TOML; every key but `[columns]` optional), e.g.:

    name = "acme"
    board_key = ["Serial", "Array"]
    delimiter = ";"
    decimal = ","
    offset_unit = "um"
    datetime_formats = ["%d.%m.%Y %H:%M:%S"]
    [columns]
    barcode = "Serial"
    panel_position = "Array"
    component_ref = "Ref"
    pin = "Pin"
    x_mm = "X"
    ...
    [scale]
    x_mm = 0.001          # the file gives um
    [results]
    OK = "pass"
    NG = "fail"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Event fields a column may feed. Pad fields are per row; board fields must be constant within a board.
PAD_NUMBER_FIELDS = (
    "x_mm", "y_mm", "size_x_mm", "size_y_mm", "volume_pct", "height_um", "area_pct", "offset_x", "offset_y",
)  # fmt: skip
PAD_STRING_FIELDS = ("pad_id", "component_ref", "pin", "shape", "spi_result")
BOARD_STRING_FIELDS = (
    "barcode", "printer_id", "line_id", "inspector_id", "recipe_id", "stencil_id", "squeegee_direction",
    "timestamp", "date", "time",
)  # fmt: skip
BOARD_INT_FIELDS = ("panel_position", "print_index", "prints_since_cleaning")
KNOWN_FIELDS = PAD_NUMBER_FIELDS + PAD_STRING_FIELDS + BOARD_STRING_FIELDS + BOARD_INT_FIELDS
REQUIRED_FIELDS = ("x_mm", "y_mm", "size_x_mm", "size_y_mm", "volume_pct", "height_um", "area_pct")
OFFSET_UNITS = ("um", "mm", "pct_of_size")

DEFAULT_RESULTS = {
    "pass": "pass", "ok": "pass", "good": "pass", "go": "pass", "0": "pass",
    "warning": "warning", "warn": "warning", "w": "warning",
    "fail": "fail", "ng": "fail", "bad": "fail", "nogo": "fail", "1": "fail", "error": "fail",
}  # fmt: skip
DEFAULT_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y%m%d %H%M%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
)  # fmt: skip


@dataclass(frozen=True)
class CsvFormat:
    """How one vendor's per-pad CSV maps onto the board event (see the module docstring)."""

    name: str
    columns: dict[str, str]  # event field -> CSV header
    board_key: tuple[str, ...]  # CSV headers whose values together name one board in the file
    scale: dict[str, float] = field(default_factory=dict)  # event field -> factor
    offset_unit: str = "um"
    results: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_RESULTS)
    )  # lower-case word -> verdict
    delimiter: str = ","
    decimal: str = "."
    datetime_formats: tuple[str, ...] = DEFAULT_DATETIME_FORMATS

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(KNOWN_FIELDS))
        if unknown:
            raise ValueError(
                f"format {self.name}: unknown fields {unknown}; map only {', '.join(KNOWN_FIELDS)}"
            )
        missing = [f for f in REQUIRED_FIELDS if f not in self.columns]
        if "pad_id" not in self.columns and not {"component_ref", "pin"} <= set(self.columns):
            missing.append("pad_id (or component_ref + pin)")
        if missing:
            raise ValueError(f"format {self.name}: map a column to {', '.join(missing)}")
        if not self.board_key:
            raise ValueError(
                f"format {self.name}: board_key names no column; list the columns that name a board"
            )
        if self.offset_unit not in OFFSET_UNITS:
            raise ValueError(
                f"format {self.name}: offset_unit {self.offset_unit!r}; use one of {OFFSET_UNITS}"
            )
        bad = {k: v for k, v in self.results.items() if v not in ("pass", "warning", "fail")}
        if bad:
            raise ValueError(f"format {self.name}: results {bad}; map each word to pass, warning or fail")
        if len(self.delimiter) != 1 or self.decimal not in (".", ","):
            raise ValueError(f"format {self.name}: delimiter must be one character and decimal '.' or ','")

    def header_of(self, event_field: str) -> str:
        return self.columns.get(event_field, event_field)


PHM2022 = CsvFormat(
    name="phm2022",
    columns={
        "pad_id": "PadID", "component_ref": "ComponentID", "pin": "PinNumber", "panel_position": "FigureID",
        "date": "Date", "time": "Time", "x_mm": "PosX(mm)", "y_mm": "PosY(mm)", "shape": "PadType",
        "volume_pct": "Volume(%)", "height_um": "Height(um)", "area_pct": "Area(%)", "offset_x": "OffsetX(%)",
        "offset_y": "OffsetY(%)", "size_x_mm": "SizeX", "size_y_mm": "SizeY", "spi_result": "Result",
    },
    board_key=("PanelID", "FigureID"),
    offset_unit="pct_of_size",
)  # fmt: skip
KOHYOUNG = CsvFormat(
    name="kohyoung",
    columns={
        "barcode": "Barcode", "panel_position": "ArrayIndex", "component_ref": "ComponentID",
        "pin": "PinNumber", "timestamp": "InspectionTime", "shape": "PadType", "x_mm": "PosX(mm)",
        "y_mm": "PosY(mm)", "size_x_mm": "SizeX(mm)", "size_y_mm": "SizeY(mm)", "volume_pct": "Volume(%)",
        "height_um": "Height(um)", "area_pct": "Area(%)", "offset_x": "OffsetX(um)",
        "offset_y": "OffsetY(um)",
        "spi_result": "Result",
    },
    board_key=("Barcode", "ArrayIndex"),
    offset_unit="um",
)  # fmt: skip
BUILTIN_FORMATS = {f.name: f for f in (PHM2022, KOHYOUNG)}
# Header order of the built-in exports (what `spi-crrn simulate --format csv` writes; extra columns the
# parser does not read, such as Volume(um3), are written too so files look like the real exports).
PHM2022_HEADER = (
    "PanelID", "FigureID", "ComponentID", "PinNumber", "PadID", "Date", "Time", "PosX(mm)", "PosY(mm)",
    "PadType", "Volume(%)", "Height(um)", "Area(%)", "OffsetX(%)", "OffsetY(%)", "SizeX", "SizeY",
    "Volume(um3)", "Area(um2)", "Shape(um)", "Result",
)  # fmt: skip
KOHYOUNG_HEADER = (
    "Barcode", "ArrayIndex", "InspectionTime", "ComponentID", "PinNumber", "PadType", "PosX(mm)", "PosY(mm)",
    "SizeX(mm)", "SizeY(mm)", "Volume(%)", "Volume(um3)", "Height(um)", "Area(%)", "Area(um2)", "OffsetX(um)",
    "OffsetY(um)", "Result",
)  # fmt: skip


def builtin_format(name: str) -> CsvFormat:
    if name not in BUILTIN_FORMATS:
        raise ValueError(
            f"unknown CSV format {name!r}; use one of {', '.join(BUILTIN_FORMATS)} or --mapping FILE"
        )
    return BUILTIN_FORMATS[name]


def format_from_mapping(doc: dict[str, Any], name: str = "mapping") -> CsvFormat:
    """A `CsvFormat` from a parsed TOML mapping document (see the module docstring)."""
    known = {"name", "columns", "board_key", "scale", "offset_unit", "results", "delimiter", "decimal",
             "datetime_formats"}  # fmt: skip
    extra = sorted(set(doc) - known)
    if extra:
        raise ValueError(f"mapping {name}: unknown keys {extra}; use {', '.join(sorted(known))}")
    columns = doc.get("columns")
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise ValueError(f"mapping {name}: [columns] must map event fields to CSV header strings")
    key = doc.get("board_key", [])
    if isinstance(key, str):
        key = [key]
    results = dict(DEFAULT_RESULTS)
    results.update({str(k).strip().lower(): str(v) for k, v in doc.get("results", {}).items()})
    return CsvFormat(
        name=str(doc.get("name", name)),
        columns=dict(columns),
        board_key=tuple(str(k) for k in key),
        scale={str(k): float(v) for k, v in doc.get("scale", {}).items()},
        offset_unit=str(doc.get("offset_unit", "um")),
        results=results,
        delimiter=str(doc.get("delimiter", ",")),
        decimal=str(doc.get("decimal", ".")),
        datetime_formats=tuple(doc.get("datetime_formats", DEFAULT_DATETIME_FORMATS)),
    )


def load_mapping(path: str | Path) -> CsvFormat:
    """Read a TOML mapping file; ValueError names the problem."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"mapping {path}: not valid TOML ({exc})") from None
    return format_from_mapping(doc, path.stem)
