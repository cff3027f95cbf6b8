"""Per-pad normalization of the model channels, fitted on normal boards of one recipe.

Model input channels (Nc_in = 2, the architecture contract): channel 0 = `volume_pct`, channel 1 =
`height_um`. Every pad has its own nominal volume and height (package, aperture, place in the package), so
each pad and channel is centred and scaled by its own statistics:

    z[c, p] = (value[c, p] - centre[c, p]) / scale[c, p]

Robust estimates, because "normal" training data still holds the odd bad print:
    centre = median over boards, scale = 1.4826 * MAD (equals the std for Gaussian data),
    floored at max(abs_floor[c], rel_floor * median over pads of the channel's scales), so a pad that
    barely varied in training (MAD 0) does not turn tiny noise into huge scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.inspection import BoardInspection

CHANNELS: tuple[str, ...] = ("volume_pct", "height_um")
VOLUME_CHANNEL = CHANNELS.index("volume_pct")  # the channel that scores and alarms are read from
MAD_TO_STD = 1.4826
NORMALIZER_FORMAT = "spi-crrn.padnorm.v1"


def board_values(board: BoardInspection, order: np.ndarray | None = None) -> np.ndarray:
    """(C, P) float32 model channels of one board; `order` (from `PadGrid.for_board`) reorders pads."""
    pads = board.pads
    vals = np.stack([np.asarray(getattr(pads, name), dtype=np.float32) for name in CHANNELS])  # (C, P)
    return vals if order is None else vals[:, order]


@dataclass(frozen=True, eq=False)
class PadNormalizer:
    """Per-pad, per-channel centre and scale, arrays (C, P) in the layout's canonical pad order."""

    centre: np.ndarray  # (C, P) float64
    scale: np.ndarray  # (C, P) float64 > 0
    channels: tuple[str, ...] = CHANNELS

    def __post_init__(self) -> None:
        if self.centre.shape != self.scale.shape or self.centre.ndim != 2:
            raise ValueError("PadNormalizer: centre and scale must both have shape (C, P)")
        if self.centre.shape[0] != len(self.channels):
            raise ValueError(f"PadNormalizer: {self.centre.shape[0]} rows for channels {self.channels}")
        if not (np.isfinite(self.scale).all() and (self.scale > 0).all()):
            raise ValueError("PadNormalizer: scale must be finite and > 0")

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        *,
        abs_floor: Sequence[float] = (0.5, 0.5),
        rel_floor: float = 0.1,
    ) -> PadNormalizer:
        """Fit on values (N, C, P) of N normal boards (N >= 2)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 3 or values.shape[1] != len(CHANNELS):
            raise ValueError(f"values must have shape (N, {len(CHANNELS)}, P), got {values.shape}")
        if values.shape[0] < 2:
            raise ValueError("normalization needs at least 2 normal boards of the recipe")
        centre = np.median(values, axis=0)  # (C, P)
        mad = np.median(np.abs(values - centre), axis=0)  # (C, P)
        scale = MAD_TO_STD * mad
        floor = np.maximum(
            np.asarray(abs_floor, dtype=np.float64), rel_floor * np.median(scale, axis=1)
        )  # (C,)
        scale = np.maximum(scale, floor[:, None])
        return cls(centre=centre, scale=scale)

    @property
    def n_pads(self) -> int:
        return int(self.centre.shape[1])

    def normalize(self, values: np.ndarray) -> np.ndarray:
        """(..., C, P) raw values -> (..., C, P) float32 normalized."""
        return ((np.asarray(values, dtype=np.float64) - self.centre) / self.scale).astype(np.float32)

    def denormalize(self, z: np.ndarray) -> np.ndarray:
        """(..., C, P) normalized -> (..., C, P) float64 raw values."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.centre

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": NORMALIZER_FORMAT,
            "channels": list(self.channels),
            "centre": self.centre.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PadNormalizer:
        if data.get("format") != NORMALIZER_FORMAT:
            raise ValueError(f"normalizer.format: expected {NORMALIZER_FORMAT!r}, got {data.get('format')!r}")
        return cls(
            centre=np.asarray(data["centre"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            channels=tuple(data["channels"]),
        )
