"""Hand-worked hysteresis sequences: raise after N high windows, clear after M low ones, band in between."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.diagnosis.hysteresis import BoardSpan, DefectHysteresis, HysteresisConfig

CLASSES = ("a", "b")


def span(i: int) -> BoardSpan:
    """Window i covers boards i-2 .. i (three boards)."""
    return BoardSpan(f"e{i - 2}", i - 2, f"e{i}", i)


def run(machine: DefectHysteresis, probs_a: list[float]) -> list[tuple[int, str, str]]:
    """Feed class-a probabilities (class b stays 0); return (window, defect, state) of every transition."""
    out = []
    for i, p in enumerate(probs_a, start=10):
        for t in machine.update(np.array([p, 0.0]), span(i)):
            out.append((i, t.defect, t.state))
    return out


def test_raises_after_n_consecutive_high_windows_only() -> None:
    machine = DefectHysteresis(HysteresisConfig(raise_above=0.5, clear_below=0.3, raise_after=3), CLASSES)
    # high, high, LOW (reset), high, high, high -> raised at the 6th window (index 15)
    assert run(machine, [0.9, 0.8, 0.2, 0.6, 0.5, 0.7]) == [(15, "a", "raised")]
    assert machine.active == {"a": True, "b": False}


def test_episode_starts_at_first_board_of_the_run() -> None:
    machine = DefectHysteresis(HysteresisConfig(raise_after=2), CLASSES)
    machine.update(np.array([0.1, 0.0]), span(10))
    assert machine.update(np.array([0.9, 0.0]), span(11)) == []
    (t,) = machine.update(np.array([0.9, 0.0]), span(12))
    # the run began with window 11 (boards 9..11) and the raise happens at window 12 (boards 10..12)
    assert t.episode == BoardSpan("e9", 9, "e12", 12)
    assert t.window == span(12)
    assert t.probability == pytest.approx(0.9)


def test_band_between_thresholds_neither_raises_nor_clears() -> None:
    machine = DefectHysteresis(
        HysteresisConfig(raise_above=0.5, clear_below=0.3, raise_after=1, clear_after=2), CLASSES
    )
    # 0.4 (band) x3 -> nothing; 0.6 -> raised; 0.4 band keeps it; 0.2, 0.4 (reset), 0.1, 0.0 -> cleared at 18
    got = run(machine, [0.4, 0.4, 0.4, 0.6, 0.4, 0.2, 0.4, 0.1, 0.0])
    assert got == [(13, "a", "raised"), (18, "a", "cleared")]


def test_cleared_event_keeps_the_episode_start_and_a_new_episode_can_follow() -> None:
    machine = DefectHysteresis(HysteresisConfig(raise_after=1, clear_after=1), CLASSES)
    (r1,) = machine.update(np.array([0.9, 0.0]), span(10))
    machine.update(np.array([0.9, 0.0]), span(11))
    (c1,) = machine.update(np.array([0.1, 0.0]), span(12))
    assert (c1.state, c1.episode.first_print_index, c1.episode.last_print_index) == ("cleared", 8, 12)
    assert r1.episode.first_print_index == c1.episode.first_print_index
    (r2,) = machine.update(np.array([0.9, 0.0]), span(13))
    assert (r2.state, r2.episode.first_print_index) == ("raised", 11)


def test_classes_are_independent_and_per_defect_thresholds_apply() -> None:
    config = HysteresisConfig(raise_above=0.5, raise_after=1, raise_above_by_defect={"b": 0.95})
    machine = DefectHysteresis(config, CLASSES)
    got = machine.update(np.array([0.6, 0.9]), span(10))
    assert [(t.defect, t.state) for t in got] == [("a", "raised")]
    got = machine.update(np.array([0.6, 0.96]), span(11))
    assert [(t.defect, t.state) for t in got] == [("b", "raised")]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"raise_above": 0.2, "clear_below": 0.3}, "raise_above"),
        ({"raise_after": 0}, "raise_after"),
        ({"clear_below": -0.1}, "clear_below"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        HysteresisConfig(**kwargs)


def test_wrong_probability_shape_is_rejected() -> None:
    machine = DefectHysteresis(HysteresisConfig(), CLASSES)
    with pytest.raises(ValueError, match="probabilities"):
        machine.update(np.array([0.5]), span(10))
