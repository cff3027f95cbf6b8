"""Anomaly maps: reconstruction error -> signed per-pad scores, pooled channels and binary alarm maps.

Score convention (shared by the CRRN and the baselines): signed, in per-pad normalized volume units,
`score = input - reconstruction` on channel 0 (volume). Positive = more paste than the model expects
(excessive), negative = less (insufficient). Cells without a pad are 0.
"""

from __future__ import annotations

import numpy as np

from crrn.normalization import VOLUME_CHANNEL
from schemas.messages import Thresholds

ALARM_EXCESSIVE = 1
ALARM_INSUFFICIENT = -1
ALARM_NONE = 0


def score_map(x_in: np.ndarray, x_rec: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(..., C, H, W) input and reconstruction, mask (H, W) -> (..., H, W) signed volume score, 0 off pads."""
    x_in = np.asarray(x_in, dtype=np.float32)
    x_rec = np.asarray(x_rec, dtype=np.float32)
    if x_in.shape != x_rec.shape:
        raise ValueError(f"input {x_in.shape} and reconstruction {x_rec.shape} differ in shape")
    diff = x_in[..., VOLUME_CHANNEL, :, :] - x_rec[..., VOLUME_CHANNEL, :, :]  # (..., H, W)
    return np.where(np.asarray(mask, dtype=bool), diff, np.float32(0.0))


def alarms(scores: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Per-pad alarm codes (int8, same shape): +1 score >= excessive, -1 score <= insufficient, else 0."""
    s = np.asarray(scores)
    out = np.zeros(s.shape, dtype=np.int8)
    out[s >= thresholds.excessive] = ALARM_EXCESSIVE
    out[s <= thresholds.insufficient] = ALARM_INSUFFICIENT
    return out


def pooled_maps(score_grid: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """(..., H, W) scores -> (..., 2, ceil(H/size), ceil(W/size)) pooled channels for the defect classifier.

    Channel 0 (excessive) = max pooling of max(score, 0); channel 1 (insufficient) = min pooling of
    min(score, 0). Cells without a pad count as 0 (no evidence); the grid is padded with 0 to a multiple
    of `size`.
    """
    if size < 1:
        raise ValueError("pool size must be >= 1")
    s = np.where(np.asarray(mask, dtype=bool), np.asarray(score_grid, dtype=np.float32), np.float32(0.0))
    *lead, h, w = s.shape
    hp, wp = -(-h // size) * size, -(-w // size) * size
    padded = np.zeros((*lead, hp, wp), dtype=np.float32)
    padded[..., :h, :w] = s
    blocks = padded.reshape(*lead, hp // size, size, wp // size, size)  # (..., h', s, w', s)
    exc = np.maximum(blocks.max(axis=(-3, -1)), 0.0)  # (..., h', w')
    ins = np.minimum(blocks.min(axis=(-3, -1)), 0.0)
    return np.stack([exc, ins], axis=-3)


def binarize(pooled: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """(..., 2, h, w) pooled maps -> (..., 2, h, w) uint8: channel 0 = excessive >= threshold,
    channel 1 = insufficient <= (negative) threshold."""
    p = np.asarray(pooled)
    out = np.empty(p.shape, dtype=np.uint8)
    out[..., 0, :, :] = p[..., 0, :, :] >= thresholds.excessive
    out[..., 1, :, :] = p[..., 1, :, :] <= thresholds.insufficient
    return out
