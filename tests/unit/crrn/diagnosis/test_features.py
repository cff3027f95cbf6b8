"""Features: pooling/binarizing/resizing of score grids and window averages, checked on hand-made grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crrn.diagnosis.features import board_maps, canonical_order, score_grids, window_means
from crrn.layout import PadGrid
from crrn.thresholds import Thresholds

TH = Thresholds(excessive=1.0, insufficient=-1.0)


def test_board_maps_pool_binarize_and_keep_sign_channels() -> None:
    grid = np.zeros((1, 4, 4), dtype=np.float32)
    grid[0, 0, 1] = 2.0  # excessive, top-left 2x2 block
    grid[0, 3, 3] = -2.0  # insufficient, bottom-right block
    grid[0, 2, 0] = 0.5  # below the threshold: no alarm
    grid[0, 0, 3] = 5.0  # not a pad cell: ignored
    mask = np.ones((4, 4), dtype=bool)
    mask[0, 3] = False
    out = board_maps(grid, mask, TH, size=2)
    assert out.shape == (1, 2, 2, 2)
    assert out[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert out[0, 1].tolist() == [[0.0, 0.0], [0.0, 1.0]]


def test_board_maps_threshold_is_inclusive_like_the_alarms() -> None:
    grid = np.array([[[1.0, -1.0]]], dtype=np.float32)  # (1, 1, 2): exactly at both thresholds
    out = board_maps(grid, np.ones((1, 2), bool), TH, size=2)
    assert out[0, 0].sum() > 0
    assert out[0, 1].sum() > 0


def test_small_grids_are_replicated_to_the_fixed_size() -> None:
    grid = np.array([[[2.0, 0.0], [0.0, 0.0]]], dtype=np.float32)  # (1, 2, 2)
    out = board_maps(grid, np.ones((2, 2), bool), TH, size=4)
    expected = torch.zeros(4, 4)
    expected[:2, :2] = 1.0
    assert torch.equal(out[0, 0], expected)


def test_bad_grid_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="score_grid"):
        board_maps(np.zeros((4, 4)), np.ones((4, 4), bool), TH, size=2)


def test_window_means_average_consecutive_boards() -> None:
    maps = torch.tensor([0.0, 1.0, 1.0, 0.0]).reshape(4, 1, 1, 1).expand(4, 2, 1, 1)
    out = window_means(maps, 2)
    assert out[:, 0, 0, 0].tolist() == [0.5, 1.0, 0.5]
    assert window_means(maps, 5).shape == (0, 2, 1, 1)


def test_canonical_order_and_score_grids_follow_pad_ids() -> None:
    layout = PadGrid.fit("R", np.array(["a", "b", "c"]), np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.0, 0.0]))
    ids = np.array(["c", "a", "b"])
    idx = canonical_order(layout, ids)
    assert ids[idx].tolist() == ["a", "b", "c"]
    grids = score_grids(layout, [ids], [np.array([3.0, 1.0, 2.0])])  # c=3, a=1, b=2
    assert grids.shape == (1, *layout.shape)
    assert layout.from_grid(grids)[0].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="pad_id"):
        canonical_order(layout, np.array(["a", "b", "x"]))


def test_padding_around_the_pads_is_cropped_so_board_edges_stay_map_edges() -> None:
    grid = np.zeros((1, 6, 6), dtype=np.float32)
    mask = np.zeros((6, 6), dtype=bool)
    mask[:4, :4] = True  # pads in the top-left 4x4; rows/cols 4-5 are padding of a shared grid shape
    grid[0, 3, :4] = 2.0  # the board's last row of pads is excessive (a clamp-like edge)
    out = board_maps(grid, mask, TH, size=2)
    assert out[0, 0].tolist() == [[0.0, 0.0], [1.0, 1.0]]  # the bottom edge of the map, not the middle
