"""Simulated runs: same seed same data, renamed recipe, and the defect envelope against f(t)."""

from __future__ import annotations

import numpy as np

from crrn.diagnosis.runs import layout_id, simulate_runs
from crrn.sim.defects import DefectSpec, s_curve


def test_runs_are_deterministic_and_use_the_layout_recipe_id() -> None:
    spec = (DefectSpec("squeegee_blade", start_index=3, duration=8, amplitude=5.0),)
    a = simulate_runs(7, 12, [spec, ()], first_printer=1)
    b = simulate_runs(7, 12, [spec, ()], first_printer=1)
    assert [r.printer_id for r in a] == ["P02", "P03"]
    assert a[0].recipe_id == layout_id(7)
    assert np.array_equal(a[0].boards[5].pads.volume_pct, b[0].boards[5].pads.volume_pct)
    assert not np.array_equal(a[0].boards[5].pads.volume_pct, a[1].boards[5].pads.volume_pct)


def test_envelope_fills_backward_prints_and_matches_the_simulator() -> None:
    spec = DefectSpec("squeegee_blade", start_index=3, duration=8, amplitude=5.0)
    (run,) = simulate_runs(7, 12, [(spec,)])
    env = run.defect_envelope()[:, 0]  # squeegee_blade column
    index = np.array([b.print_index for b in run.boards])
    t = index - 3 + 1
    expected = np.where(t >= 1, s_curve(np.clip(t, 1, 8), 8), 0.0)
    assert np.allclose(env, expected)
    applied = run.defect_severity("squeegee_blade")
    forward = index % 2 == 1
    assert np.allclose(applied[forward], expected[forward])  # the simulator's f(t) on forward prints
    assert np.all(applied[~forward] == 0)
