"""Experiment-1 synthetic anomalies: X_in = X_normal + M_pad o M_anomaly o N(mu, sigma^2).

M_anomaly picks exactly round(ratio * n) of the n valid pads of each board (last axis = pads or grid
cells of one board; leading axes are independent boards). `mu`, `sigma` are in per-pad normalized
units (the paper: mu = +5 excessive or -5 insufficient, sigma = 0.1). Labels: sign(mu) on injected
pads, 0 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Injection:
    values: np.ndarray  # same shape as the input, anomalies added
    labels: np.ndarray  # same shape, int8: +1 / -1 on injected pads, 0 elsewhere
    mask: np.ndarray  # same shape, bool: injected pads


def anomaly_mask(
    shape: tuple[int, ...], rng: np.random.Generator, ratio: float, pad_mask: np.ndarray | None = None
) -> np.ndarray:
    """Bool mask selecting exactly round(ratio * valid pads) along the last axis of each board."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio={ratio}: choose an anomaly ratio in [0, 1]")
    valid = np.ones(shape, dtype=bool) if pad_mask is None else np.broadcast_to(pad_mask, shape)
    keys = rng.random(shape)
    keys[~valid] = np.inf  # invalid cells sort last and are never chosen
    ranks = np.argsort(np.argsort(keys, axis=-1), axis=-1)  # rank of each pad inside its board
    k = np.rint(ratio * valid.sum(axis=-1, keepdims=True))  # (..., 1) pads to pick per board
    return (ranks < k) & valid


def inject(
    values_normalized: np.ndarray, rng: np.random.Generator, ratio: float, mu: float,
    sigma: float = 0.1, pad_mask: np.ndarray | None = None,
) -> Injection:  # fmt: skip
    """Add N(mu, sigma^2) to a random `ratio` of the pads of each board (normalized units)."""
    values = np.asarray(values_normalized, dtype=np.float64)
    mask = anomaly_mask(values.shape, rng, ratio, pad_mask)
    noise = rng.normal(mu, sigma, size=values.shape)
    out = values + np.where(mask, noise, 0.0)
    labels = (mask * int(np.sign(mu))).astype(np.int8)
    return Injection(out, labels, mask)


def inject_volume_pct(
    volume_pct: np.ndarray, pad_mean: np.ndarray, pad_std: np.ndarray, rng: np.random.Generator,
    ratio: float, mu: float, sigma: float = 0.1,
) -> Injection:  # fmt: skip
    """The same on raw `volume_pct` `(..., P)`: the anomaly is N(mu, sigma^2) * pad_std (clipped at 0).

    `pad_mean` is accepted for symmetry with the normalization (x = (v - mean) / std) and is not
    needed: adding d * std to v adds exactly d to the normalized value.
    """
    del pad_mean
    values = np.asarray(volume_pct, dtype=np.float64)
    mask = anomaly_mask(values.shape, rng, ratio)
    noise = rng.normal(mu, sigma, size=values.shape) * pad_std
    out = np.maximum(values + np.where(mask, noise, 0.0), 0.0)
    labels = (mask * int(np.sign(mu))).astype(np.int8)
    return Injection(out, labels, mask)
