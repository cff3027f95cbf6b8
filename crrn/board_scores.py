"""BoardScores: one board's per-pad scores and alarms, as scoring produces and the pipeline stores them.

Its own module (not crrn/scoring.py) because both the scorer and the process-alarm tracker
(crrn/evidence.py) use it, and the scorer uses the tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crrn.anomaly_map import alarms
from schemas.inspection import BoardInspection
from schemas.messages import Thresholds

# BoardScores.alarm_type codes, and their names on the wire and in `spi-crrn score`
ALARM_TYPE_NONE = 0
ALARM_TYPE_OUTLIER = 1
ALARM_TYPE_PROCESS = 2
ALARM_TYPE_NAMES = ("none", "board_outlier", "process")


@dataclass(frozen=True, eq=False)
class BoardScores:
    """Scores of one board, pad arrays (P,) in the board's own pad order.

    The board itself is carried (not copies of its fields): its identity (event, printer, print index...)
    and pad arrays travel unchanged from the validator through scoring to the stored rows and messages.

    `alarm` is THE per-pad decision: board outliers (`outlier`: score beyond `thresholds`, or a member of a
    cluster outlier, `cluster`) united with
    process alarms (`process`, filled in by crrn.evidence.EvidenceTracker; zeros until it ran). On a pad
    that is both, the board outlier's sign counts."""

    board: BoardInspection
    score: np.ndarray  # (P,) float32, signed, normalized volume units
    alarm: np.ndarray  # (P,) int8: +1 excessive, -1 insufficient, 0 none (outliers and process alarms)
    model_version: str
    method: str
    thresholds: Thresholds
    process: np.ndarray | None = None  # (P,) int8 process-alarm codes; None: no tracker ran
    evidence: np.ndarray | None = None  # (P,) float32 signed CUSUM (+S+ or -S-, standardized units)
    evidence_boards: np.ndarray | None = None  # (P,) int32 boards of evidence (run length of that side)
    evidence_limit: float | None = None  # the process limit h the evidence is compared with
    cluster: np.ndarray | None = None  # (P,) int8 cluster-outlier codes (crrn/clusters.py); None: not run

    @property
    def outlier(self) -> np.ndarray:
        """(P,) int8 board-outlier codes, from this board alone: a single pad beyond the thresholds, else
        a pad of a cluster outlier (a single pad's sign wins)."""
        single = alarms(self.score, self.thresholds)
        if self.cluster is None:
            return single
        return np.where(single != 0, single, self.cluster).astype(np.int8)

    @property
    def alarm_type(self) -> np.ndarray:
        """(P,) int8: ALARM_TYPE_OUTLIER where a board outlier, else ALARM_TYPE_PROCESS where a process
        alarm, else ALARM_TYPE_NONE."""
        out = np.where(self.alarm != 0, ALARM_TYPE_OUTLIER, ALARM_TYPE_NONE).astype(np.int8)
        if self.process is not None:
            out[(self.alarm != 0) & (self.outlier == 0)] = ALARM_TYPE_PROCESS
        return out

    @property
    def event_id(self) -> str:
        return self.board.event_id

    @property
    def printer_id(self) -> str:
        return self.board.printer_id

    @property
    def print_index(self) -> int:
        return self.board.print_index

    @property
    def recipe_id(self) -> str:
        return self.board.recipe_id

    @property
    def pad_id(self) -> np.ndarray:  # (P,) str
        return self.board.pads.pad_id

    @property
    def n_alarms(self) -> int:
        return int(np.count_nonzero(self.alarm))
