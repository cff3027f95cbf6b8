"""BoardScores built by hand for the diagnosis tests: a board with the given pad ids and scores."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from crrn.scoring import BoardScores
from schemas.inspection import BoardInspection, PadArrays
from schemas.messages import Thresholds

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def hand_scores(
    pad_ids: np.ndarray,
    index: int,
    values: np.ndarray,
    thresholds: Thresholds,
    printer: str = "P1",
    recipe: str = "R1",
) -> BoardScores:
    """Scores `values` (P,) of board `index` of `printer`, pads in the order of `pad_ids`; no alarms."""
    n = len(pad_ids)
    zeros, ones = np.zeros(n), np.ones(n)
    pads = PadArrays(
        pad_id=np.asarray(pad_ids), x_mm=zeros, y_mm=zeros, size_x_mm=ones, size_y_mm=ones,
        shape=np.full(n, "A"), volume_pct=zeros, height_um=zeros, area_pct=zeros,
    )  # fmt: skip
    board = BoardInspection(f"{printer}-e{index}", "L1", printer, "I1", recipe, f"b{index}", index, NOW, pads)
    return BoardScores(
        board=board,
        score=np.asarray(values, dtype=np.float32),
        alarm=np.zeros(n, np.int8),
        model_version="v1",
        method="crrn",
        thresholds=thresholds,
    )
