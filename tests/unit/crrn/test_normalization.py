"""PadNormalizer: robust per-pad statistics by hand, floors, round trips."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from crrn.normalization import MAD_TO_STD, PadNormalizer, board_values
from schemas.inspection import BoardInspection

Make = Callable[..., BoardInspection]


def test_median_mad_by_hand() -> None:
    # one pad, two channels, five boards; the 100 is an outlier the median/MAD ignore
    vol = [1.0, 2.0, 3.0, 4.0, 100.0]  # median 3, |dev| = 2 1 0 1 97 -> MAD 1
    hgt = [10.0, 20.0, 30.0, 40.0, 50.0]  # median 30, |dev| = 20 10 0 10 20 -> MAD 10
    values = np.array([vol, hgt]).T[:, :, None]  # (N=5, C=2, P=1)
    n = PadNormalizer.fit(values, abs_floor=(0.1, 0.1), rel_floor=0.0)
    assert n.centre[:, 0].tolist() == [3.0, 30.0]
    np.testing.assert_allclose(n.scale[:, 0], [MAD_TO_STD * 1.0, MAD_TO_STD * 10.0])
    z = n.normalize(np.array([[4.4826], [44.826]]))  # one scale above the centre on both channels
    np.testing.assert_allclose(z[:, 0], [1.0, 1.0], rtol=1e-5)


def test_floor_applies_to_constant_pads() -> None:
    # pad 0 never varies (MAD 0); pad 1 has MAD 2 (scale 2.9652). abs floor 0.5, rel floor 0.5 x median
    # of the channel's scales (median of [0, 2.9652] = 1.4826 -> 0.7413): the constant pad gets 0.7413
    rng_vals = np.array([[5.0, 8.0], [5.0, 10.0], [5.0, 12.0]])  # (N=3, P=2)
    values = np.stack([rng_vals, rng_vals], axis=1)  # (3, 2, 2)
    n = PadNormalizer.fit(values, abs_floor=(0.5, 0.5), rel_floor=0.5)
    np.testing.assert_allclose(n.scale[0], [0.7413, 2.9652])


def test_round_trip_and_json() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(100, 5, size=(50, 2, 30))
    n = PadNormalizer.fit(values)
    n2 = PadNormalizer.from_dict(json.loads(json.dumps(n.to_dict())))
    np.testing.assert_array_equal(n2.centre, n.centre)
    np.testing.assert_array_equal(n2.scale, n.scale)
    np.testing.assert_allclose(n.denormalize(n.normalize(values)), values, rtol=1e-5)


def test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        PadNormalizer.fit(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="shape"):
        PadNormalizer.fit(np.zeros((4, 3, 3)))


def test_board_values_channels_and_order(board_factory: Make) -> None:
    b = board_factory(0, n_pads=4)
    v = board_values(b, np.array([3, 2, 1, 0]))
    assert v.shape == (2, 4)
    np.testing.assert_allclose(v[0], b.pads.volume_pct[::-1].astype(np.float32))
    np.testing.assert_allclose(v[1], b.pads.height_um[::-1].astype(np.float32))
