"""Experiment 1: synthetic anomalies (paper Fig. 7-10, Table I), through the product's own code paths.

1. Simulate one printer (cleaning cycle, blade alternation; crrn.sim) printing one recipe: the first
   `train_boards` are normal training data, the next `test_boards` are the (normal) base of the test set.
2. Train the four variants (CRRN, CRRN\\a, CRAE, CRAE\\a) with `crrn.model_training.train_bundle`, the code
   behind `spi-crrn train`, on the SAME boards with the same options and budget. train_bundle splits the
   boards in time (train / validation / held-out) and calibrates thresholds of the network and of both
   baselines on the held-out boards (crrn/thresholds.py; train_bundle's default rule: control limits at
   0.1 % of the clean pads per sign). Those stored thresholds serve every mu, as they would on a line.
   A model calibrated by the paper's best-F1 rule (|mu| = 4 and 5 pooled) is recalibrated on the same
   held-out windows for mu = 2.5 (`calibrate_sets`), the anomaly size being part of that rule.
3. Test: for every mu in {5, 2.5}, sign and Pa in {10..50} %, every test board gets its own random
   anomaly map (exactly round(Pa * P) pads, crrn.sim.injections.anomaly_mask) and

       X_in = X + M_pad o M_anom o N(+-mu, 0.1^2)          (per-pad normalized units)

   The shift is added to both model channels (volume and height), in the model's per-pad normalized
   units (value += shift * normalizer scale of that pad and channel), i.e. exactly the injection of
   calibration and training, applied to the boards themselves (values clipped at 0, as a measured
   volume cannot be negative).
   Also (`volume_only_mus`, default |mu| = 5 and 2.5): the same injection on the volume channel ONLY,
   which is what the simulator's own injection, real volume defects and an outside checker do, and the
   only injection the ceiling (which reads volume only) is a fair yardstick for; reported under the mu
   keys "5v" and "2.5v" with the thresholds of the same |mu| without the suffix.
4. Score the injected boards with `score_boards` + `Scorer` (the windowing and code of `spi-crrn score`
   and the stream: per printer, windows of T boards, every board scored once) for each variant and for
   both baselines; F1 at the calibrated threshold and at the best threshold, PR curves.

Outputs in out_dir: table1.md, table1.json, fig8_pr_mu5.png, fig8_pr_mu2.5.png, pr_curves.json,
summary.json, models/<variant>.pt.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from crrn.experiments.exp1_report import (
    SIGNS,
    VOLUME_ONLY_SUFFIX,
    Cell,
    evaluate_cell,
    mu_key,
    plot_pr,
    pr_points,
    quality_bar,
    ranking,
    ratio_key,
    sign_of,
    table_json,
    table_markdown,
)
from crrn.model_file import ModelBundle, RecipeModel
from crrn.sim.fleet import FleetSpec, build_printers, simulate_fleet
from crrn.sim.injections import anomaly_mask
from crrn.sim.oracle import ExpectedVolumeOracle
from crrn.thresholds import DEFAULT_FALSE_ALARM_RATE, Thresholds
from schemas.inspection import BoardInspection

log = logging.getLogger(__name__)

VARIANTS = ("crrn", "crrn_noattn", "crae", "crae_noattn")
BASELINES = ("statistical", "pad_zscore")
CEILING = "ceiling"  # the simulator's ceiling (not a method a line could run): knows the expected volume


@dataclass(frozen=True)
class Exp1Settings:
    pads: int = 1000
    cleaning_interval: int = 10
    train_boards: int = 800  # normal boards given to train_bundle (it splits 70/15/15 in time)
    test_boards: int = 100  # per setting (mu, sign, Pa): the same normal boards, fresh anomalies
    config: str = "paper"  # CRRNConfig preset
    window: int = 10  # T
    train_minutes: float = 30.0  # per variant, the whole train_bundle run
    epochs: int = 200
    batch_size: int = 16
    calibration_windows: int = 32
    variants: tuple[str, ...] = VARIANTS
    ratios: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    mus: tuple[float, ...] = (5.0, 2.5)
    # also injected into volume_pct only (keys "5v", "2.5v"): what the ceiling (volume only) is fair on
    volume_only_mus: tuple[float, ...] = (5.0, 2.5)
    sigma: float = 0.1
    seed: int = 0
    device: str = "auto"
    # the calibration rule of train_bundle: control limits at this share of clean pads per sign, or None
    # for the paper's best F1 on injections (then recalibrated per mu)
    false_alarm_rate: float | None = DEFAULT_FALSE_ALARM_RATE

    @classmethod
    def quick(cls) -> Exp1Settings:
        """CPU-sized: four variants in well under 15 minutes on 2 cores."""
        return cls(
            pads=500,
            train_boards=1000,  # more data beats more epochs here (docs/experiments.md, finding 5)
            test_boards=32,
            config="cpu",
            train_minutes=2.5,
            epochs=30,
            batch_size=4,  # more optimizer steps per CPU second (docs/experiments.md, finding 6)
            calibration_windows=3,  # train_bundle reserves time per window (finding 3)
            device="cpu",
        )


# ---------------------------------------------------------------------- data
def fleet_spec(s: Exp1Settings) -> FleetSpec:
    """The one printer and recipe of the experiment."""
    return FleetSpec(
        printers=1,
        pads=s.pads,
        boards_per_printer=s.train_boards + s.test_boards,
        cleaning_interval=s.cleaning_interval,
    )


def simulate_boards(s: Exp1Settings) -> tuple[list[BoardInspection], list[BoardInspection]]:
    """(training boards, test base boards) of one printer and recipe, in print order."""
    boards = [b for b, _ in simulate_fleet(fleet_spec(s), seed=s.seed)]
    return boards[: s.train_boards], boards[s.train_boards :]


def ceiling_oracle(s: Exp1Settings) -> ExpectedVolumeOracle:
    """The simulator's ceiling for this printer (knows each print's expected volume; crrn/sim/oracle.py).
    The printer's fixed parameters come from a fresh, identical build (same spec and seed)."""
    (printer,) = build_printers(fleet_spec(s), seed=s.seed)
    return ExpectedVolumeOracle.of(printer.process)


