"""Experiment 4's anomaly families: shapes and time courses that no training corruption produces.

Each generator is pure and seeded: from the pads' positions (and component ids) of one layout and a run
of N boards it returns the effect `delta` (N, P) in pad standard deviations (volume only) and the
ground truth. Applied to raw data as `volume_pct += delta * pad_std` (`apply_family`).

- clogging:        `n_pads` random apertures, from `onset` on -amplitude * min((t + 1) / ramp, 1), t = boards
                   since onset: volume lost progressively, then held.
- component_short: every pad of one component (one with >= 2 pads), -amplitude on every board from onset.
- board_warp:      the whole board, amplitude * q(x, y) from onset, q a random 2nd-order surface (tilted
                   bowl or saddle) with mean 0 over the pads and max abs(q) = 1.
- smear:           a pad and its `n_pads - 1` nearest neighbours, +amplitude, on single boards after onset
                   (a `board_share` of them, at least one).

Why these are unseen: the training corruption (crrn.network_training, crrn.corruption) shifts random
pads independently, or uniform regions (rectangles and ellipses of 3-64 % of the grid, stripes, edge
bands) by one level per window (constant, one parity, or a linear ramp within the window). None of them
is a single component (far below 3 % of the grid), a fixed set of scattered pads sinking over tens of
boards, a smooth non-uniform surface over the whole board, or a cluster of 2-4 neighbouring pads; nor
did Experiments 1-3 use them (random pads at +-mu, the five simulator defects).

Truth: a pad is anomalous on a board when the effect moved it by at least TRUTH_LEVEL pad std (label =
sign). Pads moved by less (the shallow part of a warp, the first boards of clogging) are `care = False`:
neither a hit nor a false alarm, since no detector is expected to call a 0.5-std shift on one board.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAMILIES = ("clogging", "component_short", "board_warp", "smear")
TRUTH_LEVEL = 1.0  # pad std: the smallest effect that counts as an anomaly


@dataclass(frozen=True)
class FamilySpec:
    name: str
    onset: int = 20  # board index (0-based, in run order) of the first affected board
    amplitude: float = 3.0  # pad std
    n_pads: int = 8  # clogging: apertures; smear: pads per smear
    ramp: int = 30  # clogging: boards until the full loss
    board_share: float = 0.15  # smear: share of boards after onset that carry one smear

    def __post_init__(self) -> None:
        if self.name not in FAMILIES:
            raise ValueError(f"family {self.name!r} is unknown; use one of {', '.join(FAMILIES)}")
        if self.onset < 0 or self.ramp < 1 or self.n_pads < 1 or self.amplitude <= 0:
            raise ValueError("family: onset >= 0, ramp >= 1, n_pads >= 1 and amplitude > 0 are needed")
        if not 0.0 < self.board_share <= 1.0:
            raise ValueError(f"family board_share {self.board_share}: must be in (0, 1]")


@dataclass(frozen=True, eq=False)
class FamilyEffect:
    delta: np.ndarray  # (N, P) float64, pad std units
    labels: np.ndarray  # (N, P) int8, sign(delta) where abs(delta) >= TRUTH_LEVEL, else 0
    care: np.ndarray  # (N, P) bool: False where 0 < abs(delta) < TRUTH_LEVEL

    @classmethod
    def of(cls, delta: np.ndarray) -> FamilyEffect:
        strong = np.abs(delta) >= TRUTH_LEVEL
        labels = (np.sign(delta) * strong).astype(np.int8)
        return cls(delta, labels, strong | (delta == 0))


def component_of(pad_id: np.ndarray) -> np.ndarray:
    """(P,) component reference of pads named "<ref>-<pin>" (the simulator's and most SPI exports)."""
    return np.array([str(p).rsplit("-", 1)[0] for p in pad_id])


def family_effect(
    spec: FamilySpec,
    x: np.ndarray,
    y: np.ndarray,
    component: np.ndarray,
    n_boards: int,
    seed: int | list[int],
) -> FamilyEffect:
    """The effect of `spec` on a run of `n_boards` boards of a layout with pad centres (x, y) (P,)."""
    rng = np.random.default_rng(seed)
    P = x.shape[0]
    t = np.arange(n_boards) - spec.onset  # (N,) boards since onset, < 0 before
    on = (t >= 0).astype(np.float64)  # (N,)
    delta = np.zeros((n_boards, P))
    if spec.name == "clogging":
        pads = rng.choice(P, size=min(spec.n_pads, P), replace=False)
        loss = np.minimum((t + 1) / spec.ramp, 1.0) * on  # (N,) 1/ramp on the onset board, then up to 1
        delta[:, pads] = -spec.amplitude * loss[:, None]
    elif spec.name == "component_short":
        names, counts = np.unique(component, return_counts=True)
        candidates = names[counts >= 2]
        chosen = rng.choice(candidates if candidates.size else names)
        delta[:, component == chosen] = -spec.amplitude * on[:, None]
    elif spec.name == "board_warp":
        u = (x - x.min()) / max(np.ptp(x), 1e-9) * 2 - 1  # (P,) in [-1, 1]
        v = (y - y.min()) / max(np.ptp(y), 1e-9) * 2 - 1
        a = rng.normal(size=5)  # u, v, u^2, v^2, uv: a tilted bowl or saddle
        q = a[0] * u + a[1] * v + a[2] * u**2 + a[3] * v**2 + a[4] * u * v
        q = q - q.mean()  # the warp moves pads against each other, not the whole board's level
        q = q / max(np.abs(q).max(), 1e-9)
        delta = spec.amplitude * on[:, None] * q[None, :]
    else:  # smear
        boards = np.flatnonzero((t >= 0) & (rng.random(n_boards) < spec.board_share))
        if boards.size == 0 and spec.onset < n_boards:  # a short run still gets its one smear
            boards = np.array([spec.onset])
        k = min(spec.n_pads, P)
        for b in boards:  # a few boards per run, not a per-pad loop
            centre = rng.integers(P)
            d2 = (x - x[centre]) ** 2 + (y - y[centre]) ** 2
            delta[b, np.argsort(d2, kind="stable")[:k]] = spec.amplitude
    return FamilyEffect.of(delta)


def apply_family(volume_pct: np.ndarray, pad_std: np.ndarray, effect: FamilyEffect) -> np.ndarray:
    """(N, P) volumes with the effect added in units of `pad_std` (P,), clipped at 0 like the simulator."""
    return np.maximum(volume_pct + effect.delta * pad_std[None, :], 0.0)
