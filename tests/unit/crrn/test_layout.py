"""PadGrid: hand-placed small layouts, collision resolution, round trips, random layouts (property)."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crrn.layout import DEFAULT_MAX_MOVED_FRACTION, MAX_CELLS_PER_PAD, PadGrid, _place
from schemas.inspection import BoardInspection

Make = Callable[..., BoardInspection]
IDS6 = np.array(list("abcdef"))


def grid_2x3() -> PadGrid:
    # a b c     (y = 0 mm)
    # d e f     (y = 1 mm), x = 0, 1, 2 mm
    return PadGrid.fit("R", IDS6, np.array([0, 1, 2, 0, 1, 2.0]), np.array([0, 0, 0, 1, 1, 1.0]))


def test_2x3_block_gets_its_own_2x3_grid() -> None:
    g = grid_2x3()
    assert g.shape == (2, 3)
    assert g.row.tolist() == [0, 0, 0, 1, 1, 1]
    assert g.col.tolist() == [0, 1, 2, 0, 1, 2]
    assert g.mask.all()
    assert g.max_displacement == 0


def test_collision_goes_to_nearest_free_cell() -> None:
    # cell coordinates: pads 0 and 1 both round to (0, 0); pad 0 is at the centre, so it keeps it.
    # Pad 1 takes the first free distance-1 cell: (-1,0) and (0,-1) are off the grid, (0,1) is free.
    row, col, disp = _place(np.array([0.0, 0.2, 2.0]), np.array([0.0, 0.0, 1.0]))
    assert row.tolist() == [0, 0, 1]
    assert col.tolist() == [0, 1, 2]
    assert disp == 1


def test_to_grid_and_back() -> None:
    g = grid_2x3()
    grid = g.to_grid(np.array([1.0, 2, 3, 4, 5, 6]))
    assert grid.tolist() == [[1, 2, 3], [4, 5, 6]]
    batch = np.arange(24.0).reshape(4, 6)  # (N, P)
    assert g.to_grid(batch).shape == (4, 2, 3)
    np.testing.assert_array_equal(g.from_grid(g.to_grid(batch)), batch)


def test_padding_keeps_cells_and_empties_the_rest() -> None:
    g = grid_2x3().padded(multiple_of=4)
    assert g.shape == (4, 4)
    assert g.mask.sum() == 6
    assert g.to_grid(np.arange(1.0, 7.0))[:2, :3].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert g.to_grid(np.arange(1.0, 7.0))[2:].sum() == 0


def test_wrong_value_count_is_refused() -> None:
    with pytest.raises(ValueError, match="5 pads"):
        grid_2x3().to_grid(np.zeros(5))


def test_dict_round_trip_is_json_safe() -> None:
    g = grid_2x3().padded(multiple_of=4)
    g2 = PadGrid.from_dict(json.loads(json.dumps(g.to_dict())))
    assert g2.shape == g.shape
    np.testing.assert_array_equal(g2.flat_index, g.flat_index)
    np.testing.assert_array_equal(g2.pad_id, g.pad_id)


def test_for_board_reorders_by_pad_id(board_factory: Make) -> None:
    canonical = board_factory(0, n_pads=9)
    g = PadGrid.from_board(canonical)
    perm = np.random.default_rng(1).permutation(9)
    shuffled = board_factory(0, n_pads=9, order=perm)
    idx = g.for_board(shuffled)
    np.testing.assert_array_equal(shuffled.pads.pad_id[idx], g.pad_id)
    np.testing.assert_array_equal(shuffled.pads.volume_pct[idx], canonical.pads.volume_pct)


def test_for_board_names_unknown_and_missing_pads(board_factory: Make) -> None:
    g = PadGrid.from_board(board_factory(0, n_pads=9))
    with pytest.raises(ValueError, match="unknown to the layout"):
        g.for_board(board_factory(0, n_pads=12))
    with pytest.raises(ValueError, match="lacks 3 pads"):
        g.for_board(board_factory(0, n_pads=6))
    with pytest.raises(ValueError, match="recipe_id"):
        g.for_board(board_factory(0, n_pads=9, recipe_id="other"))


def test_regular_array_with_jitter_keeps_its_shape() -> None:
    # 50 x 100 pads at pitch 0.5 mm, jittered by < 1/10 pitch: the grid should be exactly 50 x 100
    rng = np.random.default_rng(3)
    r, c = np.divmod(np.arange(5000), 100)
    x = c * 0.5 + rng.uniform(-0.04, 0.04, 5000)
    y = r * 0.5 + rng.uniform(-0.04, 0.04, 5000)
    g = PadGrid.fit("R", np.arange(5000).astype(str), x, y)
    assert g.shape == (50, 100)
    assert g.max_displacement == 0
    np.testing.assert_array_equal(g.row, r)
    np.testing.assert_array_equal(g.col, c)


def nearest_neighbour(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and distance of every point's nearest other point (chunked brute force)."""
    pts = np.stack([x, y], axis=1).astype(np.float64)
    idx = np.empty(len(pts), dtype=np.int64)
    dist = np.empty(len(pts))
    for s in range(0, len(pts), 1000):
        d = ((pts[s : s + 1000, None, :] - pts[None, :, :]) ** 2).sum(-1)
        d[np.arange(d.shape[0]), np.arange(s, s + d.shape[0])] = np.inf
        idx[s : s + 1000] = d.argmin(1)
        dist[s : s + 1000] = np.sqrt(d.min(1))
    return idx, dist


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), clustered=st.booleans(), aspect=st.floats(0.2, 5.0))
def test_random_5000_pad_layouts(seed: int, clustered: bool, aspect: float) -> None:
    rng = np.random.default_rng(seed)
    n = 5000
    if clustered:  # dense packages in a sparse board
        centres = rng.uniform(0, 100, (50, 2))
        pts = centres[rng.integers(0, 50, n)] + rng.normal(0, 1.5, (n, 2))
    else:
        pts = rng.uniform(0, 100, (n, 2))
    x, y = pts[:, 0] * aspect, pts[:, 1]
    g = PadGrid.fit("R", np.arange(n).astype(str), x, y)
    # one pad per cell, every pad inside the grid and on the mask
    assert np.unique(g.flat_index).size == n
    assert g.mask.sum() == n
    # the finest pitch tried gives about MAX_CELLS_PER_PAD cells per pad (+ the rounding of both axes)
    assert g.height * g.width <= MAX_CELLS_PER_PAD * n + 2 * (g.height + g.width)
    # the reported displacement is the true one: distance from the rounded (quantized) cell
    r0 = np.rint((y - y.min()) / g.pitch_mm)
    c0 = np.rint((x - x.min()) / g.pitch_mm)
    assert np.maximum(np.abs(g.row - r0), np.abs(g.col - c0)).max() == g.max_displacement
    # at most the allowed share of pads leaves its quantized cell, unless the grid hit the finest pitch
    moved = np.mean((g.row != r0) | (g.col != c0))
    assert moved <= DEFAULT_MAX_MOVED_FRACTION or g.height * g.width >= 0.9 * MAX_CELLS_PER_PAD * n
    # neighbours stay neighbours: a pad's nearest neighbour in mm lies within the distance implied by
    # rounding (|round(a) - round(b)| <= |a - b| / pitch + 1) plus both pads' displacements
    nn, d = nearest_neighbour(x, y)
    cheb = np.maximum(np.abs(g.row - g.row[nn]), np.abs(g.col - g.col[nn]))
    assert (cheb <= np.floor(d / g.pitch_mm) + 1 + 2 * g.max_displacement).all()
    # and typically no further apart than rounding alone allows
    assert np.median(cheb) <= np.median(d / g.pitch_mm) + 1