def inject_boards(
    boards: Sequence[BoardInspection],
    recipe: RecipeModel,
    rng: np.random.Generator,
    ratio: float,
    mu: float,
    sigma: float,
    volume_only: bool = False,
) -> tuple[list[BoardInspection], np.ndarray]:
    """Experiment-1 anomalies in the model's normalized units on both channels of every board (on
    `volume_pct` only when `volume_only`).

    Returns (injected boards, labels (N, P) bool in each board's own pad order). All boards must have the
    same number of pads P (one recipe).
    """
    n, p = len(boards), boards[0].n_pads
    labels = anomaly_mask((n, p), rng, ratio)  # (N, P): exactly round(ratio * P) pads per board
    shift = rng.normal(mu, sigma, size=(n, p)) * labels  # (N, P) normalized units, 0 off the anomalies
    scale = recipe.normalizer.scale  # (C, P) canonical pad order; C = (volume_pct, height_um)
    out = []
    for i, board in enumerate(boards):
        order = recipe.layout.for_board(board)  # canonical pad k is the board's pad order[k]
        board_scale = np.empty_like(scale)
        board_scale[:, order] = scale  # (C, P) in the board's pad order
        pads = replace(
            board.pads,
            volume_pct=np.maximum(board.pads.volume_pct + shift[i] * board_scale[0], 0.0),
            height_um=board.pads.height_um
            if volume_only
            else np.maximum(board.pads.height_um + shift[i] * board_scale[1], 0.0),
        )
        out.append(replace(board, pads=pads))
    return out, labels


def heldout_windows(
    bundle: ModelBundle, boards: Sequence[BoardInspection], s: Exp1Settings
) -> dict[str, np.ndarray]:
    """The held-out (calibration) windows train_bundle used: same split, stride T, evenly thinned."""
    from crrn.model_training import TrainOptions, segment_windows, segments_by_printer, split_segment

    opts = TrainOptions()
    held = [
        split_segment(seg, opts.train_fraction, opts.val_fraction)[2] for seg in segments_by_printer(boards)
    ]
    out = {}
    for rid, w in segment_windows(held, bundle.recipes, bundle.window_length, bundle.window_length).items():
        k = min(len(w), s.calibration_windows)
        out[rid] = w[np.linspace(0, len(w) - 1, k).round().astype(int)]
    return out


