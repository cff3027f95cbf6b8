"""Baselines by hand."""

from __future__ import annotations

import numpy as np

from crrn.baselines import PadHistoryZScore, StatisticalBaseline


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
