"""Simulated production runs for the diagnosis work: one layout per seed, printers with defects, truth.

A *layout* is a simulator fleet seed: `crrn.sim.fleet` draws the recipe from it (and `layout_pads` its pad
count), so layout k gets the
recipe id `L{k}` here (the fleet names every first recipe "R01"; renamed so several layouts can live in
one model file). Printers of one layout differ in their process seed: printer index i of layout k always
has the same noise, so "unseen seeds" means printer indexes never used for training.

`defect_envelope` gives per board and defect |f(t)| with the squeegee-blade zeros of backward prints
filled in (the defect is present on the printer even on a print its blade does not touch): this is what
a window is labelled with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from crrn.sim.defects import DefectSpec, s_curve
from crrn.sim.fleet import FleetSpec, simulate_fleet
from crrn.sim.truth import GroundTruth
from schemas.inspection import BoardInspection
from schemas.messages import DEFECT_TYPES

MIN_LAYOUT_PADS, MAX_LAYOUT_PADS = 300, 900


def layout_id(layout_seed: int) -> str:
    return f"L{layout_seed}"


def layout_pads(layout_seed: int) -> int:
    """Pads of layout `layout_seed`: fixed by the seed (so the recipe id alone names the layout)."""
    rng = np.random.default_rng([layout_seed, 0xD1A6])
    return int(rng.integers(MIN_LAYOUT_PADS, MAX_LAYOUT_PADS + 1))


@dataclass(frozen=True, eq=False)
class SimulatedRun:
    """Boards of one printer in print order, their ground truth, and the defects acting on it."""

    printer_id: str
    boards: tuple[BoardInspection, ...]
    truths: tuple[GroundTruth, ...]
    defects: tuple[DefectSpec, ...]

    @property
    def recipe_id(self) -> str:
        return self.boards[0].recipe_id

    def defect_envelope(self, classes: Sequence[str] = DEFECT_TYPES) -> np.ndarray:
        """(N, n_classes) |f(t)| per board and defect, squeegee blade included on backward prints."""
        index = np.array([b.print_index for b in self.boards])
        out = np.zeros((len(self.boards), len(classes)))
        for spec in self.defects:
            t = index - spec.start_index + 1
            s = s_curve(np.clip(t, 1, spec.duration), spec.duration)
            f = 1.0 - s if spec.name == "no_kneading" else s
            k = list(classes).index(spec.name)
            out[:, k] = np.maximum(out[:, k], np.where(t >= 1, f, 0.0))
        return out

    def defect_severity(self, name: str) -> np.ndarray:
        """(N,) signed f(t) of defect `name` exactly as the simulator applied it (0 when absent)."""
        return np.array(
            [sum(d.severity for d in truth.defects if d.name == name) for truth in self.truths], dtype=float
        )


def simulate_runs(
    layout_seed: int,
    n_boards: int,
    printer_defects: Sequence[tuple[DefectSpec, ...]],
    *,
    first_printer: int = 0,
    cleaning_interval: int = 10,
) -> list[SimulatedRun]:
    """One run per entry of `printer_defects`, on printers `first_printer`, `first_printer + 1`, ...

    Printers below `first_printer` are simulated too (the fleet numbers them) but not returned, so the
    same index always means the same printer noise. Every defect spec gets that printer's id.
    """
    n_total = first_printer + len(printer_defects)
    width = max(2, len(str(n_total)))
    printer_ids = [f"P{i + 1:0{width}d}" for i in range(n_total)]
    specs: list[DefectSpec] = []
    for i, defects in enumerate(printer_defects):
        pid = printer_ids[first_printer + i]
        specs.extend(replace(d, printer_id=pid) for d in defects)
    fleet = FleetSpec(
        printers=n_total,
        recipes=1,
        pads=layout_pads(layout_seed),
        boards_per_printer=n_boards,
        cleaning_interval=cleaning_interval,
        defects=tuple(specs),
    )
    wanted = set(printer_ids[first_printer:])
    boards: dict[str, list[BoardInspection]] = {p: [] for p in wanted}
    truths: dict[str, list[GroundTruth]] = {p: [] for p in wanted}
    recipe = layout_id(layout_seed)
    for board, truth in simulate_fleet(fleet, seed=layout_seed):
        if board.printer_id in wanted:
            boards[board.printer_id].append(replace(board, recipe_id=recipe))
            truths[board.printer_id].append(truth)
    runs = []
    for i, defects in enumerate(printer_defects):
        pid = printer_ids[first_printer + i]
        order = np.argsort([b.print_index for b in boards[pid]], kind="stable")
        runs.append(
            SimulatedRun(
                printer_id=pid,
                boards=tuple(boards[pid][k] for k in order),
                truths=tuple(truths[pid][k] for k in order),
                defects=tuple(replace(d, printer_id=pid) for d in defects),
            )
        )
    return runs
