"""Printer defects: f(t) as the paper defines it, masks where stated, labels exactly on the mask."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.sim.defects import DefectSpec, defect_mask, s_curve, severity
from crrn.sim.fleet import FleetSpec, build_printers, simulate_fleet
from crrn.sim.recipes import make_recipe
from schemas.messages import DEFECT_TYPES


def test_s_curve_hand_values() -> None:
    assert s_curve(50, 100) == pytest.approx(0.5)  # 10*50/100 - 5 = 0
    assert s_curve(100, 100) == pytest.approx(1 / (1 + np.exp(-5)))
    assert s_curve(0, 100) == pytest.approx(1 / (1 + np.exp(5)))


def test_severity_shapes() -> None:
    T = 20
    assert severity(DefectSpec("squeegee_blade", duration=T), 10, forward=False) == 0.0
    assert severity(DefectSpec("squeegee_blade", duration=T), 11, forward=True) == pytest.approx(
        s_curve(11, T)
    )
    assert severity(DefectSpec("removed_paste", duration=T), 10, True) == pytest.approx(-0.5)
    assert severity(DefectSpec("no_kneading", duration=T), 10, True) == pytest.approx(-0.5)
    assert severity(DefectSpec("no_kneading", duration=T), 1, True) < -0.9  # early and strong
    assert severity(DefectSpec("clamp", duration=T, sign=-1), 10, True) == pytest.approx(-0.5)
    assert severity(DefectSpec("support", start_index=5, duration=T), 4, True) == 0.0  # before onset


def test_masks_are_where_stated() -> None:
    r = make_recipe(9, 3000)
    rng = np.random.default_rng(0)
    stripe = defect_mask("squeegee_blade", r, rng)
    assert np.ptp(r.x_mm[stripe]) <= 0.12 * r.width_mm  # narrow in x
    assert np.ptp(r.y_mm[stripe]) > 0.5 * r.height_mm  # long along the print direction
    clamp = defect_mask("clamp", r, rng)
    edge = np.minimum(r.y_mm - r.y_mm.min(), r.y_mm.max() - r.y_mm)
    assert clamp.any()
    assert (edge[clamp] <= max(0.08 * r.height_mm, 3.0)).all()
    for name in DEFECT_TYPES:
        assert defect_mask(name, r, np.random.default_rng(1)).sum() >= 5, name


def test_labels_and_effect_exactly_on_the_mask() -> None:
    T = 30
    spec = FleetSpec(
        pads=600, boards_per_printer=T, defects=(DefectSpec("support", duration=T, amplitude=4.0),)
    )
    normal = FleetSpec(pads=600, boards_per_printer=T)
    process = build_printers(spec, 5)[0].process
    mask = next(iter(process.defect_masks.values()))
    for (board, truth), (plain, _) in zip(simulate_fleet(spec, 5), simulate_fleet(normal, 5), strict=True):
        f = truth.defects[0].severity
        natural = (truth.sources & 1) != 0
        assert np.array_equal(truth.mask_of("support"), mask)
        assert ((truth.labels == 1) == (mask | (natural & (truth.labels == 1)))).all()
        diff = board.pads.volume_pct - plain.pads.volume_pct  # same seed: only the defect differs
        expected = mask * f * 4.0 * process.pad_std
        ok = ~natural
        assert np.allclose(diff[ok], expected[ok], atol=2e-3)
