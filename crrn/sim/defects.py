"""The five printer defects of Experiment 2: where they act (a per-pad mask) and how strong (f(t)).

    X_in = X_normal + M_label * f(t) * amplitude        (in per-pad normalized units)

so on raw data the effect is `volume_pct += f(t) * amplitude * pad_std` (pad_std = the pad's normal
standard deviation, `PrinterProcess.pad_std`). t counts prints since the defect's onset: t = 1 at
`start_index`, the ramp s(t) = sigmoid(10 t / T - 5) reaches ~0.99 at t = T = `duration` and is held
there afterwards; before the onset f = 0.

| defect          | mask                                                   | f(t)                          |
| squeegee_blade  | a stripe along the print direction (y), 6-12 % of W   | s(t) on forward prints, else 0|
| support         | an ellipse over a broad region, excess                 | s(t)                          |
| removed_paste   | dense pads inside a band of the squeegee trail         | -s(t)                         |
| no_kneading     | a rectangle over ~36-56 % of the board                 | -(1 - s(t)): early, fading    |
| clamp           | pads near the two clamped edges (low and high y)       | sign * s(t), sign = +1 or -1  |

Coordinates: x across the board, y along the print direction, board [0, W] x [0, H].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crrn.sim.recipes import Recipe
from schemas.messages import DEFECT_TYPES


@dataclass(frozen=True)
class DefectSpec:
    """One defect on one printer (or all printers when `printer_id` is None)."""

    name: str
    start_index: int = 1  # first print_index affected (t = 1 there)
    duration: int = 100  # T: prints until the ramp saturates
    amplitude: float = 4.0  # effect size at f = 1, in pad std units
    sign: int = 1  # clamp only: +1 excessive, -1 insufficient
    printer_id: str | None = None

    def __post_init__(self) -> None:
        if self.name not in DEFECT_TYPES:
            raise ValueError(f"defect {self.name!r} is unknown; use one of {', '.join(DEFECT_TYPES)}")
        if self.duration < 1 or self.start_index < 0:
            raise ValueError("defect duration must be >= 1 and start_index >= 0")
        if self.sign not in (1, -1):
            raise ValueError(f"defect sign {self.sign}: use +1 (excessive) or -1 (insufficient)")


def s_curve(t: np.ndarray | float, duration: int) -> np.ndarray:
    """s(t) = sigmoid(10 t / T - 5)."""
    return 1.0 / (1.0 + np.exp(-(10.0 * np.asarray(t, dtype=np.float64) / duration - 5.0)))


def severity(spec: DefectSpec, print_index: int, forward: bool) -> float:
    """f(t) of `spec` at `print_index` (signed; 0 before onset)."""
    t = print_index - spec.start_index + 1
    if t < 1:
        return 0.0
    s = float(s_curve(min(t, spec.duration), spec.duration))
    if spec.name == "squeegee_blade":
        return s if forward else 0.0
    if spec.name == "support":
        return s
    if spec.name == "removed_paste":
        return -s
    if spec.name == "no_kneading":
        return -(1.0 - s)
    return spec.sign * s  # clamp


def _local_density(recipe: Recipe, cell_mm: float = 5.0) -> np.ndarray:
    """(P,) pads in the 3x3 neighbourhood of cells (cell_mm) around each pad."""
    ix = (recipe.x_mm // cell_mm).astype(np.int64)
    iy = (recipe.y_mm // cell_mm).astype(np.int64)
    counts = np.zeros((iy.max() + 3, ix.max() + 3))
    np.add.at(counts, (iy + 1, ix + 1), 1.0)
    padded = np.pad(counts, 1)
    box = sum(
        padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )
    return np.asarray(box)[iy + 1, ix + 1]


def defect_mask(name: str, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    """(P,) bool: the pads a defect of type `name` acts on, drawn once per printer and run."""
    x, y, W, H = recipe.x_mm, recipe.y_mm, recipe.width_mm, recipe.height_mm
    if name == "squeegee_blade":
        width = rng.uniform(0.06, 0.12) * W
        centre = x[rng.integers(recipe.n_pads)]  # centred on a pad so the stripe is never empty
        return np.abs(x - centre) <= width / 2
    if name == "support":
        cx, cy = rng.uniform(0.3, 0.7) * W, rng.uniform(0.3, 0.7) * H
        rx, ry = rng.uniform(0.2, 0.3) * W, rng.uniform(0.2, 0.3) * H
        return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
    if name == "removed_paste":
        band = 0.35 * W
        x0 = rng.uniform(0.0, W - band)
        in_band = (x >= x0) & (x <= x0 + band)
        if not in_band.any():
            in_band[:] = True
        density = _local_density(recipe)
        return in_band & (density >= np.quantile(density[in_band], 0.7))
    if name == "no_kneading":
        fx, fy = rng.uniform(0.6, 0.75), rng.uniform(0.6, 0.75)
        x0, y0 = rng.uniform(0, 1 - fx) * W, rng.uniform(0, 1 - fy) * H
        return (x >= x0) & (x <= x0 + fx * W) & (y >= y0) & (y <= y0 + fy * H)
    if name == "clamp":
        d = max(0.08 * H, 3.0)
        return (y <= y.min() + d) | (y >= y.max() - d)
    raise ValueError(f"defect {name!r} is unknown; use one of {', '.join(DEFECT_TYPES)}")
