"""Experiment 2: normal runs that match the defect runs, and a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from crrn.experiments import exp2
from crrn.experiments.exp2 import METHODS, Exp2Settings, defect_runs, normal_runs


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


def test_smoke_run_reports_every_rule_and_the_bar_from_its_numbers(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    settings = Exp2Settings(
        normal_boards=80, crrn_minutes=0.3, boards_per_run=24, figure_steps=(0.9,), calibration_boards=30
    )
    exp2.run(quick=True, out_dir=tmp_path, settings=settings)
    result = json.loads((tmp_path / "experiment2.json").read_text())
    assert set(result["summary"]) == {*exp2.defect_cases(settings)}
    for case, by_method in result["summary"].items():
        assert set(by_method) == set(METHODS)
        for m in by_method.values():
            for key in ("recall_at_f_ge_0.5", "recall_at_f_ge_0.5_equal_fa", "recall_at_f_ge_0.5_best_f1"):
                assert 0.0 <= m[key] <= 1.0, key
            assert 0.0 <= m["false_alarm_rate_normal_run"] <= m["boards_with_alarm_normal_run"] <= 1.0
        for suffix in ("no_cluster",):  # the rule ablations, CRRN only
            assert 0.0 <= by_method["crrn"][f"recall_at_f_ge_0.5_{suffix}"] <= 1.0
            assert 0.0 <= by_method["crrn"][f"false_alarm_rate_normal_run_{suffix}"] <= 1.0
        crrn = by_method["crrn"]["recall_at_f_ge_0.5"]
        expected = crrn >= 0.9 and all(crrn > by_method[m]["recall_at_f_ge_0.5"] for m in METHODS[1:])
        assert result["quality_bar_met"][case] is expected
    # every method recalibrated on the 30 new normal boards of each of the 2 training printers
    assert result["calibration_heldout_boards"] == {m: 60 for m in result["process_limits"]}
    calibration = result["thresholds"]["crrn"]
    assert calibration["excessive"] > 0 > calibration["insufficient"]
    assert (tmp_path / "fig12_recall.png").read_bytes()[:4] == b"\x89PNG"
