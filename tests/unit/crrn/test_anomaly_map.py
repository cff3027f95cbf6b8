"""Signed score maps, alarms, pooled channels and binarization, computed by hand."""

from __future__ import annotations

import numpy as np

from crrn.anomaly_map import alarms, binarize, pooled_maps, score_map
from crrn.thresholds import Thresholds


def test_score_map_is_input_minus_reconstruction_on_volume() -> None:
    x_in = np.zeros((1, 2, 1, 2))  # (T=1, C=2, H=1, W=2)
    x_rec = np.zeros((1, 2, 1, 2))
    x_in[0, 0] = [[3.0, 1.0]]
    x_rec[0, 0] = [[1.0, 4.0]]
    x_in[0, 1] = [[9.0, 9.0]]  # height channel is ignored
    s = score_map(x_in, x_rec, np.array([[True, False]]))
    assert s.tolist() == [[[2.0, 0.0]]]  # second cell is off the pads


def test_alarm_codes() -> None:
    a = alarms(np.array([3.0, 2.0, 0.0, -1.9, -2.0]), Thresholds(excessive=2.0, insufficient=-2.0))
    assert a.tolist() == [1, 1, 0, 0, -1]
    assert a.dtype == np.int8


def test_pooled_maps_by_hand() -> None:
    s = np.array(
        [
            [1.0, -2.0, 0.5, 0.0],
            [0.0, 3.0, -1.0, 7.0],
            [-4.0, 0.0, 0.0, 0.0],
        ]
    )  # (3, 4) -> pooled 2 x 2 (third row padded with zeros)
    mask = np.ones((3, 4), dtype=bool)
    mask[1, 3] = False  # the 7 is off the pads
    p = pooled_maps(s, mask, 2)
    assert p.shape == (2, 2, 2)
    assert p[0].tolist() == [[3.0, 0.5], [0.0, 0.0]]  # excessive: max(block, 0)
    assert p[1].tolist() == [[-2.0, -1.0], [-4.0, 0.0]]  # insufficient: min(block, 0)


def test_binarize() -> None:
    p = np.array([[[3.0, 0.5]], [[-2.0, -0.5]]])  # (2, 1, 2)
    b = binarize(p, Thresholds(1.0, -1.0))
    assert b.tolist() == [[[1, 0]], [[1, 0]]]
