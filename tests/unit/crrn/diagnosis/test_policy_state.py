"""Exported and imported policy state: a restored policy continues exactly like one that never stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import torch

from crrn.diagnosis.classifier import ClassifierConfig, DefectClassifier, StoredClassifier
from crrn.diagnosis.hysteresis import BoardSpan, DefectHysteresis, HysteresisConfig
from crrn.diagnosis.policy import DefectPolicy
from crrn.layout import PadGrid
from crrn.scoring import BoardScores
from crrn.thresholds import Thresholds
from schemas.messages import DefectEvent
from tests.unit.crrn.diagnosis.scores import hand_scores

TH = Thresholds(1.0, -1.0)
NOW = datetime(2024, 1, 1, tzinfo=UTC)
CLASSES = ("a", "b")


class ExcessClassifier(DefectClassifier):
    """Class 0 logit = 20 * (mean excessive fraction - 0.5); class 1 the same on the insufficient channel."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        logits = torch.full((maps.shape[0], self.config.n_classes), -20.0)
        logits[:, 0] = 20.0 * (maps[:, 0].mean(dim=(1, 2)) - 0.5)
        logits[:, 1] = 20.0 * (maps[:, 1].mean(dim=(1, 2)) - 0.5)
        return logits


def layout() -> PadGrid:
    xs, ys = np.meshgrid(np.arange(4.0), np.arange(4.0))
    return PadGrid.fit("R1", np.array([f"p{i}" for i in range(16)]), xs.ravel(), ys.ravel())


def make_policy(version: str = "v1", window: int = 3) -> DefectPolicy:
    model = ExcessClassifier(ClassifierConfig(input_size=4, width=2, n_stages=1))
    stored = StoredClassifier(model, {"crrn_model_version": version, "window_length": window})
    grid = layout()
    config = HysteresisConfig(raise_after=2, clear_after=2)
    return DefectPolicy(stored, {"R1": grid, "R2": grid}, TH, version, config, clock=lambda: NOW)


def board(index: int, values: np.ndarray, printer: str = "P1", recipe: str = "R1") -> BoardScores:
    return hand_scores(layout().pad_id.copy(), index, values, TH, printer, recipe)


