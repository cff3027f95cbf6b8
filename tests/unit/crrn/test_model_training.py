"""Training glue: splits and windows by hand, and a tiny end-to-end train -> save -> load -> score."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from crrn.model_file import METHODS, ModelBundle
from crrn.model_training import (
    Segment,
    TrainOptions,
    recalibrate,
    segments_by_printer,
    sliding_windows,
    split_segment,
    train_bundle,
)
from crrn.scoring import Scorer, score_boards
from crrn.thresholds import best_f1_rule_thresholds
from schemas.inspection import BoardInspection

Make = Callable[..., BoardInspection]


def test_sliding_windows_by_hand() -> None:
    frames = np.arange(6.0).reshape(6, 1, 1, 1)  # frames 0..5
    w = sliding_windows(frames, T=3, stride=2)
    assert w[:, :, 0, 0, 0].tolist() == [[0, 1, 2], [2, 3, 4]]
    assert sliding_windows(frames, T=7, stride=1).shape == (0, 7, 1, 1, 1)


def test_segments_and_time_split(board_factory: Make) -> None:
    boards = [board_factory(i, printer_id=p) for p in ("P2", "P1") for i in (3, 1, 2, 0, 4, 5, 6, 7, 8, 9)]
    segs = segments_by_printer(boards + boards[:2])  # duplicates are dropped
    assert [(s.printer_id, [b.print_index for b in s.boards]) for s in segs] == [
        ("P1", list(range(10))),
        ("P2", list(range(10))),
    ]
    train, val, held = split_segment(segs[0], 0.7, 0.15)  # 10 boards: 7 / round(8.5)=8 -> 1 / 2
    assert [b.print_index for b in train.boards] == list(range(7))
    assert [b.print_index for b in val.boards] == [7]
    assert [b.print_index for b in held.boards] == [8, 9]
    assert isinstance(held, Segment)


def test_train_save_load_score_end_to_end(board_factory: Make, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    boards = [board_factory(i, printer_id=p, n_pads=12) for p in ("P1", "P2") for i in range(40)]
    opts = TrainOptions(window=4, epochs=2, max_minutes=2.0, batch_size=8, max_calibration_windows=4)
    bundle = train_bundle(boards, opts)
    # per printer 40 boards -> 28 train / 6 val / 6 held out; T = 4 -> 25 + 3 sliding windows each
    assert bundle.metrics["training"]["train_windows"] == 50
    assert bundle.metrics["training"]["val_windows"] == 6
    assert bundle.metrics["calibration"]["crrn"]["n_windows"] == 2  # held out: 1 window of 4 per printer
    assert set(bundle.thresholds) == {"crrn", "statistical", "pad_zscore", "pad_zscore_board"}
    assert set(bundle.evidence) == set(bundle.thresholds)  # a process-alarm rule for every method
    assert bundle.metrics["calibration"]["crrn"]["heldout_boards"] == 12  # 6 per printer, stream-scored
    path = bundle.save(tmp_path / "model.pt")
    loaded = ModelBundle.load(path)
    assert loaded.version == bundle.version
    scorer = Scorer(loaded, device="cpu")
    fresh = [board_factory(i, printer_id="P1", n_pads=12, seed=1000 + i) for i in range(100, 110)]
    out = list(score_boards(fresh, scorer, loaded.window_length, loaded.window_hop))
    assert [s.print_index for s in out] == list(range(100, 110))
    assert all(np.isfinite(s.score).all() for s in out)
    assert all(s.process is not None and s.evidence_limit == loaded.evidence["crrn"].limit for s in out)
    report = bundle.metrics["calibration"]["crrn"]
    assert report["rule"] == "board_false_alarm_rate=0.01"  # the default rule
    assert bundle.thresholds["crrn"].to_dict() == report["board_rule_thresholds"]
    recal = recalibrate(loaded, fresh, seed=3, device="cpu")
    assert recal.version != loaded.version
    assert recal.state_dict is loaded.state_dict  # weights untouched
    assert recal.metrics["calibration"]["crrn"]["rule"] == "board_false_alarm_rate=0.01"
    at_rate = recalibrate(loaded, fresh, seed=3, device="cpu", false_alarm_rate=0.05, rule="pad")
    assert at_rate.metrics["calibration"]["crrn"]["rule"] == "false_alarm_rate=0.05"
    assert at_rate.thresholds["crrn"] != recal.thresholds["crrn"]
    paper = recalibrate(loaded, fresh, seed=3, device="cpu", false_alarm_rate=None)
    report = paper.metrics["calibration"]["crrn"]
    assert report["rule"] == "best_f1"
    assert paper.thresholds["crrn"] == best_f1_rule_thresholds(report)
    # the same search ran under the rate rule, so its thresholds are reported there too
    assert best_f1_rule_thresholds(recal.metrics["calibration"]["crrn"]) == paper.thresholds["crrn"]


def test_train_options_pass_training_knobs_and_name_bad_ones() -> None:
    opts = TrainOptions(
        lr=3e-4, patience=7, anomaly_mu=(1.0, 6.0), anomaly_volume_only_prob=0.7, anomaly_height_only_prob=0.3
    )
    cfg = opts.train_config(batch_size=4, max_seconds=12.0)
    knobs = (cfg.lr, cfg.patience, cfg.anomaly_mu, cfg.anomaly_volume_only_prob, cfg.anomaly_height_only_prob)
    assert knobs == (3e-4, 7, (1.0, 6.0), 0.7, 0.3)
    assert (cfg.batch_size, cfg.max_seconds) == (4, 12.0)
    with pytest.raises(ValueError, match="anomaly_volume_only_prob"):
        TrainOptions(anomaly_volume_only_prob=1.5)
    with pytest.raises(ValueError, match="calibration_mus"):
        TrainOptions(calibration_mus=())
    with pytest.raises(ValueError, match="false-alarm-rate"):
        TrainOptions(calibration_false_alarm_rate=0.5)
    assert TrainOptions(calibration_false_alarm_rate=None).calibration_false_alarm_rate is None
    with pytest.raises(ValueError, match="patience"):
        TrainOptions(patience=0)
    with pytest.raises(ValueError, match="batch-size"):
        TrainOptions(batch_size=0)


def test_a_tight_budget_still_trains_and_calibrates(board_factory: Make) -> None:
    # 0.25 min = 15 s: the old reserve (cold forward, fixed 15 s of margins) refused such budgets
    torch.set_num_threads(1)
    boards = [board_factory(i, printer_id="P1", n_pads=12) for i in range(60)]
    opts = TrainOptions(window=4, epochs=1, max_minutes=0.25, batch_size=8, max_calibration_windows=4)
    bundle = train_bundle(boards, opts)
    assert bundle.metrics["training"]["epochs"] == 1
    assert set(bundle.thresholds) == set(METHODS)


def test_train_options_pass_the_structured_corruption_knobs() -> None:
    cfg = TrainOptions(structured_prob=0.25, structured_mu=(1.0, 3.0)).train_config()
    assert (cfg.structured_prob, cfg.structured_mu) == (0.25, (1.0, 3.0))
    with pytest.raises(ValueError, match="structured_prob"):
        TrainOptions(structured_prob=-0.1)


def test_the_cpu_model_is_trained_and_stored_for_two_pass_scoring(board_factory: Make) -> None:
    torch.set_num_threads(1)
    boards = [board_factory(i, printer_id="P1", n_pads=12) for i in range(60)]
    opts = TrainOptions(window=4, epochs=1, max_minutes=0.25, batch_size=8, max_calibration_windows=4)
    assert train_bundle(boards, opts).hide_suspects_above == 1.5
    one_pass = train_bundle(boards, replace(opts, hide_suspects_prob=0.0))
    assert one_pass.hide_suspects_above is None
    cfg = TrainOptions(hide_suspects_prob=0.3, hide_level=2.0).train_config()
    assert (cfg.hide_suspects_prob, cfg.hide_level) == (0.3, 2.0)


def test_denoising_only_keeps_noise_and_dropout_and_drops_every_anomaly_shaped_corruption() -> None:
    full = TrainOptions(noise_fraction=0.2, keep_prob=0.8).train_config()
    ablation = TrainOptions(noise_fraction=0.2, keep_prob=0.8, denoising_only=True).train_config()
    assert (full.anomaly_board_prob, full.structured_prob, full.hide_suspects_prob) == (0.5, 0.6, 0.5)
    assert (ablation.anomaly_board_prob, ablation.structured_prob, ablation.hide_suspects_prob) == (0, 0, 0)
    assert (ablation.noise_fraction, ablation.keep_prob) == (0.2, 0.8)


def test_a_denoising_only_model_scores_in_one_pass_and_records_the_switch(board_factory: Make) -> None:
    torch.set_num_threads(1)
    boards = [board_factory(i, printer_id="P1", n_pads=12) for i in range(60)]
    opts = TrainOptions(
        window=4, epochs=1, max_minutes=0.25, batch_size=8, max_calibration_windows=4, denoising_only=True
    )
    bundle = train_bundle(boards, opts)
    assert bundle.hide_suspects_above is None
    assert bundle.metrics["options"]["denoising_only"] is True
