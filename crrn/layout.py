"""PadGrid: the pads of one recipe mapped to one grid cell each, and values moved between pads and grid.

The CRRN works on images `(C, H, W)`; an SPI board is a list of P pads at positions `(x_mm, y_mm)`.
`PadGrid.fit` gives every pad its own cell so that no measurement is lost (the authors' code used
`[int(y), int(x)]`, where pads closer than 1 mm overwrite each other) and pads that are close on the board
stay close on the grid.

Algorithm (vectorized over pads; the only Python loops run over pitch candidates and search offsets):
1. Quantize: cell = round((position - min position) / pitch), rows from y, columns from x.
2. Pitch: a geometric scan of pitches from the coarsest that still gives >= P cells down to the one
   giving ~16 cells per pad (steps of 0.2 % / 2 %), refined by bisection; each step is one `np.unique`
   over the P cell keys (the scan is the slow part: see benchmarks/bench_layout.py). Two choices:
   the largest pitch that moves no pad, and the largest that moves at most `max_moved_fraction` of the
   pads (a pad "moves" when it shares its quantized cell with a pad nearer that cell's centre); both
   need at least P cells. The no-move pitch is searched only down to half the budget pitch (4x the
   cells): random layouts would need a huge grid to move nothing, regular arrays do not. The no-move
   scan rejects most pitches on a 2,000-pad subset (a collision there is a collision of all pads).
   A regular array with pitch d thus gets pitch ~d and no moved pad: a 2 x 3 block becomes a 2 x 3 grid.
3. Collisions: in every shared cell the pad nearest the cell centre keeps it; the others take the nearest
   free cell, greedily: search offsets are visited in order of increasing distance, and for each offset
   all still-unplaced pads try it at once (ties for one free cell go to the pad listed first). Every pad
   therefore ends on the free cell nearest to its quantized cell at the time it was placed; the largest
   such displacement is kept as `max_displacement` (in cells).
4. Optional padding of (H, W) to a multiple (stride-2 encoders) or a minimum shape (several recipes
   trained together) adds empty cells at the bottom/right only, so cells keep their indices.

Values move between pad order and grid through flat indices `row * W + col` (one fancy-index each way).
The pad order of a PadGrid is canonical (the order of the board it was fitted on); `for_board` returns the
permutation that puts another board of the same recipe into that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.inspection import BoardInspection

LAYOUT_FORMAT = "spi-crrn.padgrid.v1"
_ZERO_MOVE_GROWTH = 4.0  # accept up to 4x the cells to keep every pad on its own quantized cell
DEFAULT_MAX_MOVED_FRACTION = 0.35  # share of pads that may leave their quantized cell (grid size trade-off)
MAX_CELLS_PER_PAD = 16.0  # finest pitch tried: about this many grid cells per pad
_EXACT_SCAN_RATIO = 1.002  # pitch step of the scan for a no-move pitch (its window is narrow)
_BUDGET_SCAN_RATIO = 1.02  # pitch step of the scan for the moved-fraction budget
_SUBSET = 2000  # pads of the cheap first collision test


@dataclass(frozen=True, eq=False)
class PadGrid:
    """Pads of one recipe on a (H, W) grid, one pad per cell. Arrays are (P,) in canonical pad order."""

    recipe_id: str
    pad_id: np.ndarray  # (P,) str, canonical order
    row: np.ndarray  # (P,) int64 in [0, H)
    col: np.ndarray  # (P,) int64 in [0, W)
    height: int  # H
    width: int  # W
    pitch_mm: float
    origin_mm: tuple[float, float]  # (x_min, y_min): the centre of cell (0, 0)
    max_displacement: int  # largest Chebyshev distance (cells) between a pad's quantized and final cell

    def __post_init__(self) -> None:
        n = self.pad_id.shape[0]
        if self.row.shape != (n,) or self.col.shape != (n,):
            raise ValueError(f"PadGrid {self.recipe_id}: pad_id, row and col must all have shape ({n},)")
        if n and (self.row.min() < 0 or self.row.max() >= self.height):
            raise ValueError(f"PadGrid {self.recipe_id}: row outside [0, {self.height})")
        if n and (self.col.min() < 0 or self.col.max() >= self.width):
            raise ValueError(f"PadGrid {self.recipe_id}: col outside [0, {self.width})")
        flat = self.row * self.width + self.col
        if np.unique(flat).shape[0] != n:
            raise ValueError(f"PadGrid {self.recipe_id}: two pads share a grid cell")
        if np.unique(self.pad_id).shape[0] != n:
            raise ValueError(f"PadGrid {self.recipe_id}: pad_id values must be unique")
        sorter = np.argsort(self.pad_id, kind="stable")
        object.__setattr__(self, "_flat", flat)
        object.__setattr__(self, "_sorter", sorter)
        object.__setattr__(self, "_sorted_ids", self.pad_id[sorter])

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(
        cls,
        recipe_id: str,
        pad_id: np.ndarray,
        x_mm: np.ndarray,
        y_mm: np.ndarray,
        *,
        max_moved_fraction: float = DEFAULT_MAX_MOVED_FRACTION,
        multiple_of: int = 1,
    ) -> PadGrid:
        """Place pads (P,) on the smallest practical grid; see the module docstring for the algorithm."""
        pad_id = np.asarray(pad_id).astype(str)
        x = np.asarray(x_mm, dtype=np.float64)
        y = np.asarray(y_mm, dtype=np.float64)
        n = pad_id.shape[0]
        if n == 0:
            raise ValueError(f"recipe {recipe_id}: no pads to place; a layout needs at least one pad")
        if x.shape != (n,) or y.shape != (n,):
            raise ValueError(f"recipe {recipe_id}: pad_id, x_mm and y_mm must have the same length")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError(f"recipe {recipe_id}: x_mm/y_mm must be finite")
        if not 0.0 <= max_moved_fraction < 1.0:
            raise ValueError("max_moved_fraction must be in [0, 1)")
        u = x - x.min()  # (P,) distance from the left edge, mm
        v = y - y.min()  # (P,) distance from the top edge, mm
        pitch = _choose_pitch(u, v, max_moved_fraction)
        row, col, disp = _place(u / pitch, v / pitch)
        height = int(row.max()) + 1
        width = int(col.max()) + 1
        grid = cls(
            recipe_id=recipe_id,
            pad_id=pad_id,
            row=row,
            col=col,
            height=height,
            width=width,
            pitch_mm=float(pitch),
            origin_mm=(float(x.min()), float(y.min())),
            max_displacement=int(disp),
        )
        return grid.padded(multiple_of=multiple_of)

    @classmethod
    def from_board(cls, board: BoardInspection, **kwargs: Any) -> PadGrid:
        """Fit the layout of `board.recipe_id` on the pads of one board."""
        p = board.pads
        return cls.fit(board.recipe_id, p.pad_id, p.x_mm, p.y_mm, **kwargs)

    def padded(self, *, multiple_of: int = 1, min_shape: tuple[int, int] = (1, 1)) -> PadGrid:
        """The same cells on a grid grown at the bottom/right to >= min_shape, a multiple of `multiple_of`."""
        if multiple_of < 1:
            raise ValueError("multiple_of must be >= 1")
        h = max(self.height, min_shape[0])
        w = max(self.width, min_shape[1])
        h = -(-h // multiple_of) * multiple_of
        w = -(-w // multiple_of) * multiple_of
        if (h, w) == (self.height, self.width):
            return self
        return PadGrid(
            recipe_id=self.recipe_id,
            pad_id=self.pad_id,
            row=self.row,
            col=self.col,
            height=h,
            width=w,
            pitch_mm=self.pitch_mm,
            origin_mm=self.origin_mm,
            max_displacement=self.max_displacement,
        )

    # ------------------------------------------------------------------ properties
    @property
    def n_pads(self) -> int:
        return int(self.pad_id.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def flat_index(self) -> np.ndarray:
        """(P,) int64: `row * W + col` of every pad."""
        return self._flat  # type: ignore[attr-defined]

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: True where a cell holds a pad (M_pad)."""
        m = np.zeros(self.height * self.width, dtype=bool)
        m[self.flat_index] = True
        return m.reshape(self.height, self.width)

    # ------------------------------------------------------------------ pads <-> grid
    def to_grid(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(..., P) values in canonical pad order -> (..., H, W); cells without a pad get `fill`."""
        values = np.asarray(values)
        if values.shape[-1] != self.n_pads:
            raise ValueError(
                f"layout {self.recipe_id}: values have {values.shape[-1]} pads on the last axis, "
                f"the layout has {self.n_pads}"
            )
        lead = values.shape[:-1]
        out = np.full((*lead, self.height * self.width), fill, dtype=values.dtype)
        out[..., self.flat_index] = values
        return out.reshape(*lead, self.height, self.width)

    def from_grid(self, grid: np.ndarray) -> np.ndarray:
        """(..., H, W) -> (..., P) in canonical pad order."""
        grid = np.asarray(grid)
        if grid.shape[-2:] != self.shape:
            raise ValueError(
                f"layout {self.recipe_id}: grid has shape {grid.shape[-2:]} on its last axes, "
                f"expected {self.shape}"
            )
        flat = grid.reshape(*grid.shape[:-2], self.height * self.width)
        return flat[..., self.flat_index]

    def for_board(self, board: BoardInspection) -> np.ndarray:
        """(P,) int64 index `idx` such that `board.pads.<field>[idx]` is in this layout's pad order.

        Raises ValueError naming the unknown or missing pad ids when the board's pads are not exactly
        this recipe's pads.
        """
        if board.recipe_id != self.recipe_id:
            raise ValueError(
                f"board {board.board_id}: recipe_id {board.recipe_id!r} does not match "
                f"layout {self.recipe_id!r}"
            )
        ids = np.asarray(board.pads.pad_id).astype(str)
        if ids.shape == self.pad_id.shape and np.array_equal(ids, self.pad_id):
            return np.arange(self.n_pads, dtype=np.int64)
        # canonical position of each board pad, via binary search in the sorted canonical ids
        sorted_ids: np.ndarray = self._sorted_ids  # type: ignore[attr-defined]
        pos = np.searchsorted(sorted_ids, ids)
        pos_clipped = np.minimum(pos, self.n_pads - 1)
        known = sorted_ids[pos_clipped] == ids
        if not known.all():
            unknown = ids[~known][:5].tolist()
            raise ValueError(
                f"board {board.board_id} (event {board.event_id}): pads.pad_id has {int((~known).sum())} "
                f"pad ids unknown to the layout of recipe {self.recipe_id}, e.g. {unknown}; "
                "retrain or recalibrate the model with this recipe's current pad list"
            )
        canonical = self._sorter[pos_clipped]  # type: ignore[attr-defined]
        if ids.shape[0] != self.n_pads:
            present = np.zeros(self.n_pads, dtype=bool)
            present[canonical] = True
            missing = self.pad_id[~present][:5].tolist()
            raise ValueError(
                f"board {board.board_id} (event {board.event_id}): pads.pad_id lacks "
                f"{self.n_pads - ids.shape[0]} pads of recipe {self.recipe_id}, e.g. {missing}; "
                "every board must report every pad of its recipe"
            )
        idx = np.empty(self.n_pads, dtype=np.int64)
        idx[canonical] = np.arange(self.n_pads)
        return idx

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (stored in the model file)."""
        return {
            "format": LAYOUT_FORMAT,
            "recipe_id": self.recipe_id,
            "pad_id": self.pad_id.tolist(),
            "row": self.row.tolist(),
            "col": self.col.tolist(),
            "height": self.height,
            "width": self.width,
            "pitch_mm": self.pitch_mm,
            "origin_mm": list(self.origin_mm),
            "max_displacement": self.max_displacement,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PadGrid:
        if data.get("format") != LAYOUT_FORMAT:
            raise ValueError(f"layout.format: expected {LAYOUT_FORMAT!r}, got {data.get('format')!r}")
        return cls(
            recipe_id=str(data["recipe_id"]),
            pad_id=np.asarray(data["pad_id"], dtype=str),
            row=np.asarray(data["row"], dtype=np.int64),
            col=np.asarray(data["col"], dtype=np.int64),
            height=int(data["height"]),
            width=int(data["width"]),
            pitch_mm=float(data["pitch_mm"]),
            origin_mm=(float(data["origin_mm"][0]), float(data["origin_mm"][1])),
            max_displacement=int(data["max_displacement"]),
        )


def _moved_fraction(u: np.ndarray, v: np.ndarray, pitch: float) -> tuple[float, int]:
    """Fraction of pads that lose their quantized cell at `pitch`, and the number of grid cells."""
    r = np.rint(v / pitch).astype(np.int64)  # (P,)
    c = np.rint(u / pitch).astype(np.int64)  # (P,)
    w = int(c.max()) + 1
    cells = (int(r.max()) + 1) * w
    n_unique = np.unique(r * w + c).shape[0]
    return 1.0 - n_unique / u.shape[0], cells


def _coarsest_useful_pitch(span_u: float, span_v: float, n: int) -> float:
    """Largest pitch whose grid can still hold n cells: (su/p + 1.5)(sv/p + 1.5) >= n (rint adds <= .5)."""
    if span_u > 0 and span_v > 0:
        a, b, c = span_u * span_v, 1.5 * (span_u + span_v), 2.25 - n
        q = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)  # q = 1 / pitch
    else:
        q = max(n - 1.5, 1.0) / max(span_u, span_v)
    return float(1.0 / q)


def _choose_pitch(u: np.ndarray, v: np.ndarray, max_moved_fraction: float) -> float:
    """Pitch for cell coordinates (see the module docstring): the largest no-move pitch if one exists
    down to half the largest pitch within the moved-fraction budget, else that budget pitch."""
    n = u.shape[0]
    span_u, span_v = float(u.max()), float(v.max())
    extent = max(span_u, span_v)
    if n == 1 or extent == 0.0:
        if n > 1:
            raise ValueError("all pads are at the same position; pads need distinct x_mm/y_mm")
        return 1.0
    hi = min(extent, _coarsest_useful_pitch(span_u, span_v, n))
    # finest pitch worth trying: the grid then has about MAX_CELLS_PER_PAD cells per pad
    lo = extent / (MAX_CELLS_PER_PAD * n)
    if span_u > 0 and span_v > 0:
        lo = max(lo, float(np.sqrt(span_u * span_v / (MAX_CELLS_PER_PAD * n))))
    lo = min(lo, hi)

    def moves_none(p: float) -> bool:
        # a collision among a subset is a collision of the full set: reject cheaply on a subset first
        if sub is not None and _moved_fraction(u[sub], v[sub], p)[0] > 0.0:
            return False
        moved, cells = _moved_fraction(u, v, p)
        return cells >= n and moved == 0.0

    def within_budget(p: float) -> bool:
        moved, cells = _moved_fraction(u, v, p)
        return cells >= n and moved <= max_moved_fraction

    sub = np.random.default_rng(0).choice(n, _SUBSET, replace=False) if n > 2 * _SUBSET else None
    p_budget = _largest_ok(within_budget, hi, lo, _BUDGET_SCAN_RATIO)
    if p_budget is None:
        p_budget = lo  # densest allowed grid; displacement resolves the rest
    # a no-move pitch is only worth taking down to half the budget pitch (4x the cells)
    p_exact = _largest_ok(moves_none, hi, max(p_budget / np.sqrt(_ZERO_MOVE_GROWTH), lo), _EXACT_SCAN_RATIO)
    return p_exact if p_exact is not None else p_budget


def _largest_ok(ok: Callable[[float], bool], hi: float, lo: float, ratio: float) -> float | None:
    """Largest pitch in [lo, hi] with ok(pitch), or None: scan from coarse to fine (the ok set is not an
    interval, rounding phases make it ragged), then bisect between the first ok and the next coarser."""
    n_steps = int(np.ceil(np.log(hi / lo) / np.log(ratio))) + 1 if hi > lo else 1
    candidates = np.maximum(hi / ratio ** np.arange(n_steps), lo)  # decreasing pitches
    k = next((i for i, p in enumerate(candidates) if ok(float(p))), None)
    if k is None:
        return None
    a = float(candidates[k])
    if k > 0:
        b = float(candidates[k - 1])
        for _ in range(20):  # invariant: ok(a) and not ok(b)
            mid = float(np.sqrt(a * b))
            if ok(mid):
                a = mid
            else:
                b = mid
            if b / a < 1.0 + 1e-4:
                break
    return a


def _ring_offsets(radius: int) -> np.ndarray:
    """(K, 2) (drow, dcol) offsets at Chebyshev distance `radius`, sorted by Euclidean distance."""
    d = np.arange(-radius, radius + 1)
    dr, dc = np.meshgrid(d, d, indexing="ij")
    on_ring = np.maximum(np.abs(dr), np.abs(dc)) == radius
    offs = np.stack([dr[on_ring], dc[on_ring]], axis=1)
    order = np.lexsort((offs[:, 1], offs[:, 0], (offs**2).sum(axis=1)))
    return offs[order]


def _place(cu: np.ndarray, cv: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Cells (row, col) for continuous cell coordinates (P,), one pad per cell; and the max displacement."""
    r0 = np.rint(cv).astype(np.int64)
    c0 = np.rint(cu).astype(np.int64)
    h = int(r0.max()) + 1
    w = int(c0.max()) + 1
    n = r0.shape[0]
    key = r0 * w + c0
    dist = (cv - r0) ** 2 + (cu - c0) ** 2  # (P,) squared distance to the quantized cell centre
    order = np.lexsort((np.arange(n), dist, key))  # by cell, then nearest to the centre first
    first = np.ones(n, dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    row = r0.copy()
    col = c0.copy()
    occupied = np.zeros(h * w, dtype=bool)
    occupied[key[order[first]]] = True
    pending = np.sort(order[~first])  # pads still without a cell, in input order
    radius = 0
    while pending.size:
        radius += 1
        if radius > h + w:
            raise RuntimeError("layout placement found no free cell; this is a bug")  # cells >= P
        for dr, dc in _ring_offsets(radius):
            if not pending.size:
                break
            rr = r0[pending] + dr
            cc = c0[pending] + dc
            inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            cand = np.where(inside, rr * w + cc, 0)
            free = inside & ~occupied[cand]
            if not free.any():
                continue
            idx_free = np.flatnonzero(free)
            _, first_idx = np.unique(cand[idx_free], return_index=True)  # one pad per free cell
            take = idx_free[first_idx]
            pads = pending[take]
            row[pads] = rr[take]
            col[pads] = cc[take]
            occupied[cand[take]] = True
            keep = np.ones(pending.size, dtype=bool)
            keep[take] = False
            pending = pending[keep]
    max_disp = radius if radius > 0 else 0
    if radius > 0:
        max_disp = int(np.maximum(np.abs(row - r0), np.abs(col - c0)).max())
    return row, col, max_disp
