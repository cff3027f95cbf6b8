"""Synthetic board recipes: packages placed on a board, each bringing its pads and aperture group.

A recipe is what a stencil and an SPI program share: pad ids, positions, sizes and aperture groups.
`make_recipe(seed, n_pads)` draws a package mix that sums to exactly `n_pads` pads, sizes the board
for ~30 % footprint density, and places packages at random (rotated 0 or 90 degrees) on a 0.25 mm
occupancy raster so that package footprints (pads plus a clearance) never overlap; pads inside a
package never overlap by construction. Coordinates: x across the board, y along the print direction.

`place_in_package` is in [0, 1]: 0 at the package centre line, 1 at the ends of a pin row (the corner
pads of a QFP, the outer balls of a BGA); the printer model uses it for position-dependent volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PADS = 200
MAX_PADS = 50_000
CLEARANCE_MM = 0.4  # free margin around every package footprint
RASTER_MM = 0.25  # occupancy raster used for placement


@dataclass(frozen=True, eq=False)
class Footprint:
    """Pads of one package type relative to its centre, each array `(n,)`."""

    name: str
    ref_prefix: str
    dx: np.ndarray
    dy: np.ndarray
    size_x: np.ndarray
    size_y: np.ndarray
    shape: np.ndarray  # aperture group per pad
    place: np.ndarray  # place in package, [0, 1]

    @property
    def n(self) -> int:
        return int(self.dx.shape[0])


def _chip(name: str, pad_w: float, pad_h: float, centre: float) -> Footprint:
    return Footprint(
        name,
        "C",
        np.array([-centre, centre]),
        np.zeros(2),
        np.full(2, pad_w),
        np.full(2, pad_h),
        np.array([f"chip-{name}"] * 2),
        np.zeros(2),
    )


def _row(n: int, pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of n pins at `pitch` centred on 0, and their place (|offset| / half row length)."""
    along = (np.arange(n) - (n - 1) / 2) * pitch
    half = max(float(np.abs(along).max()), 1e-9)
    return along, np.abs(along) / half


def _dual_row(
    name: str, prefix: str, per_row: int, pitch: float, span: float, pad: tuple[float, float], group: str
) -> Footprint:
    along, place = _row(per_row, pitch)
    dx = np.concatenate([along, along[::-1]])
    dy = np.concatenate([np.full(per_row, -span / 2), np.full(per_row, span / 2)])
    n = 2 * per_row
    return Footprint(
        name, prefix, dx, dy, np.full(n, pad[0]), np.full(n, pad[1]), np.array([group] * n), np.tile(place, 2)
    )


def _quad(
    name: str,
    per_side: int,
    pitch: float,
    span: float,
    pad: tuple[float, float],
    group: str,
    thermal: float = 0.0,
) -> Footprint:
    along, place = _row(per_side, pitch)
    h = span / 2
    dx = np.concatenate([along, np.full(per_side, h), along[::-1], np.full(per_side, -h)])
    dy = np.concatenate([np.full(per_side, -h), along, np.full(per_side, h), along[::-1]])
    horizontal = np.r_[np.ones(per_side), np.zeros(per_side), np.ones(per_side), np.zeros(per_side)].astype(
        bool
    )
    sx = np.where(horizontal, pad[0], pad[1])
    sy = np.where(horizontal, pad[1], pad[0])
    shape = np.array([group] * (4 * per_side))
    places = np.tile(place, 4)
    if thermal > 0:
        dx, dy = np.r_[dx, 0.0], np.r_[dy, 0.0]
        sx, sy = np.r_[sx, thermal], np.r_[sy, thermal]
        shape = np.append(shape, f"{group}-thermal")
        places = np.r_[places, 0.0]
    return Footprint(name, "U", dx, dy, sx, sy, shape, places)


def _grid(name: str, rows: int, pitch: float, diameter: float, group: str) -> Footprint:
    along, _ = _row(rows, pitch)
    gx, gy = np.meshgrid(along, along)
    dx, dy = gx.ravel(), gy.ravel()
    place = np.maximum(np.abs(dx), np.abs(dy)) / max(float(np.abs(along).max()), 1e-9)
    n = dx.size
    return Footprint(
        name, "U", dx, dy, np.full(n, diameter), np.full(n, diameter), np.array([group] * n), place
    )


