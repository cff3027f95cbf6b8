"""Baselines by hand."""

from __future__ import annotations

import numpy as np

from crrn.baselines import BoardLevelPadZScore, PadHistoryZScore, StatisticalBaseline


def test_statistical_group_zscores_by_hand() -> None:
    # pads a a b b b ; board values [1, 3, 0, 0, 3]
    # group a: mean 2, std 1 -> z = -1, +1; group b: mean 1, std sqrt(6/3) = sqrt 2 -> z = -1/√2, -1/√2, 2/√2
    labels = np.array(["a", "a", "b", "b", "b"])
    base = StatisticalBaseline.from_labels(labels, np.arange(5), (1, 5))
    z = base.score_values(np.array([[1.0, 3.0, 0.0, 0.0, 3.0]]))
    s2 = np.sqrt(2.0)
    np.testing.assert_allclose(z[0], [-1, 1, -1 / s2, -1 / s2, 2 / s2], rtol=1e-6)


def test_statistical_is_per_board_and_on_windows() -> None:
    labels = np.array(["a", "a", "b", "b"])
    base = StatisticalBaseline.from_labels(labels, np.array([0, 1, 2, 3]), (2, 2))
    x = np.zeros((1, 2, 2, 2, 2), dtype=np.float32)  # (B, T, C, H, W)
    x[0, 0, 0] = [[1, 3], [5, 5]]  # board 0: a -> -1, +1; b constant -> 0 (std floor)
    x[0, 1, 0] = [[10, 10], [0, 2]]  # board 1: a -> 0, 0; b -> -1, +1
    s = base.score_windows_array(x)
    np.testing.assert_allclose(s[0, 0], [[-1, 1], [0, 0]])
    np.testing.assert_allclose(s[0, 1], [[0, 0], [-1, 1]])


def test_pad_history_score_is_the_normalized_volume() -> None:
    mask = np.array([[True, False]])
    x = np.array([[[[[2.5, 7.0]], [[9.0, 9.0]]]]], dtype=np.float32)  # (1, 1, 2, 1, 2)
    s = PadHistoryZScore(mask).score_windows_array(x)
    assert s.tolist() == [[[[2.5, 0.0]]]]


def test_board_level_pad_zscore_by_hand() -> None:
    # a 2 x 3 grid, pads on 5 cells (cell (1, 2) empty); channel 0 = normalized volume = the z-score
    mask = np.array([[True, True, True], [True, True, False]])
    x = np.zeros((1, 2, 2, 2, 3), dtype=np.float32)  # (B, T, C, H, W)
    x[0, 0, 0] = [[1, 2, 3], [4, 10, 99]]  # board 0: pads 1 2 3 4 10 -> median 3 -> -2 -1 0 1 7
    x[0, 1, 0] = [[-1, -1, -1], [-1, 3, 0]]  # board 1: the whole board 1 std light, one pad +3
    x[0, 1, 1] = 50.0  # other channels are ignored
    s = BoardLevelPadZScore(mask).score_windows_array(x)
    np.testing.assert_allclose(s[0, 0], [[-2, -1, 0], [1, 7, 0]])
    np.testing.assert_allclose(s[0, 1], [[0, 0, 0], [0, 4, 0]])  # the board's level is removed
