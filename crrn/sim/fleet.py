"""Many printers, lines and recipes at once, as one event stream in time order.

Printer i (ids P01, P02, ...) sits on line `i % lines` (L01, ...) and prints recipe `i % recipes`
(R01, ...); each prints one board every `cycle_s` seconds (+ `cleaning_s` after a stencil cleaning),
starting at a random offset inside the first cycle. `simulate_fleet` merges the printers' boards by
`inspected_at` and yields `(BoardInspection, GroundTruth)`; every board passes `parse_inspection`.
Everything is deterministic in `seed`: event ids are uuid5(seed, printer, print_index).

Boards also carry what real lines send (issue 13): a barcode, panel position 1 (single-up boards), the
stencil id (one stencil per recipe and printer), prints since the last stencil cleaning (the printer's
cleaning phase), each pad's component reference designator and an SPI verdict from fixed volume limits
(`spi_verdict`), the way an inspector's own program judges pads without any model.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from crrn.sim.defects import DefectSpec
from crrn.sim.injections import inject_volume_pct
from crrn.sim.printer import PrinterConfig, PrinterProcess
from crrn.sim.recipes import Recipe, make_recipe
from crrn.sim.truth import SOURCE_INJECTED, GroundTruth
from schemas.inspection import BoardInspection
from schemas.messages import ID_NAMESPACE
from schemas.validation import parse_inspection


@dataclass(frozen=True)
class FleetSpec:
    printers: int = 1
    lines: int | None = None  # default: one line per printer
    recipes: int = 1
    pads: int = 1000  # pads per recipe
    boards_per_printer: int = 100
    cleaning_interval: int = 10  # K
    defects: tuple[DefectSpec, ...] = ()
    inject_ratio: float = 0.0  # Experiment-1 anomalies on every board when > 0
    inject_mu: float = 5.0
    inject_sigma: float = 0.1
    start: datetime = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
    cycle_s: float = 20.0
    cleaning_s: float = 30.0
    first_print_index: int = 1
    config: PrinterConfig = field(default_factory=PrinterConfig)

    def __post_init__(self) -> None:
        for name in ("printers", "recipes", "boards_per_printer"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.lines is not None and self.lines < 1:
            raise ValueError(f"lines={self.lines}: must be >= 1")


@dataclass(frozen=True, eq=False)
class SimPrinter:
    printer_id: str
    line_id: str
    recipe: Recipe
    process: PrinterProcess


# The inspector's own fixed limits on volume (% of aperture): outside WARN -> warning, outside FAIL -> fail.
SPI_WARN_PCT = (60.0, 140.0)
SPI_FAIL_PCT = (40.0, 170.0)


def spi_verdict(volume_pct: np.ndarray) -> np.ndarray:
    """(P,) volume in % -> (P,) 'pass' | 'warning' | 'fail' by the fixed limits above."""
    fail = (volume_pct < SPI_FAIL_PCT[0]) | (volume_pct > SPI_FAIL_PCT[1])
    warn = (volume_pct < SPI_WARN_PCT[0]) | (volume_pct > SPI_WARN_PCT[1])
    return np.where(fail, "fail", np.where(warn, "warning", "pass"))


def event_id_for(seed: int, printer_id: str, print_index: int) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"sim\x1f{seed}\x1f{printer_id}\x1f{print_index}"))


def build_printers(spec: FleetSpec, seed: int) -> list[SimPrinter]:
    """The fleet's printers with their recipes and processes (exposes pad_mean / pad_std per printer)."""
    width = max(2, len(str(spec.printers)))
    recipes = [
        make_recipe(seed * 1009 + r, spec.pads, name=f"R{r + 1:0{width}d}") for r in range(spec.recipes)
    ]
    config = replace(spec.config, cleaning_interval=spec.cleaning_interval)
    lines = spec.lines or spec.printers
    out = []
    for i in range(spec.printers):
        printer_id = f"P{i + 1:0{width}d}"
        defects = tuple(d for d in spec.defects if d.printer_id in (None, printer_id))
        process = PrinterProcess(recipes[i % spec.recipes], config, seed * 7919 + i, defects)
        out.append(SimPrinter(printer_id, f"L{i % lines + 1:0{width}d}", recipes[i % spec.recipes], process))
    return out


def _printer_stream(
    spec: FleetSpec, seed: int, printer: SimPrinter, index: int
) -> Iterator[tuple[datetime, int, BoardInspection, GroundTruth]]:
    rng = np.random.default_rng([seed, index, 0x71E])
    inject_rng = np.random.default_rng([seed, index, 0x1A])
    recipe, process = printer.recipe, printer.process
    at = spec.start + timedelta(seconds=float(rng.uniform(0, spec.cycle_s)))
    for k in range(spec.boards_per_printer):
        print_index = spec.first_print_index + k
        event_id = event_id_for(seed, printer.printer_id, print_index)
        printed = process.print_board(print_index, event_id)
        volume, truth = printed.volume_pct, printed.truth
        if spec.inject_ratio > 0:
            inj = inject_volume_pct(
                volume,
                process.pad_mean,
                process.pad_std,
                inject_rng,
                spec.inject_ratio,
                spec.inject_mu,
                spec.inject_sigma,
            )
            volume = inj.values
            labels = np.where(inj.mask, inj.labels, truth.labels).astype(np.int8)
            sources = truth.sources | (inj.mask * SOURCE_INJECTED).astype(np.uint8)
            truth = replace(truth, labels=labels, sources=sources)
        raw = {
            "schema": "spi.board_inspection.v1",
            "event_id": event_id,
            "line_id": printer.line_id,
            "printer_id": printer.printer_id,
            "inspector_id": f"SPI-{printer.line_id}",
            "recipe_id": recipe.name,
            "board_id": f"{recipe.name}-{printer.printer_id}-{print_index:07d}",
            "print_index": print_index,
            "inspected_at": at,
            "squeegee_direction": "forward" if printed.forward else "backward",
            "barcode": f"SN{printer.printer_id}{print_index:09d}",
            "panel_position": 1,
            "stencil_id": f"ST-{recipe.name}-{printer.printer_id}",
            "prints_since_cleaning": process.cleaning_phase(print_index),
            "pads": {
                "pad_id": recipe.pad_id,
                "x_mm": recipe.x_mm,
                "y_mm": recipe.y_mm,
                "size_x_mm": recipe.size_x_mm,
                "size_y_mm": recipe.size_y_mm,
                "shape": recipe.shape,
                "volume_pct": np.round(volume, 3),
                "height_um": np.round(printed.height_um, 2),
                "area_pct": np.round(printed.area_pct, 3),
                "offset_x_um": np.round(printed.offset_x_um, 1),
                "offset_y_um": np.round(printed.offset_y_um, 1),
                "component_ref": recipe.package_id,
                "spi_result": spi_verdict(np.round(volume, 3)),
            },
        }
        yield at, index, parse_inspection(raw), truth
        gap = spec.cycle_s * float(rng.uniform(0.95, 1.05))
        if process.cleaning_phase(print_index + 1) == 0:
            gap += spec.cleaning_s
        at = at + timedelta(seconds=gap)


def simulate_fleet(spec: FleetSpec, seed: int) -> Iterator[tuple[BoardInspection, GroundTruth]]:
    """All printers' boards merged in `inspected_at` order (ties: printer order)."""
    printers = build_printers(spec, seed)
    streams = [_printer_stream(spec, seed, p, i) for i, p in enumerate(printers)]
    for _, _, board, truth in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield board, truth
