"""Cluster outliers: a few neighbouring pads moved together on ONE board (issue 16, board outliers).

A smear, a bridge of paste over a few pads or a component printed from a damaged aperture group moves
several neighbouring pads by 2-3 pad std on one board. Each pad alone is inside the single-pad limit
(about 3.4-4.5 std for a 0.125 %-per-board limit) and one board builds no process evidence, so
neither rule calls it; together the pads are far outside noise. This rule reads the same standardized,
winsorized residual z as the process alarms (crrn/evidence.py: per-pad center and scale of held-out
normal scores, |z| <= 4) and compares a small window with the ring around it:

    c_k(j) = (mean z over N_k(j) - mean z over R_k(j)) / sqrt(1/k + 1/m)

N_k(j) is pad j and its k - 1 nearest pads, R_k(j) the next m = `RING_FACTOR` x k nearest. For
independent z it is N(0, 1); an 8-pad cluster at +3 std with a quiet ring gives 3 / sqrt(1/8 + 1/16)
= 6.9. c+(j) = max over the window sizes k of c_k(j), c-(j) = min. A window whose c_k passes the
excessive limit is a cluster, and each pad in it with z >= `MEMBER_LEVEL` is a cluster outlier on the
excessive side (the pad itself moved: a quiet pad beside a smear is not called); likewise on the
insufficient side.

Why a contrast and not the plain window sum: residuals are not independent in space. The board's level
and the smooth spatial field of a print are shared by neighbours and only partly reconstructed, so
plain sums over 8 neighbours had per-board maxima far above their N(0, 1) value on healthy boards
(simulated, seed 71: a 0.125 % limit of +6.7 for the CRRN, +11.2 for the board-median z-score, +14.7
for the per-pad z-score, against about 4 for independent pads); the ring removes what a window shares
with its surroundings. The price: a region wider than the window and its ring (a blade stripe, a warp)
is no cluster; those are the process alarms' job. Why two sizes, 4 and 8: a window much larger than
the cluster dilutes it, one much smaller wastes the evidence of a large one. The winsorizing keeps one
huge pad (the single-pad rule's job) from making a cluster. Sizes, ring and member level were chosen
from these numbers before any reported run, not fitted.

Calibration (`calibrate_clusters`): per held-out normal board, the maximum over pads of c+ and of -c-;
each limit is `crrn.thresholds.tail_limit` of those maxima at its sign's share of the board budget, so
the rule costs a known part of R whatever the spatial correlation left (it is measured, not assumed).
Neighbours (`nearest_pads`) are exact k-nearest pads by grid-cell distance, found by growing square
rings on the recipe's grid (no all-pairs distance matrix: 50,000 pads take well under a second).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crrn.anomaly_map import ALARM_EXCESSIVE, ALARM_INSUFFICIENT
from crrn.layout import PadGrid
from crrn.thresholds import tail_limit

CLUSTER_SIZES = (4, 8)  # pads per window: the pad itself and its nearest neighbours (module docstring)
RING_FACTOR = 2  # the ring a window is compared with: the next RING_FACTOR x k nearest pads
MEMBER_LEVEL = 1.0  # |z| a pad of a cluster must reach itself (one pad std)
CHUNK_BOARDS = 64  # boards per step in calibration: (chunk, P, k) floats at a time


def nearest_pads(layout: PadGrid, k: int) -> np.ndarray:
    """(P, min(k, P)) int64 canonical pad indexes: each pad itself first, then its nearest pads by
    Euclidean grid-cell distance (ties: the smaller row offset, then column offset).

    Exact: candidates come from a square ring of Chebyshev radius r around each pad, which holds every
    pad within Euclidean distance r; a pad whose k-th candidate lies farther than r is searched again
    with a larger r."""
    p = layout.n_pads
    k = min(k, p)
    occupancy = np.full(layout.shape, -1, dtype=np.int64)  # (H, W) pad index or -1
    occupancy[layout.row, layout.col] = np.arange(p)
    out = np.empty((p, k), dtype=np.int64)
    todo = np.arange(p)
    r = max(1, math.ceil((math.sqrt(k) - 1) / 2))  # the smallest square of (2r + 1)^2 >= k cells
    while todo.size:
        span = np.arange(-r, r + 1)
        dy, dx = (a.ravel() for a in np.meshgrid(span, span, indexing="ij"))
        order = np.lexsort((dx, dy, dy * dy + dx * dx))  # by distance, then row offset, then column offset
        dy, dx = dy[order], dx[order]
        dist = np.sqrt(dy * dy + dx * dx)  # (n_off,)
        rr = layout.row[todo, None] + dy  # (n, n_off)
        cc = layout.col[todo, None] + dx
        inside = (rr >= 0) & (rr < layout.height) & (cc >= 0) & (cc < layout.width)
        at = occupancy[np.clip(rr, 0, layout.height - 1), np.clip(cc, 0, layout.width - 1)]
        cand = np.where(inside, at, -1)  # (n, n_off) pad index or -1, nearest offsets first
        first = np.argsort(cand < 0, axis=1, kind="stable")[:, :k]  # the k nearest found, in distance order
        picked = np.take_along_axis(cand, first, axis=1)  # (n, k)
        kth = dist[first[:, -1]]
        exact = (picked[:, -1] >= 0) & (kth <= r)
        if r >= max(layout.height, layout.width):  # the whole grid is inside: every pad was a candidate
            exact[:] = True
        out[todo[exact]] = picked[exact]
        todo = todo[~exact]
        r *= 2
    return out


def window_contrasts(
    z: np.ndarray,
    neighbours: np.ndarray,
    sizes: Sequence[int] = CLUSTER_SIZES,
    ring_factor: int = RING_FACTOR,
) -> dict[int, np.ndarray]:
    """z (..., P) standardized residuals, neighbours (P, K) from `nearest_pads` -> {k: (..., P) float32
    c_k}, the local contrast of the window of pad j's k nearest pads (itself first), per window size k.

    c_k(j) = (mean z over N_k(j) - mean z over the ring) / sqrt(1/k + 1/m), the ring being the next
    m = ring_factor x k nearest pads (fewer where K is smaller; no ring at all: sum / sqrt(k))."""
    z = np.asarray(z, dtype=np.float32)
    g = z[..., neighbours]  # (..., P, K): z of each pad's K nearest pads, nearest first
    width = g.shape[-1]
    ks = sorted({min(int(k), width) for k in sizes})
    if not ks or ks[0] < 1:
        raise ValueError(f"cluster window sizes {tuple(sizes)}: expected one or more sizes >= 1")
    outer = {k: min((1 + ring_factor) * k, width) for k in ks}
    prefix: dict[int, np.ndarray] = {0: np.zeros(g.shape[:-1], dtype=np.float32)}
    done = 0
    for b in sorted(set(ks) | set(outer.values())):  # sums over the b nearest pads, each pad added once
        prefix[b] = prefix[done] + g[..., done:b].sum(axis=-1)
        done = b
    out: dict[int, np.ndarray] = {}
    for k in ks:
        m = outer[k] - k
        if m > 0:
            ring_mean = (prefix[outer[k]] - prefix[k]) / np.float32(m)
            out[k] = (prefix[k] / np.float32(k) - ring_mean) / np.float32(math.sqrt(1.0 / k + 1.0 / m))
        else:
            out[k] = prefix[k] / np.float32(math.sqrt(k))
    return out


def cluster_scores(
    z: np.ndarray,
    neighbours: np.ndarray,
    sizes: Sequence[int] = CLUSTER_SIZES,
    ring_factor: int = RING_FACTOR,
) -> tuple[np.ndarray, np.ndarray]:
    """z (..., P), neighbours (P, K) -> (c+, c-), each (..., P) float32: the largest and the smallest
    local contrast c_k over the window sizes k (`window_contrasts`). A board's maximum of c+ is what
    the limits are calibrated on."""
    c = list(window_contrasts(z, neighbours, sizes, ring_factor).values())
    return np.maximum.reduce(c), np.minimum.reduce(c)


def neighbours_needed(sizes: Sequence[int] = CLUSTER_SIZES, ring_factor: int = RING_FACTOR) -> int:
    """Nearest pads per pad the windows and their rings use."""
    return (1 + ring_factor) * max(sizes)


@dataclass(frozen=True, eq=False)
class ClusterRule:
    """One method's cluster-outlier rule: the limits of c+ (excessive > 0) and c- (insufficient < 0),
    the window sizes and the member level."""

    excessive: float
    insufficient: float
    sizes: tuple[int, ...] = CLUSTER_SIZES
    member_level: float = MEMBER_LEVEL
    ring_factor: int = RING_FACTOR
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.excessive) and self.excessive > 0):
            raise ValueError(f"cluster limit excessive={self.excessive}: expected a finite number > 0")
        if not (np.isfinite(self.insufficient) and self.insufficient < 0):
            raise ValueError(f"cluster limit insufficient={self.insufficient}: expected a finite number < 0")
        if not self.sizes or min(self.sizes) < 2:
            raise ValueError(f"cluster sizes {self.sizes}: expected window sizes >= 2 pads")
        if self.member_level < 0:
            raise ValueError(f"cluster member_level={self.member_level}: expected >= 0")
        if self.ring_factor < 0:
            raise ValueError(f"cluster ring_factor={self.ring_factor}: expected >= 0")

    @property
    def width(self) -> int:
        """Nearest pads per pad the rule reads (`nearest_pads(layout, width)`)."""
        return neighbours_needed(self.sizes, self.ring_factor)

    def codes(self, z: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        """(P,) standardized residuals of one board -> (P,) int8 cluster-outlier codes (+1 / -1 / 0).

        A window whose contrast passes a limit is the cluster: every pad IN it that moved by at least
        the member level on that side is called, not only the pad the window is centred on (the edge
        pads of a smear have windows half outside it). A board gets codes only where some window
        passes, and the limits are calibrated on exactly that (the board maximum of the contrast, no
        member condition), so the board-level rate stays within the calibrated one."""
        z = np.asarray(z, dtype=np.float32)
        hit_hi = np.zeros(z.shape, dtype=bool)
        hit_lo = np.zeros(z.shape, dtype=bool)
        for k, c in window_contrasts(z, neighbours, self.sizes, self.ring_factor).items():
            hit_hi[neighbours[c >= self.excessive, :k]] = True
            hit_lo[neighbours[c <= self.insufficient, :k]] = True
        out = np.zeros(z.shape, dtype=np.int8)
        out[hit_hi & (z >= self.member_level)] = ALARM_EXCESSIVE
        out[hit_lo & (z <= -self.member_level) & (out == 0)] = ALARM_INSUFFICIENT
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "excessive": float(self.excessive),
            "insufficient": float(self.insufficient),
            "sizes": list(self.sizes),
            "member_level": float(self.member_level),
            "ring_factor": int(self.ring_factor),
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClusterRule:
        return cls(
            excessive=float(d["excessive"]),
            insufficient=float(d["insufficient"]),
            sizes=tuple(int(k) for k in d["sizes"]),
            member_level=float(d["member_level"]),
            ring_factor=int(d["ring_factor"]),
            details=dict(d.get("details", {})),
        )


def board_cluster_extremes(
    z: np.ndarray,
    neighbours: np.ndarray,
    sizes: Sequence[int] = CLUSTER_SIZES,
    ring_factor: int = RING_FACTOR,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, P) boards of z -> (N,) max over pads of c+ and (N,) max over pads of -c-, in chunks of boards."""
    hi = np.empty(len(z), dtype=np.float32)
    lo = np.empty(len(z), dtype=np.float32)
    for start in range(0, len(z), CHUNK_BOARDS):
        c_hi, c_lo = cluster_scores(z[start : start + CHUNK_BOARDS], neighbours, sizes, ring_factor)
        hi[start : start + len(c_hi)] = c_hi.max(axis=-1)
        lo[start : start + len(c_lo)] = (-c_lo).max(axis=-1)
    return hi, lo


