"""Experiment 2 helpers: normal runs that match the defect runs."""

from __future__ import annotations

import numpy as np

from crrn.experiments.exp2 import Exp2Settings, defect_runs, normal_runs


def test_normal_runs_are_the_defect_runs_without_the_defect() -> None:
    settings = Exp2Settings(boards_per_run=12)
    defects, normal = defect_runs(settings), normal_runs(settings)
    assert list(defects) == list(normal)
    for case, run in defects.items():
        twin = normal[case]
        assert twin.printer_id == run.printer_id
        assert not twin.defects
        name = run.defects[0].name
        touched = np.logical_or.reduce([t.mask_of(name) for t in run.truths])
        for a, b in zip(run.boards, twin.boards, strict=True):
            np.testing.assert_array_equal(a.pads.volume_pct[~touched], b.pads.volume_pct[~touched])
