"""Baselines with the CRRN's score convention (signed, per-pad normalized units), so that thresholds and
PR curves treat every method alike.

- `StatisticalBaseline` (the paper's statistical method): on each board separately, pads are grouped by
  aperture group; a pad's score is (value - group mean on that board) / group std on that board. Its
  weakness, by design: anomalies shift the group mean and std, so it degrades as the anomaly ratio grows.
  Applied to per-pad normalized volume it removes the pad-to-pad nominal differences first.
- `PadHistoryZScore`: each pad against its own normal history, i.e. the per-pad normalization itself:
  the score is the normalized volume.
- `BoardLevelPadZScore` ("pad_zscore_board"): the same z-score with the board's own level removed, i.e.
  minus the median over the board's pads of their z-scores. A board printed a little heavy or light as a
  whole (paste roll, cleaning phase) then no longer looks anomalous, while a few pads or one component
  still stand out; it breaks when half the board shifts (the median moves with them).

All expose `score_windows_array(x (B, T, C, H, W)) -> (B, T, H, W)`, the `ScoreFn` of thresholds.py.
"""

from __future__ import annotations

import numpy as np

from crrn.normalization import VOLUME_CHANNEL

STD_FLOOR = 1e-3


class StatisticalBaseline:
    """Per board, per aperture group Gaussian z-score of the volume channel."""

    def __init__(self, group_grid: np.ndarray, mask: np.ndarray) -> None:
        """group_grid (H, W) int group index per cell (any value off pads), mask (H, W) bool."""
        self.mask = np.asarray(mask, dtype=bool)
        groups = np.asarray(group_grid)[self.mask]
        _, self._inverse = np.unique(groups, return_inverse=True)  # (P,) dense group of each pad cell
        self._n_groups = int(self._inverse.max()) + 1 if self._inverse.size else 0

    @classmethod
    def from_labels(
        cls, labels: np.ndarray, flat_index: np.ndarray, shape: tuple[int, int]
    ) -> StatisticalBaseline:
        """From per-pad group labels (P,) (e.g. aperture shape strings) and the layout's flat indices."""
        _, codes = np.unique(np.asarray(labels), return_inverse=True)
        grid = np.full(shape[0] * shape[1], -1, dtype=np.int64)
        grid[flat_index] = codes
        mask = np.zeros(shape[0] * shape[1], dtype=bool)
        mask[flat_index] = True
        return cls(grid.reshape(shape), mask.reshape(shape))

    def score_values(self, values: np.ndarray) -> np.ndarray:
        """(N, K) volumes of the K pad cells (in mask order) -> (N, K) group z-scores per board."""
        v = np.asarray(values, dtype=np.float64)
        n = v.shape[0]
        g = self._inverse  # (K,)
        flat_group = (np.arange(n)[:, None] * self._n_groups + g[None, :]).ravel()  # (N*K,)
        size = n * self._n_groups
        count = np.bincount(flat_group, minlength=size)
        total = np.bincount(flat_group, weights=v.ravel(), minlength=size)
        mean = total / np.maximum(count, 1)
        sq = np.bincount(flat_group, weights=(v.ravel() - mean[flat_group]) ** 2, minlength=size)
        std = np.sqrt(sq / np.maximum(count, 1))
        z = (v.ravel() - mean[flat_group]) / np.maximum(std[flat_group], STD_FLOOR)
        return z.reshape(v.shape).astype(np.float32)

    def score_windows_array(self, x: np.ndarray) -> np.ndarray:
        """(B, T, C, H, W) normalized windows -> (B, T, H, W) scores (0 off pads)."""
        x = np.asarray(x, dtype=np.float32)
        b, t, _, h, w = x.shape
        vol = x[:, :, VOLUME_CHANNEL][:, :, self.mask].reshape(b * t, -1)  # (B*T, K)
        out = np.zeros((b * t, h, w), dtype=np.float32)
        out[:, self.mask] = self.score_values(vol)
        return out.reshape(b, t, h, w)


class PadHistoryZScore:
    """Each pad against its own normal history: the normalized volume is the score."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = np.asarray(mask, dtype=bool)

    def score_windows_array(self, x: np.ndarray) -> np.ndarray:
        """(B, T, C, H, W) normalized windows -> (B, T, H, W) scores (0 off pads)."""
        vol = np.asarray(x, dtype=np.float32)[:, :, VOLUME_CHANNEL]
        return np.where(self.mask, vol, np.float32(0.0))


class BoardLevelPadZScore:
    """Per-pad history z-score minus the board's median z-score (a robust board level)."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = np.asarray(mask, dtype=bool)

    def score_windows_array(self, x: np.ndarray) -> np.ndarray:
        """(B, T, C, H, W) normalized windows -> (B, T, H, W) scores (0 off pads)."""
        vol = np.asarray(x, dtype=np.float32)[:, :, VOLUME_CHANNEL]  # (B, T, H, W)
        out = np.zeros(vol.shape, dtype=np.float32)
        if self.mask.any():
            pads = vol[:, :, self.mask]  # (B, T, K)
            out[:, :, self.mask] = pads - np.median(pads, axis=-1, keepdims=True)
        return out
