"""PR curve and best F1 by hand; calibration on separable injections."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.baselines import PadHistoryZScore
from crrn.thresholds import (
    CalibrationSet,
    GPDFit,
    GumbelFit,
    Thresholds,
    best_f1,
    best_f1_rule_thresholds,
    board_outlier_limits,
    boards_needed,
    calibrate_sets,
    false_alarm_limits,
    fit_tail,
    gpd_pwm,
    inject,
    pr_curve,
    split_board_rate,
    split_outlier_rate,
    tail_limit,
)
from schemas.errors import InvalidEvent


def test_pr_curve_six_elements_by_hand() -> None:
    scores = np.array([0.4, 0.9, 0.6, 0.8, 0.5, 0.7])
    labels = np.array([0, 1, 1, 0, 0, 1])
    # sorted: 0.9(1) 0.8(0) 0.7(1) 0.6(1) 0.5(0) 0.4(0); 3 positives
    p, r, t = pr_curve(scores, labels)
    np.testing.assert_allclose(t, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    np.testing.assert_allclose(p, [1, 1 / 2, 2 / 3, 3 / 4, 3 / 5, 3 / 6])
    np.testing.assert_allclose(r, [1 / 3, 1 / 3, 2 / 3, 1, 1, 1])
    # F1: 0.5, 0.4, 0.667, 0.857 (= 6/7), 0.75, 0.667
    f1, thr = best_f1(scores, labels)
    assert f1 == pytest.approx(6 / 7)
    assert thr == 0.6


def test_pr_curve_groups_ties() -> None:
    p, r, t = pr_curve(np.array([1.0, 0.5, 0.5, 0.0]), np.array([1, 0, 1, 0]))
    np.testing.assert_allclose(t, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(p, [1.0, 2 / 3, 2 / 4])
    np.testing.assert_allclose(r, [0.5, 1.0, 1.0])


def test_pr_curve_needs_a_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        pr_curve(np.array([0.1, 0.2]), np.array([0, 0]))


def test_thresholds_validate_signs() -> None:
    with pytest.raises(InvalidEvent, match=r"thresholds\.excessive"):
        Thresholds(excessive=-1.0, insufficient=-2.0)
    assert Thresholds.from_dict(Thresholds(2.0, -3.0).to_dict()) == Thresholds(2.0, -3.0)


def test_inject_only_on_pads_and_at_the_ratio() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((4, 5, 2, 20, 20), dtype=np.float32)
    mask = np.zeros((20, 20), dtype=bool)
    mask[:10] = True
    xi, y = inject(x, mask, rng, ratio=0.3, mu=5.0, sigma=0.1)
    assert not y[:, :, 10:].any()
    assert y[:, :, :10].mean() == pytest.approx(0.3, abs=0.03)
    vals = xi[:, :, 0][y]
    assert vals.mean() == pytest.approx(5.0, abs=0.02)
    np.testing.assert_array_equal(xi[:, :, 1][y], vals)  # the same anomaly on every channel


def test_inject_volume_only_boards_leave_height_alone() -> None:
    x = np.zeros((40, 5, 2, 10, 10), dtype=np.float32)
    mask = np.ones((10, 10), dtype=bool)
    xi, y = inject(x, mask, np.random.default_rng(0), ratio=0.5, mu=-4.0, sigma=0.1, volume_only_prob=1.0)
    assert (xi[:, :, 0][y] < -3.0).all()
    assert (xi[:, :, 1] == 0).all()
    xi, y = inject(x, mask, np.random.default_rng(0), ratio=0.5, mu=-4.0, sigma=0.1, volume_only_prob=0.5)
    height_moved = (xi[:, :, 1] != 0).any(axis=(-1, -2))  # (B, T): a "both channels" board
    assert 0.35 < height_moved.mean() < 0.65  # about half of the 200 boards
    both = height_moved[..., None, None] & y
    np.testing.assert_array_equal(xi[:, :, 1][both], xi[:, :, 0][both])
    with pytest.raises(ValueError, match="volume_only_prob"):
        inject(x, mask, np.random.default_rng(0), 0.5, 4.0, 0.1, volume_only_prob=2.0)


def test_calibrate_finds_the_gap_between_normal_and_injected() -> None:
    # normal pads ~ N(0, 1); injected pads = normal + N(+-5, 0.1) ~ N(+-5, ~1). With the pad z-score the
    # classes cross near 2.5 (a bit higher as fewer pads are injected), each tail holding ~0.6 %, so the
    # best thresholds lie in about 2..3.5 and F1 is about 0.98-0.99
    rng = np.random.default_rng(1)
    windows = rng.normal(size=(8, 4, 2, 10, 10)).astype(np.float32)
    mask = np.ones((10, 10), dtype=bool)
    res = calibrate_sets([CalibrationSet(PadHistoryZScore(mask).score_windows_array, windows, mask)], rng)
    assert 2.0 < res.thresholds.excessive < 3.5
    assert -3.5 < res.thresholds.insufficient < -2.0
    assert res.f1_excessive > 0.97
    assert res.f1_insufficient > 0.97


def test_calibration_pooled_over_sizes_sits_below_the_largest_size_alone() -> None:
    # normal pads ~ N(0, 1): with mu = 5 only the classes cross near 2.5; adding mu = 3 anomalies (which
    # overlap normal pads around 1.5) makes a lower threshold pay off, so the pooled one must be lower
    rng = np.random.default_rng(3)
    windows = rng.normal(size=(8, 4, 2, 10, 10)).astype(np.float32)
    mask = np.ones((10, 10), dtype=bool)
    score = PadHistoryZScore(mask).score_windows_array
    only5 = calibrate_sets([CalibrationSet(score, windows, mask)], np.random.default_rng(0), mu=5.0)
    pooled = calibrate_sets([CalibrationSet(score, windows, mask)], np.random.default_rng(0), mu=(3.0, 5.0))
    assert pooled.thresholds.excessive < only5.thresholds.excessive
    assert pooled.thresholds.insufficient > only5.thresholds.insufficient
    assert pooled.details["mu"] == [3.0, 5.0]
    with pytest.raises(ValueError, match="mu"):
        calibrate_sets([CalibrationSet(score, windows, mask)], np.random.default_rng(0), mu=())


def test_calibration_never_fires_on_more_than_the_allowed_share_of_clean_pads() -> None:
    """A score that barely separates anomalies (best F1 at a low threshold) is capped by the clean-pad
    quantile: on clean windows at most `max_false_alarm_rate` of the pads of each sign alarm."""
    rng = np.random.default_rng(3)
    mask = np.ones((6, 6), dtype=bool)
    windows = rng.normal(size=(8, 4, 2, 6, 6)).astype(np.float32)

    def weak(x: np.ndarray) -> np.ndarray:  # (B, T, C, H, W) -> (B, T, H, W): anomalies shrunk 20x
        return x[:, :, 0] / 20.0 + windows[:, :, 0] * (1 - 1 / 20.0)

    result = calibrate_sets([CalibrationSet(weak, windows, mask)], rng, mu=5.0, max_false_alarm_rate=0.01)
    clean = weak(windows)[:, :, mask].ravel()
    one_pad = 1.0 / clean.size  # the quantile interpolates between two pads
    assert np.mean(clean >= result.thresholds.excessive) <= 0.01 + one_pad
    assert np.mean(clean <= result.thresholds.insufficient) <= 0.01 + one_pad
    # the floor is what decided here: the best-F1 threshold alone would have been lower
    assert result.details["best_f1_excessive_threshold"] < result.thresholds.excessive


def test_a_chosen_false_alarm_rate_sets_the_clean_quantiles() -> None:
    rng = np.random.default_rng(5)
    mask = np.ones((10, 10), dtype=bool)
    windows = rng.normal(size=(8, 4, 2, 10, 10)).astype(np.float32)
    score = PadHistoryZScore(mask).score_windows_array
    res = calibrate_sets([CalibrationSet(score, windows, mask)], rng, false_alarm_rate=0.02)
    clean = windows[:, :, 0][:, :, mask].ravel()  # the pad z-score of clean windows is the volume itself
    assert res.thresholds.excessive == pytest.approx(float(np.quantile(clean, 0.98)))
    assert res.thresholds.insufficient == pytest.approx(float(np.quantile(clean, 0.02)))
    assert res.details["rule"] == "false_alarm_rate=0.02"
    assert 1.9 < res.thresholds.excessive < 2.2  # N(0, 1) pads: the 98 % quantile is 2.05
    # the best-F1 rule's thresholds are reported beside them, as that rule alone would set them
    paper = calibrate_sets([CalibrationSet(score, windows, mask)], np.random.default_rng(5), mu=5.0)
    again = calibrate_sets(
        [CalibrationSet(score, windows, mask)], np.random.default_rng(5), mu=5.0, false_alarm_rate=0.02
    )
    assert paper.details["rule"] == "best_f1"
    assert (
        best_f1_rule_thresholds(again.to_dict())
        == paper.thresholds
        == best_f1_rule_thresholds(paper.to_dict())
    )
    assert paper.thresholds != again.thresholds
    with pytest.raises(ValueError, match="best_f1_rule_thresholds"):
        best_f1_rule_thresholds({"thresholds": {"excessive": 1.0, "insufficient": -1.0}})
    with pytest.raises(ValueError, match="false_alarm_rate"):
        calibrate_sets([CalibrationSet(score, windows, mask)], rng, false_alarm_rate=0.7)


def test_false_alarm_limits_by_hand() -> None:
    scores = (np.arange(1000).reshape(10, 100) - 500) / 100.0  # -5.00 .. 4.99
    t = false_alarm_limits(scores, 0.01)
    # linear quantiles: position 0.99 * 999 = 989.01 -> 4.8901; 0.01 * 999 = 9.99 -> -4.9001
    assert t.excessive == pytest.approx(4.8901)
    assert t.insufficient == pytest.approx(-4.9001)
    assert float((scores >= t.excessive).mean()) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        false_alarm_limits(scores, 0.0)


# ------------------------------------------------------------------ board-level limits


def test_board_rate_split_and_boards_needed() -> None:
    assert split_board_rate(0.01) == (0.005, 0.005)
    assert boards_needed(0.00125) == 8000  # R = 1 %: an eighth per sign and kind, 10 boards beyond it
    assert split_outlier_rate(0.005) == (0.0025, 0.0025)  # single pads and clusters share the outliers' R/2
    with pytest.raises(ValueError, match="board_false_alarm_rate"):
        split_board_rate(0.6)


def test_gpd_pwm_by_hand() -> None:
    # y = 0, 1, 3: a0 = 4/3; p = 0.65/3, 1.65/3, 2.65/3 -> a1 = (0 + 0.45 * 1 + (0.35/3) * 3) / 3 = 0.8/3
    # a0 - 2 a1 = 0.8 -> shape = 2 - (4/3) / 0.8 = 1/3, scale = a0 (1 - shape) = 8/9
    scale, shape = gpd_pwm(np.array([3.0, 0.0, 1.0]))
    assert shape == pytest.approx(1 / 3)
    assert scale == pytest.approx(8 / 9)
    # y = 1, 2, 3: shape 2 - 2 / (2 - 2 * 0.67778) = -1.10 is clipped to 0, scale = mean = 2
    scale, shape = gpd_pwm(np.array([1.0, 2.0, 3.0]))
    assert (scale, shape) == pytest.approx((2.0, 0.0))


def test_gpd_quantile_by_hand() -> None:
    assert GPDFit(1.0, 2.0, 0.0, 0.1).quantile(0.01) == pytest.approx(1 + 2 * np.log(10))
    assert GPDFit(1.0, 2.0, 0.5, 0.1).quantile(0.01) == pytest.approx(1 + 4 * (10**0.5 - 1))


def test_fit_tail_uses_the_top_exceedances() -> None:
    x = np.arange(30.0)  # k = max(10, ceil(0.2 x 30)) = 10 exceedances over u = the 11th largest = 19
    fit = fit_tail(np.random.default_rng(0).permutation(x))
    assert fit.threshold == 19.0
    assert fit.tail_share == pytest.approx(10 / 30)
    scale, shape = gpd_pwm(np.arange(1.0, 11.0))
    assert (fit.scale, fit.shape) == pytest.approx((scale, shape))


def test_tail_limit_rules(caplog: pytest.LogCaptureFixture) -> None:
    empirical = tail_limit(np.arange(1.0, 1001.0), 0.01)  # 1000 boards >= 10 / 0.01
    assert (empirical.method, empirical.limit) == ("empirical", pytest.approx(1 + 0.99 * 999))
    few = tail_limit(np.array([1.0, 5.0, 2.0]), 0.01)
    assert (few.method, few.limit) == ("max", 5.0)
    assert "far too few" in caplog.text
    # 21 boards 0..20: quartiles 5, 10, 15 -> scale = 10 / (ln(-ln 0.25) - ln(-ln 0.75)) = 10 / 1.572533,
    # location = 10 + scale ln(ln 2); the 0.1 % limit = location - scale ln(-ln 0.999)
    gum = tail_limit(np.arange(21.0), 0.001)
    scale = 10 / 1.572533
    assert gum.method == "gumbel"
    assert gum.limit == pytest.approx(10 - 0.366513 * scale + 6.907255 * scale, rel=1e-5)
    assert gum.gpd_limit is not None
    assert "Gumbel" in caplog.text


def test_gumbel_fit_recovers_a_gumbel_law() -> None:
    x = np.random.default_rng(0).gumbel(3.0, 0.5, 20000)
    fit = GumbelFit.from_quartiles(x)
    assert (fit.location, fit.scale) == pytest.approx((3.0, 0.5), rel=0.03)
    assert fit.quantile(0.01) == pytest.approx(3.0 - 0.5 * np.log(-np.log(0.99)), rel=0.02)


def test_a_few_real_defects_among_normal_boards_do_not_move_the_limit() -> None:
    rng = np.random.default_rng(1)
    maxima = rng.normal(size=(135, 500)).max(axis=1)  # per-board maxima of 500 Gaussian pads
    dirty = maxima.copy()
    dirty[:5] = 9.0  # 4 % of the boards carry one real defect at 9 std
    clean_limit = tail_limit(maxima, 0.0025)
    dirty_limit = tail_limit(dirty, 0.0025)
    assert abs(dirty_limit.limit - clean_limit.limit) < 0.3
    assert dirty_limit.gpd_limit is not None
    assert dirty_limit.gpd_limit > dirty_limit.limit + 2  # the top-exceedance fit follows the defects
    larger = tail_limit(dirty, 0.0025, larger_tail=True)  # the process statistic's rule
    assert (larger.method, larger.limit) == ("gpd", dirty_limit.gpd_limit)


def test_board_outlier_limits_by_hand() -> None:
    boards = [np.array([1.0, -2.0]), np.array([3.0, 0.0]), np.array([0.5, -0.5])]
    th, report = board_outlier_limits(boards, 0.01)  # 3 boards: the largest extremes
    assert th == Thresholds(3.0, -2.0)
    assert report["excessive"]["tail_rate"] == 0.005
    assert report["insufficient"]["method"] == "max"
