"""Alarm thresholds: precision-recall curves, best F1, and calibration on synthetic Experiment-1 anomalies.

A pad is judged excessive when `score >= excessive` and insufficient when `score <= insufficient` (a
negative number). `calibrate` injects Experiment-1 anomalies into HELD-OUT normal windows (never the
training windows, and never the data a reported F1 is measured on):

    X_in = X + M_pad o M_anom o N(mu, sigma^2)       (normalized units; M_anom ~ Bernoulli(ratio) per cell)

The same anomaly map is added to every input channel (a deposit with more paste is also higher; the paper
does not say which channels); mu = +mu for the excessive threshold and -mu for the insufficient one.
Scores and labels over all ratios are pooled, and per sign the threshold with the best F1 is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ScoreFn = Callable[[np.ndarray], np.ndarray]  # (B, T, C, H, W) normalized windows -> (B, T, H, W) scores
DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5)


@dataclass(frozen=True)
class Thresholds:
    """Per-sign alarm thresholds in score units; `insufficient` is negative."""

    excessive: float
    insufficient: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.excessive) and np.isfinite(self.insufficient)):
            raise ValueError("thresholds must be finite")
        if not self.excessive > 0.0 > self.insufficient:
            raise ValueError(
                f"thresholds: need excessive > 0 > insufficient, got {self.excessive}, {self.insufficient}"
            )

    def to_dict(self) -> dict[str, float]:
        return {"excessive": float(self.excessive), "insufficient": float(self.insufficient)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        return cls(excessive=float(data["excessive"]), insufficient=float(data["insufficient"]))


@dataclass(frozen=True)
class CalibrationResult:
    thresholds: Thresholds
    f1_excessive: float
    f1_insufficient: float
    n_windows: int
    ratios: tuple[float, ...]
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": self.thresholds.to_dict(),
            "f1_excessive": self.f1_excessive,
            "f1_insufficient": self.f1_insufficient,
            "n_windows": self.n_windows,
            "ratios": list(self.ratios),
            **self.details,
        }


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds (decreasing) for the rule `positive iff score >= threshold`.

    One point per distinct score value; vectorized (one sort). Needs at least one positive label.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.shape}) and labels ({y.shape}) must have the same size")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("pr_curve needs at least one positive label")
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    tp = np.cumsum(y[order])  # (N,) true positives among the k+1 highest scores
    last_of_value = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])  # end of each tie group
    tp = tp[last_of_value].astype(np.float64)
    predicted = (last_of_value + 1).astype(np.float64)
    return tp / predicted, tp / n_pos, s_sorted[last_of_value]


def best_f1(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(best F1, its threshold) over the PR curve; the largest threshold wins a tie."""
    precision, recall, thresholds = pr_curve(scores, labels)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    i = int(np.argmax(f1))
    return float(f1[i]), float(thresholds[i])


def inject(
    windows: np.ndarray, mask: np.ndarray, rng: np.random.Generator, ratio: float, mu: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Experiment-1 injection: windows (B, T, C, H, W) -> (injected windows, labels (B, T, H, W) bool)."""
    b, t, _c, h, w = windows.shape
    labels = (rng.random((b, t, h, w)) < ratio) & np.asarray(mask, dtype=bool)  # M_pad o M_anom
    noise = rng.normal(mu, sigma, size=(b, t, 1, h, w)).astype(np.float32)
    return windows + noise * labels[:, :, None], labels


@dataclass(frozen=True, eq=False)
class CalibrationSet:
    """Held-out normal windows (B, T, C, H, W) of one grid, its pad mask (H, W) and the method's score_fn."""

    score_fn: ScoreFn
    windows: np.ndarray
    mask: np.ndarray


def calibrate_sets(
    sets: Sequence[CalibrationSet],
    rng: np.random.Generator,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    mu: float = 5.0,
    sigma: float = 0.1,
) -> CalibrationResult:
    """Best-F1 thresholds per sign, scores and labels pooled over ratios and sets (e.g. recipes)."""
    if not sets or any(np.asarray(c.windows).ndim != 5 or len(c.windows) == 0 for c in sets):
        raise ValueError("calibration needs held-out normal windows of shape (B, T, C, H, W), B >= 1")
    found: dict[int, tuple[float, float]] = {}
    details: dict[str, Any] = {}
    for sign, name in ((1, "excessive"), (-1, "insufficient")):
        pooled_s: list[np.ndarray] = []
        pooled_y: list[np.ndarray] = []
        for ratio in ratios:
            ratio_s, ratio_y = [], []
            for c in sets:
                m = np.asarray(c.mask, dtype=bool)
                x, y = inject(np.asarray(c.windows, dtype=np.float32), m, rng, ratio, sign * mu, sigma)
                s = np.asarray(c.score_fn(x), dtype=np.float32)  # (B, T, H, W)
                ratio_s.append((sign * s[:, :, m]).ravel())  # pads only, signed so higher = more anomalous
                ratio_y.append(y[:, :, m].ravel())
            pooled_s.append(np.concatenate(ratio_s))
            pooled_y.append(np.concatenate(ratio_y))
            details[f"f1_{name}_ratio_{ratio:g}"] = best_f1(pooled_s[-1], pooled_y[-1])[0]
        f1, thr = best_f1(np.concatenate(pooled_s), np.concatenate(pooled_y))
        found[sign] = (f1, sign * thr)
    exc, ins = found[1][1], found[-1][1]
    # a threshold on the wrong side of 0 would alarm on most normal pads: clamp to a small margin
    thresholds = Thresholds(excessive=max(exc, 1e-3), insufficient=min(ins, -1e-3))
    return CalibrationResult(
        thresholds=thresholds,
        f1_excessive=found[1][0],
        f1_insufficient=found[-1][0],
        n_windows=int(sum(len(c.windows) for c in sets)),
        ratios=tuple(float(r) for r in ratios),
        details=details,
    )


def calibrate_detailed(
    score_fn: ScoreFn,
    normal_windows: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    mu: float = 5.0,
    sigma: float = 0.1,
) -> CalibrationResult:
    """Best-F1 thresholds per sign on injected held-out normal windows (B, T, C, H, W), mask (H, W)."""
    return calibrate_sets([CalibrationSet(score_fn, normal_windows, mask)], rng, ratios, mu, sigma)


def calibrate(
    score_fn: ScoreFn,
    normal_windows: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    mu: float = 5.0,
    sigma: float = 0.1,
) -> Thresholds:
    """Thresholds only; see `calibrate_detailed`."""
    return calibrate_detailed(score_fn, normal_windows, mask, rng, ratios, mu, sigma).thresholds
