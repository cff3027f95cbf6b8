"""The decision policy end to end on hand-made scores: windows, hysteresis, DefectEvents and their keys."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import torch

from crrn.diagnosis.classifier import ClassifierConfig, DefectClassifier, StoredClassifier
from crrn.diagnosis.hysteresis import HysteresisConfig
from crrn.diagnosis.policy import DefectPolicy
from crrn.layout import PadGrid
from crrn.scoring import BoardScores
from crrn.thresholds import Thresholds
from schemas.messages import defect_event_key
from tests.unit.crrn.diagnosis.scores import hand_scores

TH = Thresholds(1.0, -1.0)
NOW = datetime(2024, 1, 1, tzinfo=UTC)


class MeanExcessClassifier(DefectClassifier):
    """Class 0 (squeegee_blade) logit = 20 * (mean of the excessive channel - 0.5); the others -20."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        logits = torch.full((maps.shape[0], self.config.n_classes), -20.0)
        logits[:, 0] = 20.0 * (maps[:, 0].mean(dim=(1, 2)) - 0.5)
        return logits


def make_policy(window: int = 3, **hyst: int) -> tuple[DefectPolicy, PadGrid]:
    xs, ys = np.meshgrid(np.arange(4.0), np.arange(4.0))
    ids = np.array([f"p{i}" for i in range(16)])
    layout = PadGrid.fit("R1", ids, xs.ravel(), ys.ravel())
    model = MeanExcessClassifier(ClassifierConfig(input_size=4, width=2, n_stages=1))
    stored = StoredClassifier(model, {"crrn_model_version": "v1", "window_length": window})
    return DefectPolicy(stored, {"R1": layout}, TH, "v1", HysteresisConfig(**hyst), clock=lambda: NOW), layout


def board(layout: PadGrid, index: int, value: float, printer: str = "P1") -> BoardScores:
    return hand_scores(layout.pad_id[::-1].copy(), index, np.full(layout.n_pads, value), TH, printer)


def test_raise_then_clear_with_hand_worked_windows() -> None:
    policy, layout = make_policy(window=3, raise_after=2, clear_after=2)
    values = [0, 0, 0, 3, 3, 3, 3, 0, 0, 0, 0]  # boards 1..11; all pads excessive on boards 4-7
    # window ending at board b averages boards b-2..b: excess fraction at b = 3:0, 4:1/3, 5:2/3, 6:1, 7:1,
    # 8:2/3, 9:1/3, 10:0, 11:0 -> p >= 0.5 at b = 5..8; low (< 0.3) at b = 9, 10, 11
    events = policy([board(layout, i, v) for i, v in enumerate(values, start=1)])
    assert [(e.defect, e.state, e.first_print_index, e.last_print_index) for e in events] == [
        ("squeegee_blade", "raised", 3, 6),  # run began with window 3..5, raised by window 4..6
        ("squeegee_blade", "cleared", 3, 10),  # low windows ending 9 and 10
    ]
    raised = events[0]
    assert raised.event_key == defect_event_key("P1", "squeegee_blade", "raised", "P1-e3", "v1")
    assert raised.first_event_id == "P1-e3"
    assert raised.last_event_id == "P1-e6"
    assert raised.model_version == "v1"
    assert raised.emitted_at == NOW
    assert raised.probability > 0.99


def test_state_carries_across_calls_and_printers_are_independent() -> None:
    policy, layout = make_policy(window=2, raise_after=1)
    assert policy([board(layout, 1, 3.0)]) == []  # window not full yet
    (e,) = policy([board(layout, 2, 3.0)])
    assert (e.state, e.first_print_index, e.last_print_index) == ("raised", 1, 2)
    assert policy([board(layout, 1, 3.0, printer="P2")]) == []  # P2 has its own window


def test_mixed_printers_and_baseline_scores_are_rejected() -> None:
    policy, layout = make_policy()
    with pytest.raises(ValueError, match="printer_id"):
        policy([board(layout, 1, 0.0), board(layout, 2, 0.0, "P2")])
    from dataclasses import replace

    with pytest.raises(ValueError, match="method"):
        policy([replace(board(layout, 1, 0.0), method="pad_zscore")])
