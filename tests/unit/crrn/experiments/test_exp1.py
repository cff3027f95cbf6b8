"""Experiment 1: F1 bookkeeping on hand-made scores, the board injection, and a minimal-budget smoke run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from crrn.experiments import exp1
from crrn.experiments.exp1_report import (
    Cell,
    evaluate_cell,
    f1_at_threshold,
    quality_bar,
    ranking,
    table_markdown,
)


def test_f1_at_threshold_hand_computed() -> None:
    # scores 4,3,2,1 with labels T,F,T,F; threshold 2.5 -> predicted {4,3}: tp 1, fp 1, fn 1
    f1, p, r = f1_at_threshold(np.array([4.0, 3.0, 2.0, 1.0]), np.array([1, 0, 1, 0], bool), 2.5)
    assert (p, r) == (0.5, 0.5)
    assert f1 == pytest.approx(0.5)
    # nothing predicted: precision and F1 are 0, not NaN
    assert f1_at_threshold(np.array([1.0]), np.array([True]), 2.0) == (0.0, 0.0, 0.0)


def test_evaluate_cell_insufficient_uses_negative_scores_and_threshold() -> None:
    scores = np.array([-5.0, -4.0, -0.5, 0.2, 3.0])  # the +3 pad is NOT insufficient
    labels = np.array([True, True, False, False, False])
    cell = evaluate_cell(scores, labels, "insufficient", calibrated=-1.0)
    assert cell.f1_calibrated == 1.0  # -5, -4 <= -1; -0.5 is not
    assert cell.f1_best == 1.0
    assert cell.threshold_best == -4.0  # the largest separating threshold on the negated scores
    # a calibrated threshold that also takes -0.5: precision 2/3, recall 1 -> F1 0.8
    assert evaluate_cell(scores, labels, "insufficient", -0.4).f1_calibrated == pytest.approx(0.8)


def _cell(cal: float, best: float) -> Cell:
    return Cell(cal, 1.0, 1.0, 1.0, best, 1.0)


def _results(crrn: float, zscore: float) -> dict:
    by_ratio = {r: {"crrn": _cell(crrn, crrn), "pad_zscore": _cell(zscore, zscore)} for r in ("10", "50")}
    return {mu: {s: by_ratio for s in ("excessive", "insufficient")} for mu in ("5", "2.5")}


def test_quality_bar_and_ranking() -> None:
    good = quality_bar(_results(0.96, 0.9))
    assert good["mu5_calibrated_f1_ge_0.95"]
    assert good["mu2.5_beats_pad_zscore_everywhere"]
    bad = quality_bar(_results(0.94, 0.97))
    assert not bad["mu5_calibrated_f1_ge_0.95"]
    assert not bad["mu2.5_beats_pad_zscore_everywhere"]
    assert bad["mu2.5_min_best_f1_margin_over_pad_zscore"] == pytest.approx(-0.03)
    assert [m for m, _ in ranking(_results(0.8, 0.9), ["crrn", "pad_zscore"])["5"]] == ["pad_zscore", "crrn"]
    assert "mu2.5_within_0.03_of_ceiling" not in good  # results without the ceiling: not judged


def test_quality_bar_gap_to_the_ceiling() -> None:
    results = _results(0.90, 0.8)
    for by_sign in results.values():
        for by_ratio in by_sign.values():
            by_ratio["10"] = {**by_ratio["10"], "ceiling": _cell(0.92, 0.92)}  # gap 0.02
            by_ratio["50"] = {**by_ratio["50"], "ceiling": _cell(0.94, 0.94)}  # gap 0.04: the worst
    bar = quality_bar(results)
    assert bar["mu2.5_max_best_f1_gap_to_ceiling"] == pytest.approx(0.04)
    assert not bar["mu2.5_within_0.03_of_ceiling"]
    assert "mu2.5_volume_only_max_best_f1_gap_to_ceiling" not in bar  # no "2.5v" results: not judged


def test_quality_bar_volume_only_mu_2_5_is_judged_apart() -> None:
    results = _results(0.90, 0.8)
    by_ratio = {
        "10": {"crrn": _cell(0.85, 0.85), "pad_zscore": _cell(0.86, 0.86), "ceiling": _cell(0.86, 0.86)},
        "50": {"crrn": _cell(0.90, 0.90), "pad_zscore": _cell(0.70, 0.70), "ceiling": _cell(0.91, 0.91)},
    }
    results["2.5v"] = {s: by_ratio for s in ("excessive", "insufficient")}
    bar = quality_bar(results)
    assert bar["mu2.5_volume_only_max_best_f1_gap_to_ceiling"] == pytest.approx(0.01)
    assert bar["mu2.5_volume_only_within_0.03_of_ceiling"]
    assert bar["mu2.5_volume_only_min_best_f1_margin_over_pad_zscore"] == pytest.approx(-0.01)
    assert not bar["mu2.5_volume_only_beats_pad_zscore_everywhere"]
    assert bar["mu2.5_beats_pad_zscore_everywhere"]  # the both-channel cells are judged on their own


def test_table_markdown_structure() -> None:
    md = table_markdown(_results(0.96, 0.9), ["crrn", "pad_zscore", "crae"])
    assert md.count("### mu =") == 4
    assert "| method | Pa 10 % | Pa 50 % |" in md
    assert "| crrn | 0.960 / 0.960 | 0.960 / 0.960 |" in md
    assert "| crae | - | - |" in md  # a method without results is shown, not dropped


def test_inject_boards_adds_shift_in_normalized_units_on_both_channels() -> None:
    s = replace(exp1.Exp1Settings.quick(), pads=200, train_boards=30, test_boards=3)
    train, test = exp1.simulate_boards(s)
    from crrn.model_training import fit_recipe_models, segments_by_printer

    segs = segments_by_printer(train)
    recipe = next(iter(fit_recipe_models(segs, segs).values()))
    injected, labels = exp1.inject_boards(test, recipe, np.random.default_rng(0), 0.25, 5.0, 0.1)
    assert labels.shape == (3, 200)
    assert (labels.sum(axis=1) == 50).all()
    for before, after, lab in zip(test, injected, labels, strict=True):
        order = recipe.layout.for_board(before)
        scale = np.empty_like(recipe.normalizer.scale)
        scale[:, order] = recipe.normalizer.scale
        dz_vol = (after.pads.volume_pct - before.pads.volume_pct) / scale[0]
        dz_h = (after.pads.height_um - before.pads.height_um) / scale[1]
        assert np.allclose(dz_vol[~lab], 0)
        assert np.allclose(dz_h[~lab], 0)
        assert np.allclose(dz_vol[lab], dz_h[lab])  # one shift per pad, on both channels
        assert abs(dz_vol[lab].mean() - 5.0) < 0.1
        assert dz_vol[lab].std() < 0.2
    vol_only, labels = exp1.inject_boards(test, recipe, np.random.default_rng(0), 0.25, -5.0, 0.1, True)
    for before, after, lab in zip(test, vol_only, labels, strict=True):
        np.testing.assert_array_equal(after.pads.height_um, before.pads.height_um)
        assert (after.pads.volume_pct[lab] < before.pads.volume_pct[lab]).all()
        np.testing.assert_array_equal(after.pads.volume_pct[~lab], before.pads.volume_pct[~lab])


@pytest.mark.parametrize("rule", [0.001, None], ids=["control-limits", "best-f1"])
def test_smoke_run_writes_tables_and_figures(tmp_path: Path, rule: float | None) -> None:
    import torch

    torch.set_num_threads(1)
    s = replace(
        exp1.Exp1Settings.quick(),
        pads=200,
        train_boards=80,
        test_boards=12,
        window=4,
        train_minutes=0.5,
        epochs=1,
        calibration_windows=2,
        variants=("crrn", "crae_noattn"),
        ratios=(0.1, 0.5),
        false_alarm_rate=rule,
    )
    summary = exp1.run(quick=True, out_dir=tmp_path, settings=s)
    for name in (
        "table1.md",
        "table1.json",
        "pr_curves.json",
        "summary.json",
        "fig8_pr_mu5.png",
        "fig8_pr_mu2.5.png",
        "fig8_pr_mu5v.png",
        "fig8_pr_mu2.5v.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["crae_noattn.pt", "crrn.pt"]
    table = json.loads((tmp_path / "table1.json").read_text())
    assert set(table) == {"5", "2.5", "5v", "2.5v"}
    assert "mu5_volume_only_min_calibrated_f1" in summary["quality_bar"]
    assert "(excessive, volume_pct only)" in (tmp_path / "table1.md").read_text()
    for by_sign in table.values():
        assert set(by_sign) == {"excessive", "insufficient"}
        for by_ratio in by_sign.values():
            assert set(by_ratio) == {"10", "50"}
            for cells in by_ratio.values():
                assert set(cells) == {"crrn", "crae_noattn", "statistical", "pad_zscore", "ceiling"}
                for c in cells.values():
                    assert 0.0 <= c["f1_calibrated"] <= c["f1_best"] + 1e-12 <= 1.0 + 1e-12
    assert set(summary["quality_bar"]) >= {
        "mu5_calibrated_f1_ge_0.95",
        "mu2.5_beats_pad_zscore_everywhere",
        "mu2.5_within_0.03_of_ceiling",
    }
    # the ceiling needs no training: at mu = 5 it separates the anomalies almost perfectly
    assert min(table["5"][sg][r]["ceiling"]["f1_best"] for sg in table["5"] for r in ("10", "50")) > 0.95
    # control limits (the default rule) do not depend on the anomaly size: the same thresholds for every
    # mu; the best-F1 rule recalibrates for mu = 2.5
    used = summary["thresholds_used"]
    assert used["5"] == used["5v"]
    assert used["2.5"] == used["2.5v"]  # the volume-only cells use the thresholds of the same |mu|
    assert (used["2.5"] == used["5"]) is (rule is not None)
    assert (tmp_path / "fig8_pr_mu5.png").read_bytes()[:4] == b"\x89PNG"