def stream(printer: str = "P1") -> list[BoardScores]:
    """36 boards: excessive on 3-8, partly excessive (each pad at random) on 13-20 with a recipe change at
    16, insufficient on 24-28, clean otherwise."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(36):
        values = np.zeros(16)
        if 3 <= i <= 8:
            values[:] = 3.0
        elif 13 <= i <= 20:
            values = np.where(rng.random(16) < 0.7, 3.0, 0.0)
        elif 24 <= i <= 28:
            values[:] = -3.0
        out.append(board(i, values, printer, "R1" if i < 16 else "R2"))
    return out


def keys(events: list[DefectEvent]) -> list[tuple[str, str, str, int, int]]:
    return [(e.event_key, e.defect, e.state, e.first_print_index, e.last_print_index) for e in events]


def through_json(state: dict[str, Any] | None) -> Any:
    return json.loads(json.dumps(state))


def test_hysteresis_state_round_trip_continues_identically() -> None:
    config = HysteresisConfig(raise_after=2, clear_after=3)
    probs = np.random.default_rng(3).random((40, 2))
    spans = [BoardSpan(f"e{i}", i, f"e{i + 2}", i + 2) for i in range(40)]
    whole = DefectHysteresis(config, CLASSES)
    expected = [t for p, s in zip(probs, spans, strict=True) for t in whole.update(p, s)]
    assert {t.state for t in expected} == {"raised", "cleared"}  # the sequence exercises both
    for k in range(40):
        first = DefectHysteresis(config, CLASSES)
        got = [t for p, s in zip(probs[:k], spans[:k], strict=True) for t in first.update(p, s)]
        restored = DefectHysteresis.from_state(config, CLASSES, through_json(first.to_state()))
        got += [t for p, s in zip(probs[k:], spans[k:], strict=True) for t in restored.update(p, s)]
        assert got == expected, f"split at window {k}"


def test_hysteresis_state_of_other_classes_is_refused() -> None:
    state = DefectHysteresis(HysteresisConfig(), CLASSES).to_state()
    with pytest.raises(ValueError, match="classes"):
        DefectHysteresis.from_state(HysteresisConfig(), ("a", "c"), state)


def test_policy_round_trip_gives_the_events_of_an_uninterrupted_policy() -> None:
    boards = stream()
    expected = keys(make_policy()(boards))
    assert [(d, s) for _, d, s, _, _ in expected] == [
        ("squeegee_blade", "raised"),
        ("squeegee_blade", "cleared"),
        ("squeegee_blade", "raised"),
        ("squeegee_blade", "cleared"),
        ("support", "raised"),
        ("support", "cleared"),
    ]
    for k in range(1, len(boards)):
        first = make_policy()
        events = first(boards[:k])
        state = through_json(first.export_state("P1"))
        second = make_policy()  # a new process: nothing in memory
        assert second.import_state("P1", state)
        events += second(boards[k:])
        assert keys(events) == expected, f"split after board {k - 1}"
        assert second.export_state("P1") == make_policy_fed(boards).export_state("P1")


def make_policy_fed(boards: list[BoardScores]) -> DefectPolicy:
    policy = make_policy()
    policy(boards)
    return policy


def test_state_is_compact_json_and_names_what_it_is_valid_for() -> None:
    policy = make_policy_fed(stream()[:8])
    state = policy.export_state("P1")
    assert state is not None
    assert (state["model_version"], state["recipe_id"], state["last_print_index"]) == ("v1", "R1", 7)
    assert state["boards"] == [["P1-e5", 5], ["P1-e6", 6], ["P1-e7", 7]]
    assert len(state["maps"]) == 16  # 3 boards x 2 x 4 x 4 bits = 12 bytes, in base64
    assert through_json(state) == state
    assert policy.export_state("P2") is None


def test_import_none_forgets_and_another_model_version_starts_fresh() -> None:
    boards = stream()[:10]
    old = make_policy_fed(boards[:6])  # the excessive episode was raised at board 5, first board 2
    state = old.export_state("P1")
    assert state is not None

    restored = make_policy()
    assert restored.import_state("P1", state)
    assert restored(boards[6:]) == []  # the episode goes on: nothing new

    swapped = make_policy(version="v2")
    assert not swapped.import_state("P1", state)  # hot model swap: the v1 state is ignored
    (again,) = swapped(boards[6:])  # starts fresh: raises anew, from board 6
    assert (again.state, again.first_print_index, again.model_version) == ("raised", 6, "v2")
    assert swapped.export_state("P1") is not None

    old.import_state("P1", None)
    assert old.export_state("P1") is None
    (forgotten,) = old(boards[6:])
    assert (forgotten.state, forgotten.first_print_index) == ("raised", 6)


def test_import_replaces_what_memory_holds() -> None:
    boards = stream()
    uninterrupted = make_policy_fed(boards[:6])
    stored = uninterrupted.export_state("P1")
    stale = make_policy_fed(boards[:20])  # memory ahead of the stored state (another worker's run)
    assert stale.import_state("P1", stored)
    assert keys(stale(boards[6:])) == keys(uninterrupted(boards[6:]))


def test_malformed_state_of_this_policy_is_an_error() -> None:
    state = make_policy_fed(stream()[:4]).export_state("P1")
    assert state is not None
    with pytest.raises(ValueError, match="maps"):
        make_policy().import_state("P1", {**state, "maps": state["maps"][:4]})
    with pytest.raises(ValueError, match="boards"):
        make_policy().import_state("P1", {**state, "boards": []})
    with pytest.raises(ValueError, match="malformed"):
        make_policy().import_state("P1", {k: v for k, v in state.items() if k != "hysteresis"})