def calibrated_thresholds(
    bundle: ModelBundle, method: str, held: dict[str, np.ndarray], mu: float, s: Exp1Settings
) -> Thresholds:
    """The model's stored thresholds (what `spi-crrn score` uses); a best-F1 model is recalibrated on the
    same held-out windows for |mu| != 5 (crrn.thresholds.calibrate_sets, same ratios)."""
    from crrn.scoring import Scorer
    from crrn.thresholds import CalibrationSet, calibrate_sets

    rule = bundle.metrics.get("calibration", {}).get(method, {}).get("rule", "best_f1")
    if abs(mu) == 5.0 or rule != "best_f1":
        return bundle.thresholds_for(method)
    scorer = Scorer(bundle, device=s.device, method=method)
    sets = [
        CalibrationSet(scorer.array_score_fn(rid), w, bundle.recipe(rid).layout.mask)
        for rid, w in held.items()
    ]
    rng = np.random.default_rng([s.seed, 0xCA1, int(abs(mu) * 100)])
    return calibrate_sets(sets, rng, s.ratios, mu=abs(mu), sigma=s.sigma).thresholds


def score_matrix(
    bundle: ModelBundle, method: str, boards: Sequence[BoardInspection], device: str
) -> np.ndarray:
    """Scores (N, P) of `boards` (each board's pad order) via score_boards, the `spi-crrn score` path."""
    from crrn.scoring import Scorer, score_boards

    scorer = Scorer(bundle, device=device, method=method)
    by_event = {
        bs.event_id: bs.score
        for bs in score_boards(boards, scorer, bundle.window_length, bundle.window_hop, flush=True)
    }
    missing = [b.event_id for b in boards if b.event_id not in by_event]
    if missing:
        raise RuntimeError(f"{len(missing)} test boards were not scored (first {missing[0]})")
    return np.stack([by_event[b.event_id] for b in boards])


# ---------------------------------------------------------------------- training
def train_variants(
    s: Exp1Settings, boards: Sequence[BoardInspection], model_dir: Path
) -> tuple[dict[str, ModelBundle], dict[str, Any]]:
    from crrn.model_training import TrainOptions, train_bundle

    bundles: dict[str, ModelBundle] = {}
    report: dict[str, Any] = {}
    for variant in s.variants:
        options = TrainOptions(
            config=s.config,
            variant=variant,
            window=s.window,
            max_minutes=s.train_minutes,
            seed=s.seed,
            epochs=s.epochs,
            batch_size=s.batch_size,
            max_calibration_windows=s.calibration_windows,
            calibration_false_alarm_rate=s.false_alarm_rate,
            device=s.device,
        )
        started = time.monotonic()
        bundle = train_bundle(boards, options, progress=log.info)
        bundle.save(model_dir / f"{variant}.pt")
        training = bundle.metrics["training"]
        report[variant] = {
            "seconds": round(time.monotonic() - started, 1),
            "epochs": training["epochs"],
            "stop_reason": training["stop_reason"],
            "best_val_loss": training["best_val_loss"],
            "train_windows": training["train_windows"],
            "thresholds": {m: t.to_dict() for m, t in bundle.thresholds.items()},
        }
        bundles[variant] = bundle
    first = next(iter(bundles.values()))
    for v, b in bundles.items():
        for rid, r in b.recipes.items():
            if not np.allclose(r.normalizer.scale, first.recipes[rid].normalizer.scale):
                raise RuntimeError(
                    f"variant {v}: normalization differs from {s.variants[0]}'s (same boards?)"
                )
    return bundles, report


