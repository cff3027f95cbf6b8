"""Experiment-1 injections: exact ratio per board, labels exactly on injected pads, raw-scale version."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.sim.injections import inject, inject_volume_pct


def test_exact_ratio_and_labels() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((4, 1000))
    inj = inject(x, rng, ratio=0.2, mu=5.0, sigma=0.1)
    assert (inj.mask.sum(axis=1) == 200).all()
    assert np.array_equal(inj.labels != 0, inj.mask)
    assert (inj.labels[inj.mask] == 1).all()
    assert inj.values[~inj.mask].max() == 0.0
    assert inj.values[inj.mask].mean() == pytest.approx(5.0, abs=0.02)
    assert inj.values[inj.mask].std() == pytest.approx(0.1, abs=0.02)


def test_pad_mask_limits_injection_to_pads() -> None:
    pad_mask = np.zeros((8, 8), dtype=bool)
    pad_mask[2:5, 2:6] = True  # 12 pad cells on a grid
    inj = inject(
        np.zeros((3, 8, 8)).reshape(3, 64), np.random.default_rng(1), 0.5, -5.0, pad_mask=pad_mask.ravel()
    )
    assert (inj.mask.sum(axis=1) == 6).all()
    assert not inj.mask[:, ~pad_mask.ravel()].any()
    assert (inj.labels[inj.mask] == -1).all()


def test_raw_volume_injection_is_in_pad_std_units() -> None:
    rng = np.random.default_rng(2)
    volume = np.full(500, 100.0)
    std = np.linspace(5, 10, 500)
    inj = inject_volume_pct(volume, volume, std, rng, ratio=0.3, mu=-5.0, sigma=0.0)
    assert np.allclose(inj.values[inj.mask], 100.0 - 5.0 * std[inj.mask])
    assert np.array_equal(inj.values[~inj.mask], volume[~inj.mask])
