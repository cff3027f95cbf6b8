"""Classifier input from anomaly maps: pool, binarize, resize to a fixed size, average over a window.

Per board (the paper's Experiment 3): the signed score grid `(H, W)` is split into an excessive channel
(max pooling of positive scores) and an insufficient channel (min pooling of negative scores) by
`crrn.anomaly_map.pooled_maps`, and each channel is binarized with the calibrated thresholds
(`crrn.anomaly_map.binarize`). Layouts have different grid shapes, so the grid is first cropped to
the cells its pads span (a model pads the grids of its recipes to one shape), and the binary maps are
then resized to `(S, S)` by adaptive max pooling (a cell is on if any pad under it is on; small grids
are replicated).
Binarize-then-max-pool equals max-pool-then-binarize, so the order is immaterial.

Per window: the mean of its boards' binary maps, so each cell holds the fraction of the window's boards on
which it fired, in [0, 1] (a defect on forward prints only, like a cracked blade, gives about 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from crrn.anomaly_map import binarize, pooled_maps
from crrn.layout import PadGrid
from crrn.thresholds import Thresholds


def pool_block(grid_shape: tuple[int, int], size: int) -> int:
    """Block size of the first (exact) pooling step: the largest that keeps at least `size` cells per axis."""
    return max(1, min(grid_shape) // size)


def pad_extent(mask: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns spanned by the pad cells of `mask (H, W)` (grids of several recipes in one model
    are padded to a common shape; cropping keeps the board's edges at the edges of the map)."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        raise ValueError("mask: the layout has no pad cell")
    r = np.flatnonzero(m.any(axis=1))
    c = np.flatnonzero(m.any(axis=0))
    return slice(int(r[0]), int(r[-1]) + 1), slice(int(c[0]), int(c[-1]) + 1)


def board_maps(score_grid: np.ndarray, mask: np.ndarray, thresholds: Thresholds, size: int) -> torch.Tensor:
    """`(N, H, W)` signed scores of N boards of one layout -> `(N, 2, S, S)` float32 binary maps."""
    grid = np.asarray(score_grid, dtype=np.float32)
    if grid.ndim != 3 or grid.shape[1:] != np.shape(mask):
        raise ValueError(
            f"score_grid must be (N, H, W) with (H, W) = mask shape {np.shape(mask)}, got {grid.shape}"
        )
    rows, cols = pad_extent(mask)
    grid, mask = grid[:, rows, cols], np.asarray(mask, dtype=bool)[rows, cols]  # crop to the board's pads
    pooled = pooled_maps(grid, mask, pool_block(grid.shape[1:], size))  # (N, 2, h, w) signed
    binary = torch.from_numpy(binarize(pooled, thresholds)).float()  # (N, 2, h, w) in {0, 1}
    return F.adaptive_max_pool2d(binary, (size, size))  # (N, 2, S, S)


def window_means(maps: torch.Tensor, window: int) -> torch.Tensor:
    """`(N, 2, S, S)` consecutive boards -> `(N - window + 1, 2, S, S)`.

    Window i averages boards i .. i + window - 1.
    """
    n = maps.shape[0]
    if window < 1:
        raise ValueError(f"window={window}: must be >= 1 board")
    if n < window:
        return maps.new_zeros((0, *maps.shape[1:]))
    csum = torch.cat([maps.new_zeros((1, *maps.shape[1:])), maps.double().cumsum(dim=0)])  # (N+1, ...)
    return ((csum[window:] - csum[:-window]) / window).float()


def canonical_order(layout: PadGrid, pad_id: np.ndarray) -> np.ndarray:
    """`(P,)` index `idx` such that `values[idx]` puts per-pad values given in `pad_id` order into the
    layout's canonical order. Raises ValueError when the pad ids are not exactly the layout's."""
    ids = np.asarray(pad_id).astype(str)
    if ids.shape == layout.pad_id.shape and np.array_equal(ids, layout.pad_id):
        return np.arange(layout.n_pads)
    sorter = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids, layout.pad_id, sorter=sorter)
    pos = np.minimum(pos, max(ids.shape[0] - 1, 0))
    idx = sorter[pos] if ids.shape[0] else pos
    if ids.shape != layout.pad_id.shape or not np.array_equal(ids[idx], layout.pad_id):
        raise ValueError(
            f"pad_id: the scored pads are not the pads of layout {layout.recipe_id} "
            f"({ids.shape[0]} vs {layout.n_pads} pads); score with the model that holds this recipe"
        )
    return idx


def score_grids(layout: PadGrid, pad_ids: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> np.ndarray:
    """Per-pad scores of N boards (each in its own pad order) -> `(N, H, W)` grids, 0 off pads."""
    canonical = np.stack(
        [np.asarray(s)[canonical_order(layout, p)] for p, s in zip(pad_ids, scores, strict=True)]
    )
    return layout.to_grid(canonical.astype(np.float32))  # (N, H, W)