def calibrate_clusters(
    boards: Sequence[tuple[str, np.ndarray]],
    neighbours: Mapping[str, np.ndarray],
    rate: float,
    sizes: Sequence[int] = CLUSTER_SIZES,
    member_level: float = MEMBER_LEVEL,
    ring_factor: int = RING_FACTOR,
) -> ClusterRule:
    """The rule from held-out normal boards [(recipe_id, (N, P) standardized residuals z)]: each limit is
    the tail limit at `rate` (one sign's share of the board budget) of the per-board extremes."""
    hi_parts, lo_parts = [], []
    for rid, z in boards:
        if len(z):
            z32 = np.asarray(z, dtype=np.float32)
            hi, lo = board_cluster_extremes(z32, neighbours[rid], sizes, ring_factor)
            hi_parts.append(hi)
            lo_parts.append(lo)
    if not hi_parts:
        raise ValueError("cluster calibration: no held-out board")
    exc = tail_limit(np.concatenate(hi_parts), rate, "the per-board maximum cluster statistic")
    ins = tail_limit(np.concatenate(lo_parts), rate, "the per-board minimum cluster statistic")
    # never below the member level: a window no stronger than one moved pad is no cluster
    floor = max(member_level, 1e-3)
    return ClusterRule(
        excessive=max(exc.limit, floor),
        insufficient=-max(ins.limit, floor),
        sizes=tuple(int(k) for k in sizes),
        member_level=member_level,
        ring_factor=ring_factor,
        details={"excessive": exc.to_dict(), "insufficient": ins.to_dict(), "rate_per_sign": rate},
    )
