"""Experiment 2 helpers: equal-false-alarm thresholds by hand, and normal runs that match the defect runs."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.experiments.exp2 import Exp2Settings, defect_runs, equal_rate_thresholds, normal_runs


def test_equal_rate_thresholds_by_hand() -> None:
    scores = (np.arange(1000).reshape(10, 100) - 500) / 100.0  # -5.00 .. 4.99
    t = equal_rate_thresholds(scores, 0.01)
    # linear quantiles: position 0.99 * 999 = 989.01 -> 4.8901; 0.01 * 999 = 9.99 -> -4.9001
    assert t.excessive == pytest.approx(4.8901)
    assert t.insufficient == pytest.approx(-4.9001)
    assert float((scores >= t.excessive).mean()) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="equal_false_alarm_rate"):
        equal_rate_thresholds(scores, 0.0)


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