def package_library() -> dict[str, Footprint]:
    """The package types a recipe may use (dimensions in mm, typical IPC land patterns)."""
    sot = Footprint(
        "SOT-23", "Q", np.array([-0.95, 0.95, 0.0]), np.array([-1.0, -1.0, 1.0]),
        np.full(3, 0.6), np.full(3, 0.7), np.array(["SOT-23"] * 3), np.array([1.0, 1.0, 0.0]),
    )  # fmt: skip
    lib = [
        _chip("0201", 0.30, 0.30, 0.25),
        _chip("0402", 0.50, 0.55, 0.45),
        _chip("0603", 0.80, 0.90, 0.75),
        _chip("0805", 1.00, 1.30, 0.95),
        sot,
        _dual_row("SOIC-8", "U", 4, 1.27, 5.4, (0.6, 1.55), "SOIC-1.27"),
        _dual_row("SOIC-16", "U", 8, 1.27, 5.4, (0.6, 1.55), "SOIC-1.27"),
        _quad("QFP-44", 11, 0.8, 11.4, (0.45, 1.5), "QFP-0.8"),
        _quad("QFP-100", 25, 0.5, 15.4, (0.28, 1.5), "QFP-0.5"),
        _quad("QFN-32", 8, 0.5, 4.6, (0.25, 0.7), "QFN-0.5", thermal=3.1),
        _grid("BGA-100", 10, 0.8, 0.40, "BGA-0.8"),
        _grid("BGA-256", 16, 1.0, 0.45, "BGA-1.0"),
        _dual_row("CONN-40", "J", 20, 1.27, 4.0, (0.6, 2.0), "CONN-1.27"),
    ]
    return {fp.name: fp for fp in lib}