# ---------------------------------------------------------------------- run
def evaluate(
    s: Exp1Settings,
    bundles: dict[str, ModelBundle],
    train: Sequence[BoardInspection],
    test: Sequence[BoardInspection],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(results[mu][sign][ratio][method] -> Cell, PR curves (same nesting), thresholds used)."""
    reference = bundles[s.variants[0]]  # baselines: identical normalization in every bundle
    (rid,) = {b.recipe_id for b in test}
    recipe = reference.recipe(rid)
    held = heldout_windows(reference, train, s)
    oracle = ceiling_oracle(s)
    oracle_limits = oracle.thresholds()
    scorers: dict[str, tuple[ModelBundle, str]] = {v: (bundles[v], "crrn") for v in s.variants}
    scorers.update({m: (reference, m) for m in BASELINES})
    results: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    used: dict[str, Any] = {}
    cases = [(mu_key(mu), mu, False) for mu in s.mus]
    cases += [(mu_key(mu) + VOLUME_ONLY_SUFFIX, mu, True) for mu in s.volume_only_mus]
    for mk, mu, volume_only in cases:
        thresholds = {name: calibrated_thresholds(b, m, held, mu, s) for name, (b, m) in scorers.items()}
        used[mk] = {name: t.to_dict() for name, t in thresholds.items()}
        used[mk][CEILING] = oracle_limits.to_dict()
        for sign in SIGNS:
            for ratio in s.ratios:
                rng = np.random.default_rng(
                    [s.seed, 0x7E57, int(mu * 100), sign_of(sign) + 1, round(ratio * 100), int(volume_only)]
                )
                boards, labels = inject_boards(
                    test, recipe, rng, ratio, sign_of(sign) * mu, s.sigma, volume_only=volume_only
                )
                rk = ratio_key(ratio)
                for name, (bundle, method) in scorers.items():
                    scores = score_matrix(bundle, method, boards, s.device)  # (N, P)
                    t = thresholds[name]
                    cal = t.excessive if sign == "excessive" else t.insufficient
                    cell: Cell = evaluate_cell(scores, labels, sign, cal)
                    results.setdefault(mk, {}).setdefault(sign, {}).setdefault(rk, {})[name] = cell
                    curves.setdefault(mk, {}).setdefault(sign, {}).setdefault(rk, {})[name] = pr_points(
                        scores, labels, sign
                    )
                scores = oracle.score_matrix(boards)  # (N, P)
                limit = oracle_limits.excessive if sign == "excessive" else oracle_limits.insufficient
                results[mk][sign][rk][CEILING] = evaluate_cell(scores, labels, sign, limit)
                curves[mk][sign][rk][CEILING] = pr_points(scores, labels, sign)
                log.info(
                    "mu %s %s Pa %s: %s",
                    mk,
                    sign,
                    rk,
                    ", ".join(
                        f"{n} {c.f1_calibrated:.3f}/{c.f1_best:.3f}" for n, c in results[mk][sign][rk].items()
                    ),
                )
    return results, curves, used


def run(quick: bool, out_dir: Path, settings: Exp1Settings | None = None) -> dict[str, Any]:
    """Run Experiment 1 and write its results to `out_dir`; returns the summary (also summary.json)."""
    s = settings or (Exp1Settings.quick() if quick else Exp1Settings())
    started = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, test = simulate_boards(s)
    bundles, training = train_variants(s, train, out_dir / "models")
    train_s = time.monotonic() - started
    results, curves, used = evaluate(s, bundles, train, test)
    methods = [*s.variants, *BASELINES, CEILING]

    (out_dir / "table1.md").write_text(
        "# Experiment 1: F1 per method and anomaly ratio (calibrated threshold / best threshold)\n\n"
        + table_markdown(results, methods)
    )
    (out_dir / "table1.json").write_text(json.dumps(table_json(results), indent=1))
    (out_dir / "pr_curves.json").write_text(json.dumps(curves))
    figures = [
        str(
            plot_pr(
                curves[mk],
                methods,
                f"Experiment 1, |mu| = {mk}: precision-recall per anomaly ratio",
                out_dir / f"fig8_pr_mu{mk}.png",
            )
        )
        for mk in curves
    ]
    summary = {
        "settings": asdict(s),
        "quick": quick,
        "wall_seconds": round(time.monotonic() - started, 1),
        "training_seconds": round(train_s, 1),
        "training": training,
        "thresholds_used": used,
        "quality_bar": quality_bar(results),
        "ranking_best_f1": ranking(results, methods, "f1_best"),
        "ranking_calibrated_f1": ranking(results, methods, "f1_calibrated"),
        "files": ["table1.md", "table1.json", "pr_curves.json", *figures, "models/"],
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary
