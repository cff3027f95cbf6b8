"""Experiment 3 metrics on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.experiments.exp3 import window_metrics


def test_window_metrics_counts_by_hand() -> None:
    # classes: squeegee_blade, support, removed_paste, no_kneading, clamp
    probs = np.zeros((4, 5))
    targets = np.zeros((4, 5))
    weights = np.ones((4, 5))
    targets[0, 0] = 1
    probs[0, 0] = 0.9  # TP squeegee
    targets[1, 0] = 1  # FN squeegee, and predicts support (FP support)
    probs[1, 1] = 0.7
    # window 2: nothing true, nothing predicted (TN)
    targets[3, 4] = 1
    probs[3, 4] = 0.6
    weights[3, 1] = 0  # support ignored on window 3
    m = window_metrics(probs, targets, weights)
    sq = m["per_class"]["squeegee_blade"]
    assert (sq["precision"], sq["recall"], sq["support"]) == (1.0, 0.5, 2)
    assert sq["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["support"]["precision"] == 0.0
    assert m["per_class"]["clamp"]["f1"] == 1.0
    assert m["exact_match"] == pytest.approx(2 / 3)  # windows 0 and 2 right, 1 wrong, 3 excluded
    confusion = np.array(m["confusion"]["rows_true_cols_predicted"])
    assert confusion[0, 0] == 1
    assert confusion[0, 1] == 1
    assert confusion[5, 5] == 1  # normal window predicted none
    assert confusion.sum() == 3
