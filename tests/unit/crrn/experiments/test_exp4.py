"""Experiment 4: metrics by hand, and a tiny end-to-end run of the harness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from crrn.experiments import exp4
from crrn.experiments.exp4 import ABLATION, NO_CLUSTER, Exp4Settings, family_metrics
from crrn.model_file import METHODS
from crrn.sim.families import FAMILIES


def test_family_metrics_by_hand() -> None:
    labels = np.array([[0, 0, 0], [-1, -1, 0], [-1, -1, 0], [-1, -1, 0]], dtype=np.int8)
    care = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 1]], dtype=bool)
    alarm = np.array([[0, 0, 1], [0, 0, 0], [-1, 1, 1], [-1, -1, 0]], dtype=np.int8)
    m = family_metrics(alarm, labels, care, onset=1)
    # tp: (2,0), (3,0), (3,1) = 3; fp: (0,2) and the wrong sign (2,1) = 2, (2,2) is don't-care
    # fn: (1,0), (1,1), (2,1) = 3
    assert m["f1"] == 2 * 3 / (2 * 3 + 2 + 3)
    assert (m["precision"], m["recall"]) == (3 / 5, 3 / 6)
    assert m["delay_boards"] == 1  # truth from board 1, first right-sign hit on board 2
    assert m["pre_onset_boards_with_alarm"] == 1.0
    never = family_metrics(np.zeros_like(alarm), labels, care, onset=1)
    assert never["delay_boards"] is None
    assert never["f1"] == 0.0


def test_tiny_run_reports_every_family_and_method(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    settings = Exp4Settings(
        normal_boards=70, crrn_minutes=0.25, crrn_epochs=1, boards_per_run=16, onset=6, clogging_ramp=3
    )
    exp4.run(quick=True, out_dir=tmp_path, settings=settings)
    result = json.loads((tmp_path / "experiment4.json").read_text())
    rows = [m for m in METHODS if m in result["thresholds"]] + [ABLATION, NO_CLUSTER]
    assert result["methods"] == rows
    assert "pad_zscore" in rows
    assert set(result["families"]) == set(FAMILIES)
    for by_method in result["families"].values():
        assert set(by_method) == set(rows)
        for m in by_method.values():
            assert m["true_pads"] > 0
            assert m["f1"] is None or 0.0 <= m["f1"] <= 1.0
    for c in result["clean"].values():
        assert 0.0 <= c["false"] <= c["any"] <= 1.0
    assert "| clogging |" in (tmp_path / "table.md").read_text()
