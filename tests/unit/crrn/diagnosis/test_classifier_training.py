"""Classifier training pieces that need no CRRN: window labels and the random defect mix."""

from __future__ import annotations

import numpy as np

from crrn.diagnosis.classifier_training import ClassifierTrainingConfig, random_run_defects, window_labels


def test_window_labels_use_the_newest_board_and_ignore_the_band() -> None:
    env = np.array([[0.0], [0.1], [0.3], [0.6], [0.9]])  # (N=5, K=1)
    targets, weights = window_labels(env, window=2, positive_at=0.5, negative_below=0.2)
    # windows end at boards 1..4 (0-based) with envelopes 0.1, 0.3, 0.6, 0.9
    assert targets[:, 0].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert weights[:, 0].tolist() == [1.0, 0.0, 1.0, 1.0]


def test_random_defect_mix_has_normal_single_and_pair_runs_within_the_run() -> None:
    config = ClassifierTrainingConfig()
    runs = random_run_defects(np.random.default_rng(0), 200, 100, config)
    sizes = [len(r) for r in runs]
    assert {0, 1, 2} <= set(sizes)
    for specs in runs:
        for d in specs:
            assert 1 <= d.start_index < 100
            assert config.amplitude[0] <= d.amplitude <= config.amplitude[1]
        assert len({d.name for d in specs}) == len(specs)  # a pair is two different defects
