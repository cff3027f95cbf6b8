"""Ground truth that travels beside each simulated board: per-pad labels and the active printer defects.

labels `(P,)` int8: +1 excessive, -1 insufficient, 0 normal (what a detector should flag).
sources `(P,)` uint8 bit field saying why a pad is labelled (several bits may be set):
    SOURCE_NATURAL random natural defect, SOURCE_INJECTED Experiment-1 injection, and one bit per
    printer defect type: `defect_bit(name)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.messages import DEFECT_TYPES

SOURCE_NATURAL = 1
SOURCE_INJECTED = 2


def defect_bit(name: str) -> int:
    """The `sources` bit of a printer defect type (4, 8, 16, 32, 64 in DEFECT_TYPES order)."""
    return 4 << DEFECT_TYPES.index(name)


@dataclass(frozen=True)
class ActiveDefect:
    """A printer defect acting on one board: f(t) (signed, in [-1, 1]) times amplitude (pad std units)."""

    name: str
    severity: float  # f(t)
    amplitude: float


@dataclass(frozen=True, eq=False)
class GroundTruth:
    event_id: str
    labels: np.ndarray  # (P,) int8 in {-1, 0, +1}
    sources: np.ndarray  # (P,) uint8 bit field
    defects: tuple[ActiveDefect, ...] = ()
    cleaning_phase: int = 0  # prints since the last stencil cleaning (0 = first print after it)

    def mask_of(self, name: str) -> np.ndarray:
        """(P,) bool: pads affected on this board by printer defect `name`."""
        return (self.sources & defect_bit(name)) != 0
