"""Process alarms: evidence accumulated per pad over a printer's consecutive boards (issue 16, part 1).

A board outlier (crrn/thresholds.py) is one pad far outside its expected value on one board. A
process fault (a clogging aperture, a worn blade edge, a support pin gone) instead shifts a few pads, a
component or a region by a little, board after board: 2-3 pad std is lost in one board's noise (a
0.25 %-per-board limit on 1,000 pads sits near 4.5 std) but obvious over five boards. This module turns
the signed per-pad score (`BoardScores.score`, the same residual every method produces) into that
evidence.

Statistic: a one-sided CUSUM pair per pad on the standardized, winsorized residual
z = clip((score - center) / scale, -c, c),

    S+_t = min(cap, max(0, S+_{t-1} + z_t - k))      S-_t = min(cap, max(0, S-_{t-1} - z_t - k))

with center and scale the per-pad median and MAD-based std of the method's scores on held-out normal
boards (stored in the model file). The clip c = 4 keeps one huge residual (a smear, a natural defect:
the board-outlier rule's job) from becoming a process alarm that lasts for boards: measured on
simulated unseen printers, the CRRN's process alarms fell from 17 % of clean boards to 0.5 % with it
(docs/alarms.md), while a 2.5 std shift loses almost nothing (E[min(z, 4)] = 2.47 for z ~ N(2.5, 1)).
A pad is a process alarm while S+ (excessive) or S- (insufficient)
exceeds the limit h. Why CUSUM rather than EWMA: for a step shift of known size d the CUSUM with
k = d / 2 is the optimal detector (shortest worst-case delay at a given false-alarm rate), and the
faults meant here are steps that persist; its run length (boards since S was last 0) is also the
maximum-likelihood start of the shift, which is the "boards of evidence" an alarm reports. k = 1.0 is
tuned to the smallest shift the issue asks for (2 std): a +2.5 std shift gains 1.5 per board, so it
crosses a limit h after about h / 1.5 boards, while noise drifts down by k per board. The statistic is
capped at `CAP_FACTOR` x h so that an alarm clears within about h / k boards once the shift is gone
(an uncapped CUSUM would take as long to fall as it spent rising).

Calibration (`calibrate_evidence`): the CUSUM is run over a long block bootstrap of the held-out normal
sequences of each printer (blocks of consecutive boards in print order, each half standardized by the
center and scale of the other half), and h is the tail limit (crrn.thresholds.tail_limit:
empirical quantile, or the larger of a Gumbel and a generalized Pareto tail, since excursions of the
statistic come in clusters) of the per-board maximum over pads and both sides, at the process share of
the board budget R (crrn.thresholds.split_board_rate). The center and scale come from
the same held-out boards, so the realized rate on unseen printers is the honest check (docs/alarms.md).

State: `EvidenceTracker` keeps, per printer, (P,) float32 S+ and S- and (P,) int32 run lengths in the
recipe's canonical pad order; `export_state` / `import_state` move them as a small JSON-safe dict (base64
of the raw arrays, with the model version, method, recipe id and last print_index they are valid for),
as crrn/diagnosis/policy.py does for the defect policy. A recipe change starts the printer afresh.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from crrn.anomaly_map import ALARM_EXCESSIVE, ALARM_INSUFFICIENT, alarms
from crrn.clusters import ClusterRule, calibrate_clusters, nearest_pads, neighbours_needed
from crrn.layout import PadGrid
from crrn.thresholds import tail_limit

if TYPE_CHECKING:
    from crrn.board_scores import BoardScores

log = logging.getLogger(__name__)

EVIDENCE_STATE_FORMAT = "spi-crrn.evidence.v1"
DEFAULT_REFERENCE = 1.0  # k: half the smallest persistent shift (2 pad std) to raise quickly
DEFAULT_CLIP = 4.0  # c: |z| is winsorized here, so one board adds at most c - k to the evidence
DEFAULT_BOOTSTRAP_BOARDS = 4000  # long run for the limit: R/2 = 0.5 % gets 20 boards beyond it
BOOTSTRAP_BLOCK = 10  # consecutive held-out boards per bootstrap block (about one cleaning cycle)
BOOTSTRAP_BURN_IN = 50  # boards dropped at the start of the run (S starts at 0)
CAP_FACTOR = 2.0  # S is capped at CAP_FACTOR x limit so an alarm clears soon after the shift ends
MAD_TO_STD = 1.4826  # std of a normal variable per unit of median absolute deviation
# A pad whose held-out scores barely move (a reconstruction that copies its input) would make any noise
# look like evidence: its scale is at least this share of the median pad's scale.
SCALE_FLOOR_SHARE = 0.2
# Held-out boards below which the process limit is inflated by the per-pad center error, not by the
# printer: on independent Gaussian residuals (848 pads, cross-fitted bootstrap, R/2 = 0.5 %) the limit
# was 20.1 from 44 boards, 9.3 from 135, 6.8 from 400 and 6.4 from 1,200 (true limits for those centers
# 16.2, 8.3, 6.6, 6.0): a warning below this many says to calibrate on more normal boards.
RECOMMENDED_PROCESS_BOARDS = 400


@dataclass(frozen=True, eq=False)
class ResidualScale:
    """Per-pad center and scale (P,) float32 of one recipe's scores, canonical pad order."""

    center: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        if self.center.shape != self.scale.shape or self.center.ndim != 1:
            raise ValueError(f"residual center {self.center.shape} and scale {self.scale.shape} differ")
        if not (np.all(np.isfinite(self.scale)) and np.all(self.scale > 0)):
            raise ValueError("residual scale must be finite and > 0")

    @classmethod
    def fit(cls, scores: np.ndarray) -> ResidualScale:
        """From (N, P) held-out normal scores: median and 1.4826 x MAD per pad (robust to a few outliers)."""
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 2 or s.shape[0] < 2:
            raise ValueError(f"residual scale needs (N >= 2, P) scores, got {s.shape}")
        center = np.median(s, axis=0)
        scale = MAD_TO_STD * np.median(np.abs(s - center), axis=0)
        floor = max(SCALE_FLOOR_SHARE * float(np.median(scale)), 1e-3)
        return cls(center.astype(np.float32), np.maximum(scale, floor).astype(np.float32))

    def standardize(self, scores: np.ndarray, clip: float = np.inf) -> np.ndarray:
        """(..., P) scores -> (..., P) float32 z, winsorized to [-clip, clip]."""
        z = (np.asarray(scores, dtype=np.float32) - self.center) / self.scale
        return np.clip(z, -clip, clip).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"center": _b64(self.center.astype(np.float32)), "scale": _b64(self.scale.astype(np.float32))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ResidualScale:
        return cls(_unb64(d["center"], np.float32), _unb64(d["scale"], np.float32))


