"""A hand-made 3-pad board and its scores, shared by the pipeline and writer unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from crrn.scoring import BoardScores
from schemas.inspection import BoardInspection, PadArrays
from schemas.messages import Thresholds


def board() -> BoardInspection:
    n = 3
    pads = PadArrays(
        pad_id=np.array(["A", "B", "C"]),
        x_mm=np.array([1.0, 2.0, 3.0]),
        y_mm=np.array([4.0, 5.0, 6.0]),
        size_x_mm=np.ones(n),
        size_y_mm=np.ones(n),
        shape=np.array(["0402"] * n),
        volume_pct=np.array([150.0, 100.0, 40.0]),
        height_um=np.full(n, 120.0),
        area_pct=np.full(n, 100.0),
    )
    return BoardInspection("e1", "L1", "P1", "I1", "R1", "B1", 7, datetime(2024, 1, 1, tzinfo=UTC), pads)


def scores(b: BoardInspection) -> BoardScores:
    return BoardScores(
        board=b,
        score=np.array([3.0, 0.5, -4.0], dtype=np.float32),
        alarm=np.array([1, 0, -1], dtype=np.int8),
        model_version="m1",
        method="crrn",
        thresholds=Thresholds(2.0, -2.5),
    )
