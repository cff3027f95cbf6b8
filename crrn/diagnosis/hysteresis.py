"""Per-printer hysteresis over per-window defect probabilities: when to raise and when to clear a defect.

Pure state machine, one instance per printer, vectorized over the defect classes. For each defect:

- while not raised: a window with probability >= its raise threshold extends a run of consecutive "high"
  windows (any other window resets the run); when the run reaches `raise_after` windows, the defect is
  raised. The episode starts at the first board of the run's first window.
- while raised: a window with probability < `clear_below` extends a run of "low" windows (any other window
  resets it); when it reaches `clear_after`, the defect is cleared and the high-run starts again from 0.

`clear_below <= raise_above`, so a probability between the two thresholds neither raises nor clears
(the hysteresis band).

`to_state()` / `from_state()` give the state as a small JSON-safe dict (flags, run counters, run starts),
so a streaming worker can persist it and resume exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

DefectState = Literal["raised", "cleared"]


@dataclass(frozen=True)
class HysteresisConfig:
    """Thresholds on probabilities and run lengths in windows.

    `raise_above_by_defect` overrides the raise threshold per defect.
    """

    raise_above: float = 0.5
    clear_below: float = 0.3
    raise_after: int = 3  # N consecutive windows at or above the raise threshold
    clear_after: int = 3  # M consecutive windows below clear_below
    raise_above_by_defect: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in [("raise_above", self.raise_above), *self.raise_above_by_defect.items()]:
            if not self.clear_below <= value <= 1.0:
                raise ValueError(
                    f"raise threshold {name}={value} must lie in [clear_below={self.clear_below}, 1]"
                )
        if not self.clear_below >= 0.0:
            raise ValueError(f"clear_below={self.clear_below} must be >= 0")
        if self.raise_after < 1 or self.clear_after < 1:
            raise ValueError(
                f"raise_after={self.raise_after} and clear_after={self.clear_after} must be >= 1 window"
            )

    def raise_thresholds(self, classes: Sequence[str]) -> np.ndarray:
        """`(n_classes,)` raise threshold of each class."""
        unknown = set(self.raise_above_by_defect) - set(classes)
        if unknown:
            raise ValueError(
                f"raise_above_by_defect names unknown defects {sorted(unknown)}; known: {classes}"
            )
        return np.array([self.raise_above_by_defect.get(c, self.raise_above) for c in classes], dtype=float)


@dataclass(frozen=True)
class BoardSpan:
    """The boards a classified window covers (oldest and newest, by print order)."""

    first_event_id: str
    first_print_index: int
    last_event_id: str
    last_print_index: int


@dataclass(frozen=True)
class Transition:
    """A defect raised or cleared at `window`; `episode` spans from the episode's first board to now."""

    defect: str
    state: DefectState
    probability: float
    episode: BoardSpan
    window: BoardSpan


class DefectHysteresis:
    """The hysteresis state of one printer over all defect classes."""

    def __init__(self, config: HysteresisConfig, classes: Sequence[str]) -> None:
        self.config = config
        self.classes = tuple(classes)
        n = len(self.classes)
        self._raise_at = config.raise_thresholds(self.classes)  # (n,)
        self._active = np.zeros(n, dtype=bool)
        self._high_run = np.zeros(n, dtype=np.int64)
        self._low_run = np.zeros(n, dtype=np.int64)
        self._run_start: list[BoardSpan | None] = [None] * n  # first window of the current high run

    @property
    def active(self) -> dict[str, bool]:
        return {c: bool(a) for c, a in zip(self.classes, self._active, strict=True)}

    def to_state(self) -> dict[str, Any]:
        """JSON-safe state: per class (in `classes` order) the active flag, run counters and run start."""
        return {
            "classes": list(self.classes),
            "active": [bool(a) for a in self._active],
            "high_run": [int(r) for r in self._high_run],
            "low_run": [int(r) for r in self._low_run],
            "run_start": [None if s is None else asdict(s) for s in self._run_start],
        }

    @classmethod
    def from_state(
        cls, config: HysteresisConfig, classes: Sequence[str], state: Mapping[str, Any]
    ) -> DefectHysteresis:
        """The machine `to_state()` described; ValueError when it was saved for other classes."""
        machine = cls(config, classes)
        if list(state["classes"]) != list(machine.classes):
            raise ValueError(
                f"hysteresis state is for classes {list(state['classes'])}, not {list(machine.classes)}"
            )
        n = len(machine.classes)
        fields = ("active", "high_run", "low_run", "run_start")
        if any(len(state[name]) != n for name in fields):
            raise ValueError(f"hysteresis state: {fields} must each hold {n} values (one per class)")
        machine._active = np.array(state["active"], dtype=bool)
        machine._high_run = np.array(state["high_run"], dtype=np.int64)
        machine._low_run = np.array(state["low_run"], dtype=np.int64)
        machine._run_start = [None if s is None else BoardSpan(**s) for s in state["run_start"]]
        return machine

    def update(self, probabilities: np.ndarray, window: BoardSpan) -> list[Transition]:
        """Feed one window's `(n_classes,)` probabilities; return the transitions it causes."""
        p = np.asarray(probabilities, dtype=float)
        if p.shape != (len(self.classes),) or not np.all(np.isfinite(p)):
            raise ValueError(
                f"probabilities must be {len(self.classes)} finite values (one per {self.classes}), "
                f"got shape {p.shape}"
            )
        high = p >= self._raise_at  # (n,)
        low = p < self.config.clear_below  # (n,)
        idle = ~self._active
        starts = idle & high & (self._high_run == 0)
        self._high_run = np.where(idle & high, self._high_run + 1, 0)
        self._low_run = np.where(self._active & low, self._low_run + 1, 0)
        for k in np.flatnonzero(starts):
            self._run_start[k] = window

        raised = idle & (self._high_run >= self.config.raise_after)
        cleared = self._active & (self._low_run >= self.config.clear_after)
        transitions: list[Transition] = []
        for k in np.flatnonzero(raised | cleared):
            start = self._run_start[k]
            assert start is not None  # set when the high run began
            episode = BoardSpan(
                start.first_event_id, start.first_print_index, window.last_event_id, window.last_print_index
            )
            state: DefectState = "raised" if raised[k] else "cleared"
            transitions.append(Transition(self.classes[k], state, float(p[k]), episode, window))
        self._active = (self._active | raised) & ~cleared
        self._high_run[raised | cleared] = 0
        self._low_run[raised | cleared] = 0
        return transitions
