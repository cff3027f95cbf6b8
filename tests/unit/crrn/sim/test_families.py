"""Experiment 4's anomaly families on hand-made layouts: where, when, how much, and the truth."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.sim.families import (
    TRUTH_LEVEL,
    FamilyEffect,
    FamilySpec,
    apply_family,
    component_of,
    family_effect,
)

# 3 x 4 grid of pads, 1 mm apart; components: a row of 4 pads each (R0, R1, R2)
X = np.tile(np.arange(4.0), 3)
Y = np.repeat(np.arange(3.0), 4)
IDS = np.array([f"R{r}-{c + 1}" for r in range(3) for c in range(4)])
COMP = component_of(IDS)


def test_component_of_strips_the_pin() -> None:
    assert list(component_of(np.array(["U1-12", "C3-1", "J-2-4"]))) == ["U1", "C3", "J-2"]


def test_clogging_sinks_the_same_pads_progressively_from_onset() -> None:
    spec = FamilySpec("clogging", onset=2, amplitude=3.0, n_pads=3, ramp=3)
    eff = family_effect(spec, X, Y, COMP, 7, seed=1)
    pads = np.flatnonzero(eff.delta[-1])
    assert pads.size == 3
    # boards 0-1 untouched; then -1, -2, -3 std (1/3, 2/3, 3/3 of the amplitude), held at -3
    np.testing.assert_allclose(eff.delta[:, pads[0]], [0, 0, -1, -2, -3, -3, -3])
    assert np.count_nonzero(eff.delta) == 3 * 5
    assert (eff.labels[:, pads] == np.array([0, 0, -1, -1, -1, -1, -1])[:, None]).all()


def test_component_short_hits_every_pad_of_one_component_only() -> None:
    eff = family_effect(FamilySpec("component_short", onset=1, amplitude=2.5), X, Y, COMP, 3, seed=4)
    hit = eff.delta[2] != 0
    assert len(set(COMP[hit])) == 1
    assert hit.sum() == 4
    np.testing.assert_array_equal(eff.delta[0], 0)
    np.testing.assert_allclose(eff.delta[1:, hit], -2.5)
    assert (eff.labels[1:, hit] == -1).all()


def test_board_warp_is_smooth_zero_mean_and_reaches_the_amplitude() -> None:
    x, y = np.meshgrid(np.arange(10.0), np.arange(8.0))
    x, y = x.ravel(), y.ravel()
    eff = family_effect(FamilySpec("board_warp", onset=1, amplitude=4.0), x, y, np.array(["A"] * 80), 2, 3)
    q = eff.delta[1]
    assert np.abs(q).max() == pytest.approx(4.0)
    assert q.mean() == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_array_equal(eff.delta[0], 0)
    # a second-order surface: neighbours differ by far less than the range (smooth)
    grid = q.reshape(8, 10)
    assert np.abs(np.diff(grid, axis=1)).max() < 0.5 * np.ptp(q)
    # truth: only pads moved by >= TRUTH_LEVEL are labelled; the shallow ones are "don't care"
    strong = np.abs(q) >= TRUTH_LEVEL
    np.testing.assert_array_equal(eff.labels[1] != 0, strong)
    np.testing.assert_array_equal(eff.care[1], strong | (q == 0))


def test_smears_are_single_board_clusters_of_nearest_neighbours() -> None:
    spec = FamilySpec("smear", onset=3, amplitude=5.0, n_pads=3, board_share=0.5)
    eff = family_effect(spec, X, Y, COMP, 40, seed=2)
    touched = np.flatnonzero(eff.delta.any(axis=1))
    assert touched.size > 5
    assert touched.min() >= 3
    for b in touched:
        pads = np.flatnonzero(eff.delta[b])
        assert pads.size == 3
        np.testing.assert_allclose(eff.delta[b, pads], 5.0)
        # neighbours: every pad within 1.5 mm of another pad of the cluster (grid spacing 1 mm)
        d = np.hypot(X[pads, None] - X[None, pads], Y[pads, None] - Y[None, pads])
        assert (np.sort(d, axis=1)[:, 1] <= 1.5).all()


def test_generators_are_seeded_and_pure() -> None:
    spec = FamilySpec("clogging", n_pads=4)
    a, b = family_effect(spec, X, Y, COMP, 30, [0, 1]), family_effect(spec, X, Y, COMP, 30, [0, 1])
    np.testing.assert_array_equal(a.delta, b.delta)
    assert not np.array_equal(a.delta, family_effect(spec, X, Y, COMP, 30, [0, 2]).delta)


def test_apply_family_adds_pad_std_units_and_clips_at_zero() -> None:
    eff = FamilyEffect.of(np.array([[2.0, -3.0, 0.5]]))
    out = apply_family(np.array([[100.0, 5.0, 50.0]]), np.array([4.0, 2.0, 10.0]), eff)
    np.testing.assert_allclose(out, [[108.0, 0.0, 55.0]])
    np.testing.assert_array_equal(eff.labels, [[1, -1, 0]])
    np.testing.assert_array_equal(eff.care, [[True, True, False]])


def test_unknown_family_is_named() -> None:
    with pytest.raises(ValueError, match="clogging"):
        FamilySpec("tsunami")


def test_a_short_run_still_gets_one_smear_at_onset() -> None:
    spec = FamilySpec("smear", onset=2, n_pads=2, board_share=1e-9)
    eff = family_effect(spec, X, Y, COMP, 4, seed=0)
    assert list(np.flatnonzero(eff.delta.any(axis=1))) == [2]