# Relative frequency of each package type in a recipe's mix (chips dominate, as on real boards).
PACKAGE_WEIGHTS = {
    "0201": 10, "0402": 30, "0603": 14, "0805": 6, "SOT-23": 6, "SOIC-8": 3, "SOIC-16": 2,
    "QFP-44": 0.8, "QFP-100": 0.5, "QFN-32": 1.2, "BGA-100": 0.4, "BGA-256": 0.25, "CONN-40": 0.6,
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Recipe:
    """One board program. Pad arrays are `(P,)`; positions are pad centres in mm, 0 <= x <= width."""

    name: str
    seed: int
    width_mm: float
    height_mm: float
    pad_id: np.ndarray  # (P,) str, "<ref>-<pin>"
    x_mm: np.ndarray  # (P,) float64
    y_mm: np.ndarray  # (P,) float64, print direction
    size_x_mm: np.ndarray  # (P,) float64
    size_y_mm: np.ndarray  # (P,) float64
    shape: np.ndarray  # (P,) str, aperture group
    package_id: np.ndarray  # (P,) str, reference designator of the pad's package
    package_type: np.ndarray  # (P,) str, e.g. "QFP-100"
    place_in_package: np.ndarray  # (P,) float64 in [0, 1]

    @property
    def n_pads(self) -> int:
        return int(self.pad_id.shape[0])


def _draw_mix(rng: np.random.Generator, lib: dict[str, Footprint], n_pads: int) -> list[str]:
    """Package names whose pad counts sum to exactly n_pads."""
    names = list(PACKAGE_WEIGHTS)
    weights = np.array([PACKAGE_WEIGHTS[n] for n in names], dtype=float)
    weights /= weights.sum()
    mix: list[str] = []
    remaining = n_pads
    while remaining > 0:
        name = names[rng.choice(len(names), p=weights)]
        count = lib[name].n
        if (
            count <= remaining - 5
            or (count == 2 and remaining % 2 == 0)
            or (count == 3 and remaining % 2 == 1 and remaining >= 3)
        ):
            mix.append(name)
            remaining -= count
    return mix


def make_recipe(seed: int, n_pads_target: int, name: str | None = None) -> Recipe:
    """A recipe with exactly `n_pads_target` pads (200..50,000), deterministic in `seed`."""
    if not MIN_PADS <= n_pads_target <= MAX_PADS:
        raise ValueError(f"n_pads_target={n_pads_target}: choose between {MIN_PADS} and {MAX_PADS} pads")
    rng = np.random.default_rng([seed, n_pads_target, 0x5EC1])
    lib = package_library()
    mix = _draw_mix(rng, lib, n_pads_target)
    rotations = rng.integers(0, 2, size=len(mix)).astype(bool)
    # Package extents (half widths) with clearance, after rotation.
    half_w = np.array([np.max(np.abs(lib[m].dx) + lib[m].size_x / 2) for m in mix]) + CLEARANCE_MM
    half_h = np.array([np.max(np.abs(lib[m].dy) + lib[m].size_y / 2) for m in mix]) + CLEARANCE_MM
    half_w, half_h = np.where(rotations, half_h, half_w), np.where(rotations, half_w, half_h)
    area = float(np.sum(4 * half_w * half_h))
    width = float(np.sqrt(area / 0.30 * 1.4))
    height = width / 1.4
    # Place the largest packages first; every package gets a free raster window or the board grows.
    order = np.argsort(-(half_w * half_h), kind="stable")
    cx = np.zeros(len(mix))
    cy = np.zeros(len(mix))
    while True:
        nx, ny = int(np.ceil(width / RASTER_MM)), int(np.ceil(height / RASTER_MM))
        occupied = np.zeros((ny, nx), dtype=bool)
        ok = True
        for k in order:
            wc, hc = int(np.ceil(half_w[k] * 2 / RASTER_MM)), int(np.ceil(half_h[k] * 2 / RASTER_MM))
            for _ in range(200):
                ix, iy = int(rng.integers(0, nx - wc + 1)), int(rng.integers(0, ny - hc + 1))
                if not occupied[iy : iy + hc, ix : ix + wc].any():
                    occupied[iy : iy + hc, ix : ix + wc] = True
                    cx[k] = (ix + wc / 2) * RASTER_MM
                    cy[k] = (iy + hc / 2) * RASTER_MM
                    break
            else:
                ok = False
                break
        if ok:
            break
        width, height = width * 1.1, height * 1.1
    return _assemble(name or f"R{seed}-{n_pads_target}", seed, width, height, lib, mix, rotations, cx, cy)


def _assemble(
    name: str, seed: int, width: float, height: float, lib: dict[str, Footprint],
    mix: list[str], rotations: np.ndarray, cx: np.ndarray, cy: np.ndarray,
) -> Recipe:  # fmt: skip
    counters: dict[str, int] = {}
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("id", "x", "y", "sx", "sy", "shape", "pkg", "type", "place")
    }
    for k, pkg_name in enumerate(mix):  # one iteration per package; pads of a package are arrays
        fp = lib[pkg_name]
        counters[fp.ref_prefix] = counters.get(fp.ref_prefix, 0) + 1
        ref = f"{fp.ref_prefix}{counters[fp.ref_prefix]}"
        dx, dy, sx, sy = (
            (fp.dy, fp.dx, fp.size_y, fp.size_x) if rotations[k] else (fp.dx, fp.dy, fp.size_x, fp.size_y)
        )
        parts["id"].append(np.char.add(f"{ref}-", np.arange(1, fp.n + 1).astype(str)))
        parts["x"].append(cx[k] + dx)
        parts["y"].append(cy[k] + dy)
        parts["sx"].append(sx)
        parts["sy"].append(sy)
        parts["shape"].append(fp.shape)
        parts["pkg"].append(np.full(fp.n, ref))
        parts["type"].append(np.full(fp.n, fp.name))
        parts["place"].append(fp.place)
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return Recipe(
        name=name,
        seed=seed,
        width_mm=round(width, 3),
        height_mm=round(height, 3),
        pad_id=cat["id"].astype(str),
        x_mm=np.round(cat["x"], 4),
        y_mm=np.round(cat["y"], 4),
        size_x_mm=cat["sx"].astype(np.float64),
        size_y_mm=cat["sy"].astype(np.float64),
        shape=cat["shape"].astype(str),
        package_id=cat["pkg"].astype(str),
        package_type=cat["type"].astype(str),
        place_in_package=cat["place"].astype(np.float64),
    )