@dataclass(frozen=True, eq=False)
class EvidenceModel:
    """One method's rules on the standardized residual z: the process alarm (limit h, reference k, cap,
    clip c), the residual scale per recipe, and the cluster-outlier rule (crrn/clusters.py; None in
    files calibrated before it existed: no cluster outliers)."""

    limit: float
    recipes: dict[str, ResidualScale]
    reference: float = DEFAULT_REFERENCE
    cap: float = 0.0  # 0: CAP_FACTOR x limit
    clip: float = DEFAULT_CLIP
    details: dict[str, Any] = field(default_factory=dict)
    cluster: ClusterRule | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.limit) and self.limit > 0):
            raise ValueError(f"evidence limit {self.limit}: expected a finite number > 0")
        if self.reference < 0:
            raise ValueError(f"evidence reference {self.reference}: expected >= 0")
        if self.cap == 0.0:
            object.__setattr__(self, "cap", CAP_FACTOR * self.limit)
        if self.cap < self.limit:
            raise ValueError(f"evidence cap {self.cap} is below its limit {self.limit}")
        if not self.clip > self.reference:
            raise ValueError(f"evidence clip {self.clip} must exceed the reference {self.reference}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": float(self.limit),
            "reference": float(self.reference),
            "cap": float(self.cap),
            "clip": float(self.clip),
            "recipes": {rid: r.to_dict() for rid, r in sorted(self.recipes.items())},
            "details": self.details,
            **({"cluster": self.cluster.to_dict()} if self.cluster is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvidenceModel:
        return cls(
            limit=float(d["limit"]),
            reference=float(d["reference"]),
            cap=float(d["cap"]),
            clip=float(d["clip"]),
            recipes={str(rid): ResidualScale.from_dict(r) for rid, r in d["recipes"].items()},
            details=dict(d.get("details", {})),
            cluster=ClusterRule.from_dict(d["cluster"]) if d.get("cluster") is not None else None,
        )


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _unb64(text: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text, validate=True), dtype=dtype).copy()


def cusum_step(
    pos: np.ndarray, neg: np.ndarray, z: np.ndarray, reference: float, cap: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """One board: (P,) S+ and S- and standardized residuals z -> the new (S+, S-) (float32)."""
    new_pos = np.clip(pos + z - reference, 0.0, cap).astype(np.float32)
    new_neg = np.clip(neg - z - reference, 0.0, cap).astype(np.float32)
    return new_pos, new_neg


def cusum_path(z: np.ndarray, reference: float, cap: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """(N, P) standardized residuals of consecutive boards, from S = 0 -> (N, P) S+ and S- after each board.

    The recursion runs over boards (sequential by nature), vectorized over pads."""
    z = np.asarray(z, dtype=np.float32)
    pos = np.zeros(z.shape[1:], dtype=np.float32)
    neg = np.zeros_like(pos)
    out_pos = np.empty_like(z)
    out_neg = np.empty_like(z)
    for t in range(z.shape[0]):
        pos, neg = cusum_step(pos, neg, z[t], reference, cap)
        out_pos[t], out_neg[t] = pos, neg
    return out_pos, out_neg


def board_maxima(z: np.ndarray, index: np.ndarray, reference: float) -> np.ndarray:
    """Per-board max over pads and sides of the CUSUM pair run over boards `z[index]` (z: (N, P)), from
    S = 0; only the (len(index),) maxima are kept, so long runs of large boards fit in memory."""
    pos = np.zeros(z.shape[1], dtype=np.float32)
    neg = np.zeros_like(pos)
    out = np.empty(len(index), dtype=np.float32)
    for t, i in enumerate(index):
        pos, neg = cusum_step(pos, neg, z[i], reference)
        out[t] = max(float(pos.max(initial=0.0)), float(neg.max(initial=0.0)))
    return out


def bootstrap_index(
    lengths: Sequence[int], n_boards: int, block: int, rng: np.random.Generator
) -> np.ndarray:
    """Row indexes into the stacked sequences of a long run of `n_boards` boards: random blocks of
    `block` consecutive boards of one sequence (a sequence shorter than a block is one block)."""
    starts: list[int] = []
    sizes: list[int] = []
    offset = 0
    for n in lengths:
        b = min(block, n)
        starts.extend(range(offset, offset + n - b + 1))
        sizes.extend([b] * (n - b + 1))
        offset += n
    picks = rng.integers(len(starts), size=n_boards // max(min(sizes), 1) + 1)
    rows = np.concatenate([np.arange(starts[k], starts[k] + sizes[k]) for k in picks])
    return rows[:n_boards]


def _blend(other: ResidualScale, full: ResidualScale) -> ResidualScale:
    """The mean of two fits (calibrate_evidence: about the center error of a full fit)."""
    return ResidualScale((other.center + full.center) / 2, (other.scale + full.scale) / 2)


def calibrate_evidence(
    sequences: Sequence[tuple[str, np.ndarray]],
    rate: float,
    reference: float = DEFAULT_REFERENCE,
    clip: float = DEFAULT_CLIP,
    bootstrap_boards: int = DEFAULT_BOOTSTRAP_BOARDS,
    seed: int = 0,
    *,
    cluster_rate: float | None = None,
    layouts: Mapping[str, PadGrid] | None = None,
) -> EvidenceModel:
    """The process-alarm rule from held-out normal sequences [(recipe_id, (N, P) canonical scores)].

    Each sequence is one printer's consecutive boards of one recipe, in print order. The residual scale
    is fitted per recipe on all its boards. h is the tail limit at `rate` of the per-board maximum of
    max(S+, S-) over pads along a LONG run: held-out sequences are short (15 % of a printer's boards),
    while the statistic of a printer that runs for weeks visits states a 45-board sequence from S = 0
    never reaches, so the run is a block bootstrap of `bootstrap_boards` boards (blocks of
    `BOOTSTRAP_BLOCK` consecutive held-out boards of one printer, which keeps the boards' spatial and
    short-range temporal structure), after a burn-in of `BOOTSTRAP_BURN_IN` boards. With 4,000 boards
    the limit at R/2 = 0.5 % is empirical. The bootstrapped residuals are cross-fitted: each sequence's
    first half is standardized by the center and scale fitted on the second halves and vice versa, so
    the run carries the per-pad error of an estimated center, as new boards do. Without it the limit
    fired on 3.1 % of a long run of iid Gaussian boards instead of 0.5 % (135 held-out boards: a
    center error of about 0.1 std per pad, and a CUSUM's tail is very sensitive to its drift).
    `bootstrap_boards=0`: the sequences themselves, from S = 0, standardized in-sample.

    `cluster_rate` (with the recipes' `layouts`): also the cluster-outlier rule (crrn/clusters.py) at
    that share of boards per sign, from the same standardized held-out boards (cross-fitted too, each
    board once, no bootstrap: it is a one-board statistic).
    """
    if cluster_rate is not None and layouts is None:
        raise ValueError("evidence calibration: cluster_rate needs the recipes' layouts")
    by_recipe: dict[str, list[np.ndarray]] = {}
    for rid, s in sequences:
        if len(s):
            by_recipe.setdefault(rid, []).append(np.asarray(s, dtype=np.float32))
    if not by_recipe:
        raise ValueError("evidence calibration: no held-out board")
    recipes = {rid: ResidualScale.fit(np.concatenate(ss)) for rid, ss in by_recipe.items()}
    total = sum(len(s) for ss in by_recipe.values() for s in ss)
    if total < RECOMMENDED_PROCESS_BOARDS:
        log.warning(
            "process-alarm limit from %d held-out normal boards (< %d): the per-pad center error of so "
            "few boards inflates the limit (slower process alarms, docs/alarms.md); calibrate on more "
            "normal boards (spi-crrn calibrate --model MODEL --input NORMAL_BOARDS)",
            total,
            RECOMMENDED_PROCESS_BOARDS,
        )
    rng = np.random.default_rng(seed)
    extremes = []
    standardized: list[tuple[str, np.ndarray]] = []  # (recipe, (N, P) z) for the cluster rule
    for rid, ss in sorted(by_recipe.items()):
        if bootstrap_boards <= 0:
            for s in ss:
                z = recipes[rid].standardize(s, clip)
                standardized.append((rid, z))
                extremes.append(board_maxima(z, np.arange(len(s)), reference))
            continue
        halves = [(s[: len(s) // 2], s[len(s) // 2 :]) for s in ss if len(s) >= 4]
        if halves:  # cross-fitted: first halves standardized by the second halves' fit, and back
            first, second = (np.concatenate([h[k] for h in halves]) for k in (0, 1))
            full = recipes[rid]
            fit_first = _blend(ResidualScale.fit(first), full)
            fit_second = _blend(ResidualScale.fit(second), full)
            parts = [fit_second.standardize(h[0], clip) for h in halves]
            parts += [fit_first.standardize(h[1], clip) for h in halves]
        else:
            parts = [recipes[rid].standardize(s, clip) for s in ss]
        z = np.concatenate(parts)  # (N, P)
        standardized.append((rid, z))
        lengths = [len(p) for p in parts]
        n = max(1, round(bootstrap_boards * sum(lengths) / total))  # recipes share the run by boards
        index = bootstrap_index(lengths, n + BOOTSTRAP_BURN_IN, BOOTSTRAP_BLOCK, rng)
        extremes.append(board_maxima(z, index, reference)[BOOTSTRAP_BURN_IN:])
    found = tail_limit(
        np.concatenate(extremes), rate, "the per-board maximum of the process statistic", larger_tail=True
    )
    # never below one k: a limit that noise crosses in one board is no accumulation at all
    limit = max(found.limit, reference, 1e-3)
    cluster = None
    if cluster_rate is not None and layouts is not None:
        width = neighbours_needed()
        neighbours = {rid: nearest_pads(layouts[rid], width) for rid in by_recipe}
        cluster = calibrate_clusters(standardized, neighbours, cluster_rate)
    return EvidenceModel(
        limit=limit,
        recipes=recipes,
        reference=reference,
        clip=clip,
        details={**found.to_dict(), "n_sequences": len(sequences), "bootstrap_boards": bootstrap_boards},
        cluster=cluster,
    )


# ------------------------------------------------------------------------------------------------ tracking


@dataclass
class _PrinterEvidence:
    recipe_id: str
    last_print_index: int
    pos: np.ndarray  # (P,) float32 S+
    neg: np.ndarray  # (P,) float32 S-
    run_pos: np.ndarray  # (P,) int32 boards since S+ was last 0
    run_neg: np.ndarray  # (P,) int32


class EvidenceTracker:
    """Per-printer process-alarm state of one method. Not thread-safe: one caller per printer at a time.

    `__call__(scores)` takes ONE printer's newly scored boards in print_index order and returns them with
    the process alarms filled in (`BoardScores.process`, `evidence`, `evidence_boards`, `evidence_limit`),
    the cluster outliers where the model has the rule (`BoardScores.cluster`, crrn/clusters.py), and
    `alarm` = the union of board outliers (single pads, then clusters) and process alarms (a board
    outlier's sign wins on a pad that is both). A board whose print_index is not newer than the last one
    fed (a replay) gets its one-board alarms (cluster outliers included) and does not touch the process
    state, so a redelivered batch never counts twice.
    """

    def __init__(
        self, model: EvidenceModel, layouts: Mapping[str, PadGrid], model_version: str, method: str
    ) -> None:
        self.model = model
        self.layouts = dict(layouts)
        self.model_version = model_version
        self.method = method
        self._printers: dict[str, _PrinterEvidence] = {}
        self._nearest: dict[str, np.ndarray] = {}  # recipe -> (P, K) nearest pads (cluster rule)

    # ------------------------------------------------------------------ state
    def export_state(self, printer_id: str) -> dict[str, Any] | None:
        """One printer's state as a JSON-safe dict, or None when the tracker has not seen the printer.

        Keys: `format`, `model_version`, `method`, `recipe_id`, `n_pads`, `last_print_index`, and
        `pos`, `neg` ((P,) float32) and `run_pos`, `run_neg` ((P,) int32), each base64 of the raw
        little-endian array in the recipe's canonical pad order."""
        st = self._printers.get(printer_id)
        if st is None:
            return None
        return {
            "format": EVIDENCE_STATE_FORMAT,
            "model_version": self.model_version,
            "method": self.method,
            "recipe_id": st.recipe_id,
            "n_pads": int(st.pos.size),
            "last_print_index": int(st.last_print_index),
            "pos": _b64(st.pos.astype("<f4")),
            "neg": _b64(st.neg.astype("<f4")),
            "run_pos": _b64(st.run_pos.astype("<i4")),
            "run_neg": _b64(st.run_neg.astype("<i4")),
        }

    def import_state(self, printer_id: str, state: Mapping[str, Any] | None) -> bool:
        """Replace one printer's state with `state` (from `export_state`); True when it was taken.

        None forgets the printer (its next board starts from S = 0). A state of another format, model
        version, method, or of a recipe or pad count this model does not have is ignored and the printer
        starts fresh (False): its statistics mean nothing under this model. A malformed state of this
        format raises ValueError."""
        self._printers.pop(printer_id, None)
        if state is None or not self._accepts(state):
            return False
        try:
            n = int(state["n_pads"])
            arrays = [_unb64(state[k], dt) for k, dt in (("pos", "<f4"), ("neg", "<f4"))]
            runs = [_unb64(state[k], "<i4") for k in ("run_pos", "run_neg")]
            if any(a.size != n for a in (*arrays, *runs)):
                raise ValueError(f"evidence state arrays do not hold {n} pads")
            restored = _PrinterEvidence(
                str(state["recipe_id"]),
                int(state["last_print_index"]),
                arrays[0].astype(np.float32),
                arrays[1].astype(np.float32),
                runs[0].astype(np.int32),
                runs[1].astype(np.int32),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"printer {printer_id}: malformed evidence state ({exc!r})") from exc
        self._printers[printer_id] = restored
        return True

    def _accepts(self, state: Mapping[str, Any]) -> bool:
        rid = state.get("recipe_id")
        layout = self.layouts.get(str(rid))
        return (
            state.get("format") == EVIDENCE_STATE_FORMAT
            and state.get("model_version") == self.model_version
            and state.get("method") == self.method
            and layout is not None
            and str(rid) in self.model.recipes
            and state.get("n_pads") == layout.n_pads
        )

    # ------------------------------------------------------------------ boards
    def __call__(self, scores: Sequence[BoardScores]) -> list[BoardScores]:
        printers = {s.printer_id for s in scores}
        if len(printers) > 1:
            raise ValueError(
                f"printer_id: EvidenceTracker takes one printer's boards per call, got {sorted(printers)}"
            )
        return [self._board(s) for s in scores]

    def _neighbours(self, recipe_id: str, layout: PadGrid) -> np.ndarray:
        """(P, K) nearest pads of a recipe for the cluster rule, computed once per recipe."""
        if recipe_id not in self._nearest:
            rule = self.model.cluster
            self._nearest[recipe_id] = nearest_pads(layout, rule.width if rule else neighbours_needed())
        return self._nearest[recipe_id]

    def _board(self, s: BoardScores) -> BoardScores:
        layout = self.layouts.get(s.recipe_id)
        scale = self.model.recipes.get(s.recipe_id)
        if layout is None or scale is None:
            return s
        m = self.model
        order = layout.for_board(s.board)  # canonical pad i is the board's pad order[i]
        z = scale.standardize(s.score[order], m.clip)  # (P,) canonical
        p = layout.n_pads
        cluster = None
        if m.cluster is not None:  # a one-board rule: decided for a replayed board too
            cluster = np.zeros(p, dtype=np.int8)
            cluster[order] = m.cluster.codes(z, self._neighbours(s.recipe_id, layout))
        pad_outlier = alarms(s.score, s.thresholds)
        outlier = pad_outlier if cluster is None else np.where(pad_outlier != 0, pad_outlier, cluster)
        st = self._printers.get(s.printer_id)
        if st is not None and st.recipe_id == s.recipe_id and s.print_index <= st.last_print_index:
            # a replay of a board already counted: no process evidence, the one-board rules only
            return dataclasses.replace(s, alarm=outlier.astype(np.int8), cluster=cluster)
        if st is None or st.recipe_id != s.recipe_id or st.pos.size != p:  # new printer or recipe change
            zeros = np.zeros(p, dtype=np.float32)
            st = _PrinterEvidence(
                s.recipe_id, -1, zeros, zeros.copy(), np.zeros(p, np.int32), np.zeros(p, np.int32)
            )
            self._printers[s.printer_id] = st
        st.pos, st.neg = cusum_step(st.pos, st.neg, z, m.reference, m.cap)
        st.run_pos = np.where(st.pos > 0, st.run_pos + 1, 0).astype(np.int32)
        st.run_neg = np.where(st.neg > 0, st.run_neg + 1, 0).astype(np.int32)
        st.last_print_index = s.print_index
        up = st.pos >= st.neg  # (P,) which side carries the evidence
        evidence = np.empty(p, dtype=np.float32)
        boards = np.empty(p, dtype=np.int32)
        process = np.zeros(p, dtype=np.int8)
        evidence[order] = np.where(up, st.pos, -st.neg)
        boards[order] = np.where(up, st.run_pos, st.run_neg)
        process[order] = np.where(
            up & (st.pos > m.limit),
            ALARM_EXCESSIVE,
            np.where(~up & (st.neg > m.limit), ALARM_INSUFFICIENT, 0),
        )
        return dataclasses.replace(
            s,
            alarm=np.where(outlier != 0, outlier, process).astype(np.int8),
            process=process,
            evidence=evidence,
            evidence_boards=boards,
            evidence_limit=float(m.limit),
            cluster=cluster,
        )
