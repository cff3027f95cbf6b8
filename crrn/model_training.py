"""From normal boards to a trained, calibrated model file (the work behind `spi-crrn train` and `calibrate`).

Steps of `train_bundle`:
1. Per recipe: a PadGrid from the first board (all recipes padded to one common grid shape so one
   network trains on all of them), and the boards of each printer in print_index order.
2. Split per printer and recipe in time: the first `train_fraction` of the boards train, the next
   `val_fraction` validate (early stopping), the rest is HELD OUT for threshold calibration. No window
   crosses a split, so calibration never sees a training board.
3. Per-pad normalization fitted on the training boards only.
4. Windows (N, T, C, H, W): sliding (stride 1) for train/val; non-overlapping (stride T) for calibration.
5. `crrn.network_training.fit` within the time left after reserving the calibration time, measured on a WARM
   forward pass (the first call of a shape is several times slower). The reserve is capped at
   `MAX_CALIBRATION_SHARE` of the budget by calibrating on fewer held-out windows, so a tight budget
   still trains (at least one batch) and the whole run stays within `max_minutes`.
6. Alarm limits for the network and every baseline on the held-out boards (crrn/thresholds.py):
   the held-out boards of each printer are scored exactly as the stream scores them (`score_boards`),
   and the board-outlier thresholds are the tail limits of the per-board extremes at the outlier share
   of `board_false_alarm_rate` R (default rule "board"), and the process-alarm limit
   (crrn/evidence.py) that of the per-board maximum CUSUM at its share. Rule "pad" (control limits
   firing on `calibration_false_alarm_rate` of the pads per sign) and "best_f1" (Experiment-1
   injections into held-out windows) replace the outlier thresholds only; the process limit always
   follows R. The best-F1 search always runs and is reported.

Doubtful choice, documented: with several recipes the network trains with the UNION of their pad masks
(`fit` takes one (H, W) mask), while scoring uses each recipe's own mask.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from crrn.evidence import EvidenceModel, calibrate_evidence
from crrn.layout import PadGrid
from crrn.model_file import METHODS, MODEL_METHOD, ModelBundle, RecipeModel
from crrn.normalization import PadNormalizer, board_values
from crrn.scoring import BoardScores, Scorer, score_boards, windows_array
from crrn.thresholds import (
    DEFAULT_BOARD_FALSE_ALARM_RATE,
    DEFAULT_FALSE_ALARM_RATE,
    CalibrationSet,
    Thresholds,
    board_outlier_limits,
    calibrate_sets,
    split_board_rate,
    split_outlier_rate,
)
from schemas.inspection import BoardInspection

log = logging.getLogger(__name__)

ProgressFn = Callable[[str], None]
MAX_CALIBRATION_SHARE = 0.2  # of the budget, at most, for threshold calibration
RULES = ("board", "pad", "best_f1")
MARGIN_S = 5.0  # per margin (calibration set-up; building and saving the bundle), at most 5 % of the budget


# What `denoising_only` switches off: every anomaly-shaped corruption (random shifted pads, structured
# regional shifts, hidden suspects and with them two-pass scoring), leaving the paper's denoising (noise on
# a share of the inputs, input dropout). The ablation of Experiment 4: how much of the model's detection
# comes from being shown anomaly-like shapes in training.
ANOMALY_SHAPED_OFF: dict[str, float] = {
    "anomaly_board_prob": 0.0,
    "structured_prob": 0.0,
    "hide_suspects_prob": 0.0,
}


@dataclass(frozen=True)
class TrainOptions:
    config: str = "cpu"  # CRRNConfig preset: "cpu" or "paper"
    variant: str = "crrn"  # crrn | crrn_noattn | crae | crae_noattn
    window: int = 10  # T
    hop: int = 1  # stored for the stream and `score`
    max_minutes: float = 10.0  # wall-clock budget of the whole run
    seed: int = 0
    epochs: int = 100  # a cap only: early stopping (patience) or max_minutes ends a run first (docs)
    batch_size: int | None = None  # None: 4 on CPU (more steps per CPU second), 16 on CUDA
    train_fraction: float = 0.7
    val_fraction: float = 0.15  # the rest is held out for calibration
    max_calibration_windows: int = 16
    device: str = "auto"
    progress: bool = False
    # crrn.network_training.TrainConfig knobs (defaults there; see its docstring)
    lr: float = 1e-3
    patience: int = 10
    min_delta: float = 0.005
    anomaly_board_prob: float = 0.5
    anomaly_max_ratio: float = 0.5
    anomaly_mu: tuple[float, float] = (2.0, 8.0)
    anomaly_volume_only_prob: float = 0.5
    anomaly_height_only_prob: float = 0.15
    structured_prob: float = 0.6  # network_training.TrainConfig.structured_prob (docs/experiments.md, Exp. 2)
    structured_mu: tuple[float, float] = (2.0, 6.0)
    noise_fraction: float = 0.1
    keep_prob: float = 0.9
    # two-pass scoring (crrn.reconstruction): windows trained with their corrupted pads hidden, and the
    # level from which a pad counts as suspected (training and scoring); cpu config only (mask channel)
    hide_suspects_prob: float = 0.5
    hide_level: float = 1.5
    calibration_volume_only_prob: float = 0.5  # share of calibration boards with volume-only anomalies
    calibration_mus: tuple[float, ...] = (4.0, 5.0)  # anomaly sizes (pad std units) pooled in calibration
    # the outlier threshold rule: "board" (board-level target R), "pad" (control limits firing on
    # calibration_false_alarm_rate of the pads per sign) or "best_f1"; None as the pad rate = "best_f1"
    calibration_rule: str = "board"
    calibration_false_alarm_rate: float | None = DEFAULT_FALSE_ALARM_RATE
    board_false_alarm_rate: float = DEFAULT_BOARD_FALSE_ALARM_RATE  # R: boards with any alarm
    max_calibration_boards: int = 600  # held-out boards scored as the stream does, for board-level limits
    # the paper's denoising only (noise + input dropout): overrides the anomaly-shaped knobs above with
    # ANOMALY_SHAPED_OFF, and the model scores in one pass
    denoising_only: bool = False

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"--window {self.window}: a window needs at least 2 boards")
        if not (0 < self.train_fraction < 1 and 0 < self.val_fraction < 1):
            raise ValueError("train_fraction and val_fraction must be in (0, 1)")
        if self.train_fraction + self.val_fraction >= 1:
            raise ValueError("train_fraction + val_fraction must leave boards for calibration (< 1)")
        if self.max_minutes <= 0:
            raise ValueError(f"--max-minutes {self.max_minutes}: must be > 0")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"--batch-size {self.batch_size}: must be >= 1")
        if not 0.0 <= self.calibration_volume_only_prob <= 1.0:
            raise ValueError(
                f"calibration_volume_only_prob {self.calibration_volume_only_prob}: must be in [0, 1]"
            )
        if not self.calibration_mus or min(self.calibration_mus) <= 0:
            raise ValueError(f"calibration_mus {self.calibration_mus}: give one or more sizes > 0")
        rate = self.calibration_false_alarm_rate
        if rate is not None and not 0.0 < rate < 0.5:
            raise ValueError(f"--false-alarm-rate {rate}: give a share of pads in (0, 0.5), e.g. 0.001")
        if self.calibration_rule not in RULES:
            raise ValueError(f"calibration_rule {self.calibration_rule!r}: choose one of {list(RULES)}")
        if not 0.0 < self.board_false_alarm_rate < 0.5:
            raise ValueError(
                f"--board-false-alarm-rate {self.board_false_alarm_rate}: give a share of boards in "
                "(0, 0.5), e.g. 0.01"
            )
        self.train_config()  # validates the TrainConfig knobs, naming the bad one

    def train_config(self, **overrides: Any) -> Any:
        """The network_training.TrainConfig of these options (`overrides`: batch size, budget, device)."""
        from crrn.network_training import TrainConfig

        fields = {
            "epochs": self.epochs,
            "lr": self.lr,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "anomaly_board_prob": self.anomaly_board_prob,
            "anomaly_max_ratio": self.anomaly_max_ratio,
            "anomaly_mu": tuple(self.anomaly_mu),
            "anomaly_volume_only_prob": self.anomaly_volume_only_prob,
            "anomaly_height_only_prob": self.anomaly_height_only_prob,
            "structured_prob": self.structured_prob,
            "structured_mu": tuple(self.structured_mu),
            "noise_fraction": self.noise_fraction,
            "keep_prob": self.keep_prob,
            "hide_suspects_prob": self.hide_suspects_prob,
            "hide_level": self.hide_level,
            "seed": self.seed,
        }
        if self.denoising_only:
            fields |= ANOMALY_SHAPED_OFF
        return TrainConfig(**{**fields, **overrides})


@dataclass(frozen=True, eq=False)
class Segment:
    """Consecutive boards of one printer and recipe, in print_index order."""

    printer_id: str
    recipe_id: str
    boards: tuple[BoardInspection, ...]


def segments_by_printer(boards: Sequence[BoardInspection]) -> list[Segment]:
    """Boards grouped by (recipe, printer), each group sorted by print_index (duplicate event ids dropped)."""
    groups: dict[tuple[str, str], dict[str, BoardInspection]] = {}
    for b in boards:
        groups.setdefault((b.recipe_id, b.printer_id), {}).setdefault(b.event_id, b)
    return [
        Segment(printer, recipe, tuple(sorted(g.values(), key=lambda b: b.print_index)))
        for (recipe, printer), g in sorted(groups.items())
    ]


def split_segment(
    seg: Segment, train_fraction: float, val_fraction: float
) -> tuple[Segment, Segment, Segment]:
    """Split in time into (train, val, held-out) segments."""
    n = len(seg.boards)
    a = round(n * train_fraction)
    b = round(n * (train_fraction + val_fraction))
    return (
        replace(seg, boards=seg.boards[:a]),
        replace(seg, boards=seg.boards[a:b]),
        replace(seg, boards=seg.boards[b:]),
    )


def sliding_windows(frames: np.ndarray, T: int, stride: int) -> np.ndarray:
    """(N, C, H, W) consecutive frames -> (M, T, C, H, W) windows starting every `stride` frames."""
    n = frames.shape[0]
    if n < T:
        return np.empty((0, T, *frames.shape[1:]), dtype=frames.dtype)
    starts = np.arange(0, n - T + 1, stride)
    return frames[starts[:, None] + np.arange(T)[None, :]]  # (M, T, C, H, W)


def fit_recipe_models(
    train_segments: Sequence[Segment], all_segments: Sequence[Segment], grid_multiple: int = 1
) -> dict[str, RecipeModel]:
    """Layouts (common grid shape), normalization (training boards only) and aperture groups per recipe."""
    first: dict[str, BoardInspection] = {}
    for seg in all_segments:
        if seg.boards:
            first.setdefault(seg.recipe_id, seg.boards[0])
    layouts = {rid: PadGrid.from_board(b) for rid, b in first.items()}
    h = max(g.height for g in layouts.values())
    w = max(g.width for g in layouts.values())
    layouts = {rid: g.padded(multiple_of=grid_multiple, min_shape=(h, w)) for rid, g in layouts.items()}
    out: dict[str, RecipeModel] = {}
    for rid, layout in layouts.items():
        train_boards = [b for s in train_segments if s.recipe_id == rid for b in s.boards]
        if len(train_boards) < 2:
            raise ValueError(
                f"recipe {rid}: {len(train_boards)} training boards; need more boards of this recipe"
            )
        values = np.stack([board_values(b, layout.for_board(b)) for b in train_boards])  # (N, C, P)
        groups = np.asarray(first[rid].pads.shape).astype(str)[layout.for_board(first[rid])]
        out[rid] = RecipeModel(layout=layout, normalizer=PadNormalizer.fit(values), aperture_group=groups)
    return out


def segment_windows(
    segments: Sequence[Segment], recipes: dict[str, RecipeModel], T: int, stride: int
) -> dict[str, np.ndarray]:
    """Per recipe: (M, T, C, H, W) normalized windows of all segments."""
    out: dict[str, list[np.ndarray]] = {}
    for seg in segments:
        if len(seg.boards) < T:
            continue
        frames = windows_array(seg.boards, recipes[seg.recipe_id])  # (N, C, H, W)
        out.setdefault(seg.recipe_id, []).append(sliding_windows(frames, T, stride))
    return {rid: np.concatenate(ws) for rid, ws in out.items()}


def _evenly(x: np.ndarray, k: int) -> np.ndarray:
    if len(x) <= k:
        return x
    return x[np.linspace(0, len(x) - 1, k).round().astype(int)]


def effective_rule(rule: str, false_alarm_rate: float | None) -> str:
    """The outlier rule actually used: a pad rate of None means best F1 (the older API), whatever `rule`."""
    if rule not in RULES:
        raise ValueError(f"calibration rule {rule!r}: choose one of {list(RULES)}")
    return "best_f1" if false_alarm_rate is None else rule


def heldout_board_scores(
    bundle: ModelBundle, scorer: Scorer, segments: Sequence[Segment], max_boards: int
) -> list[list[BoardScores]]:
    """Each held-out segment's boards scored as the stream scores them (board outliers only), at most
    `max_boards` in all (every segment keeps its first boards, so its sequence stays consecutive)."""
    total = sum(len(s.boards) for s in segments)
    share = min(1.0, max_boards / max(total, 1))
    out = []
    for seg in segments:
        boards = seg.boards[: max(bundle.window_length, int(len(seg.boards) * share))]
        scored = list(score_boards(boards, scorer, bundle.window_length, bundle.window_hop, tracker=None))
        if scored:
            out.append(scored)
    return out


def calibrate_bundle(
    bundle: ModelBundle,
    heldout: dict[str, np.ndarray],
    rng: np.random.Generator,
    device: str = "auto",
    methods: Sequence[str] = METHODS,
    volume_only_prob: float = 0.5,
    mus: Sequence[float] = (4.0, 5.0),
    false_alarm_rate: float | None = DEFAULT_FALSE_ALARM_RATE,
    *,
    segments: Sequence[Segment] = (),
    rule: str = "board",
    board_false_alarm_rate: float = DEFAULT_BOARD_FALSE_ALARM_RATE,
    max_boards: int = 600,
) -> tuple[dict[str, Thresholds], dict[str, Any], dict[str, EvidenceModel]]:
    """Per-method outlier thresholds, calibration reports and process-alarm rules.

    `segments`: held-out normal boards per printer and recipe, scored as the stream does for the
    board-level rule and the process-alarm limit (both need them). `heldout` {recipe: (B, T, C, H, W)}
    windows feed the pad-rate and best-F1 rules; the best-F1 search runs and is reported either way.
    Rules (`effective_rule`): "board" = tail limits of the per-board extremes at the outlier share of
    `board_false_alarm_rate`; "pad" = firing on `false_alarm_rate` of the pads per sign; "best_f1".
    """
    if not heldout:
        raise ValueError("calibration: no held-out window; give more normal boards per printer")
    used = effective_rule(rule, false_alarm_rate)
    r_outlier, r_process = split_board_rate(board_false_alarm_rate)
    r_single, r_cluster = split_outlier_rate(r_outlier)
    if not segments:
        raise ValueError("calibration: no held-out boards for the board-level limits")
    thresholds: dict[str, Thresholds] = {}
    report: dict[str, Any] = {}
    evidence: dict[str, EvidenceModel] = {}
    provisional = replace(bundle, thresholds={m: Thresholds(1.0, -1.0) for m in methods}, evidence={})
    for method in methods:
        scorer = Scorer(provisional, device=device, method=method)
        sets = [
            CalibrationSet(scorer.array_score_fn(rid), w, bundle.recipes[rid].layout.mask)
            for rid, w in sorted(heldout.items())
        ]
        result = calibrate_sets(
            sets,
            rng,
            mu=mus,
            volume_only_prob=volume_only_prob,
            false_alarm_rate=false_alarm_rate if used == "pad" else None,
        )
        per_segment = heldout_board_scores(bundle, scorer, segments, max_boards)
        board_thr, board_report = board_outlier_limits(
            [b.score for seq in per_segment for b in seq], r_single
        )
        sequences = [
            (
                seq[0].recipe_id,
                np.stack([b.score[bundle.recipes[b.recipe_id].layout.for_board(b.board)] for b in seq]),
            )
            for seq in per_segment
        ]
        layouts = {rid: r.layout for rid, r in bundle.recipes.items()}
        evidence[method] = calibrate_evidence(
            sequences, r_process, cluster_rate=r_cluster / 2.0 if r_cluster > 0 else None, layouts=layouts
        )  # cluster limits: r_cluster per board, half per sign (none while CLUSTER_SHARE is 0)
        thresholds[method] = board_thr if used == "board" else result.thresholds
        report[method] = {
            **result.to_dict(),
            "thresholds": thresholds[method].to_dict(),
            "rule": f"board_false_alarm_rate={board_false_alarm_rate:g}"
            if used == "board"
            else result.details["rule"],
            "board_false_alarm_rate": board_false_alarm_rate,
            "outlier_board_rate": r_outlier,
            "single_pad_board_rate": r_single,
            "cluster_board_rate": r_cluster,
            "cluster_limits": None if (rule_c := evidence[method].cluster) is None else rule_c.to_dict(),
            "process_board_rate": r_process,
            "board_rule_thresholds": board_thr.to_dict(),
            "board_rule_tails": board_report,
            "process_limit": evidence[method].to_dict() | {"recipes": None},
            "heldout_boards": sum(len(seq) for seq in per_segment),
        }
    return thresholds, report, evidence


def train_bundle(
    boards: Sequence[BoardInspection], options: TrainOptions, progress: ProgressFn | None = None
) -> ModelBundle:
    """Train and calibrate a model on normal boards; see the module docstring."""
    import torch

    from crrn.network_training import fit
    from crrn.nn import CRRN, CRRNConfig

    say = progress or log.info
    started = time.monotonic()
    budget_s = options.max_minutes * 60.0
    if options.config not in ("cpu", "paper"):
        raise ValueError(f"--config {options.config!r}: choose cpu or paper")
    base = CRRNConfig.cpu() if options.config == "cpu" else CRRNConfig.paper()
    config = CRRNConfig.variant(options.variant, base)
    T = options.window
    # hiding needs the mask input channel, so a hidden pad differs from a pad of value 0
    hide = config.mask_channel and options.hide_suspects_prob > 0 and not options.denoising_only
    passes = 2 if hide else 1

    segments = segments_by_printer(boards)
    splits = [split_segment(s, options.train_fraction, options.val_fraction) for s in segments]
    train_segs = [s[0] for s in splits]
    val_segs = [s[1] for s in splits]
    held_segs = [s[2] for s in splits]
    recipes = fit_recipe_models(train_segs, segments, grid_multiple=config.grid_multiple)
    train_w = segment_windows(train_segs, recipes, T, stride=1)
    val_w = segment_windows(val_segs, recipes, T, stride=1)
    held_w = {
        rid: _evenly(w, options.max_calibration_windows)
        for rid, w in segment_windows(held_segs, recipes, T, stride=T).items()
    }
    held_boards = [s for s in held_segs if len(s.boards) >= T]
    for name, ws in (("training", train_w), ("validation", val_w), ("held-out", held_w)):
        if not ws:
            raise ValueError(
                f"no {name} window of T={T} boards: every printer's boards are split "
                f"{options.train_fraction:.0%}/{options.val_fraction:.0%}/rest in time and each part needs "
                f">= T consecutive boards of one recipe; give more boards per printer or a smaller --window"
            )
    train_x = np.concatenate(list(train_w.values()))  # (N, T, C, H, W)
    val_x = np.concatenate(list(val_w.values()))
    masks = [r.layout.mask for r in recipes.values()]
    mask = np.logical_or.reduce(masks)  # (H, W): union over recipes (one recipe: its own mask)
    say(
        f"{len(boards)} boards, {len(recipes)} recipe(s), grid {mask.shape}, {int(mask.sum())} pad cells; "
        f"windows train {len(train_x)}, val {len(val_x)}, held-out {sum(len(w) for w in held_w.values())}"
    )

    torch.manual_seed(options.seed)
    model = CRRN(config)
    device = "cuda" if options.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    batch_size = options.batch_size or (16 if device == "cuda" else 4)
    per_window = _forward_seconds_per_window(model, next(iter(held_w.values())), mask)  # one pass
    # 2 signs x 5 ratios x sizes forward passes per calibration window, x 1.5 margin (baselines are cheap)
    per_cal_window = per_window * passes * 2 * 5 * len(options.calibration_mus) * 1.5
    # fit checks its clock after each batch, then still validates: reserve one training batch
    # (~3 forward passes) and one validation pass beyond its max_seconds
    overshoot_s = per_window * (3 * batch_size + len(val_x)) * 1.5
    margin_s = min(MARGIN_S, 0.05 * budget_s)
    cap_s = MAX_CALIBRATION_SHARE * budget_s
    n_cal = sum(len(w) for w in held_w.values())
    # half the cap for the windows of the pad-rate and best-F1 rules, the rest for board-level limits
    n_fit = max(len(held_w), int((cap_s / 2 - margin_s) / max(per_cal_window, 1e-9)))
    if n_cal > n_fit:  # thin the calibration windows to keep the reserve under the cap
        per_recipe = max(1, n_fit // len(held_w))
        held_w = {rid: _evenly(w, per_recipe) for rid, w in held_w.items()}
        say(f"calibrating on {per_recipe} held-out window(s) per recipe to fit the budget (of {n_cal})")
        n_cal = sum(len(w) for w in held_w.values())
    # board-level limits: every held-out board is scored once as the stream does (one window each)
    n_cal_boards = min(options.max_calibration_boards, sum(len(s.boards) for s in held_boards))
    per_board = per_window * passes * 1.5
    spare_s = cap_s - per_cal_window * n_cal - margin_s
    n_cal_boards = max(min(n_cal_boards, int(spare_s / max(per_board, 1e-9))), T * len(held_boards), 1)
    calib_s = per_cal_window * n_cal + per_board * n_cal_boards + margin_s
    train_s = budget_s - (time.monotonic() - started) - calib_s - overshoot_s - margin_s
    if train_s < 1.0:
        # fit always runs one batch: go on when that still fits, i.e. only a small overshoot reserve
        step_s = per_window * 3 * batch_size * 1.5
        if budget_s - (time.monotonic() - started) - calib_s - step_s - margin_s < 0:
            raise ValueError(
                f"--max-minutes {options.max_minutes}: too short for even one training batch after "
                f"{calib_s:.0f} s reserved for calibration; allow more minutes"
            )
        train_s = 1.0
    say(
        f"training {config.variant_name} ({model.num_parameters()} parameters, batch {batch_size}) for at "
        f"most {train_s:.0f} s; {calib_s:.0f} s reserved for calibration on {n_cal} window(s) and "
        f"{n_cal_boards} held-out board(s)"
    )
    cfg = options.train_config(
        batch_size=batch_size,
        max_seconds=train_s,
        device=device,
        hide_suspects_prob=options.hide_suspects_prob if hide else 0.0,
    )
    result = fit(
        model, torch.from_numpy(train_x), torch.from_numpy(val_x), mask, cfg, progress=options.progress
    )
    say(f"trained {result.epochs} epochs in {result.seconds:.0f} s, best val loss {result.best_val_loss:.4f}")
    model.cpu().eval()

    bundle = ModelBundle(
        config=config.to_dict(),
        state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        recipes=recipes,
        thresholds={},
        window_length=T,
        window_hop=options.hop,
        hide_suspects_above=options.hide_level if hide else None,
        metrics={
            "training": {
                "epochs": result.epochs,
                "best_val_loss": result.best_val_loss,
                "seconds": result.seconds,
                "stop_reason": result.stop_reason,
                "train_windows": len(train_x),
                "val_windows": len(val_x),
                "history": [
                    {"epoch": e.epoch, "train_loss": e.train_loss, "val_loss": e.val_loss}
                    for e in result.history
                ],
            },
            "options": {k: v for k, v in options.__dict__.items()},
        },
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    thresholds, report, evidence = calibrate_bundle(
        bundle,
        held_w,
        np.random.default_rng(options.seed + 7),
        device=options.device,
        volume_only_prob=options.calibration_volume_only_prob,
        mus=options.calibration_mus,
        false_alarm_rate=options.calibration_false_alarm_rate,
        segments=held_boards,
        rule=options.calibration_rule,
        board_false_alarm_rate=options.board_false_alarm_rate,
        max_boards=n_cal_boards,
    )
    bundle.thresholds = thresholds
    bundle.evidence = evidence
    bundle.metrics["calibration"] = report
    say(
        "thresholds: "
        + ", ".join(
            f"{m} {t.excessive:+.2f}/{t.insufficient:+.2f} (F1 {report[m]['f1_excessive']:.3f}/"
            f"{report[m]['f1_insufficient']:.3f})"
            for m, t in thresholds.items()
        )
        + f"; total {time.monotonic() - started:.0f} s"
    )
    return bundle


def _forward_seconds_per_window(model: Any, windows: np.ndarray, mask: np.ndarray) -> float:
    """Seconds per window of a WARM forward pass over up to 4 windows (B, T, C, H, W) on the CPU.

    The first call of a shape is several times slower (allocation, kernel selection): it is run once
    untimed, then the median of two timed calls is used.
    """
    import torch

    probe = torch.from_numpy(np.ascontiguousarray(windows[:4]))  # (b, T, C, H, W)
    m = torch.from_numpy(mask)
    model.eval()
    times = []
    with torch.inference_mode():
        for _ in range(3):
            t0 = time.monotonic()
            model(probe, m)
            times.append(time.monotonic() - t0)
    return float(np.median(times[1:])) / len(probe)


def recalibrate(
    bundle: ModelBundle,
    boards: Sequence[BoardInspection],
    *,
    seed: int = 0,
    max_windows: int = 64,
    device: str = "auto",
    false_alarm_rate: float | None = DEFAULT_FALSE_ALARM_RATE,
    rule: str = "board",
    board_false_alarm_rate: float = DEFAULT_BOARD_FALSE_ALARM_RATE,
    max_boards: int = 2000,
    methods: Sequence[str] = METHODS,
) -> ModelBundle:
    """A copy of `bundle` with alarm limits calibrated on `boards` (normal, not used in training): the
    board-level rule at `board_false_alarm_rate` by default, or (`rule="pad"`) outlier thresholds firing
    on `false_alarm_rate` of these boards' pads per sign, or best F1 (`rule="best_f1"`, or a pad rate of
    None); the process-alarm limit always follows the board rate. Only `methods` get limits (default all)."""
    segments = [s for s in segments_by_printer(boards) if s.recipe_id in bundle.recipes]
    if not segments:
        raise ValueError(f"no board of the model's recipes {sorted(bundle.recipes)} in the input")
    T = bundle.window_length
    held = {
        rid: _evenly(w, max_windows) for rid, w in segment_windows(segments, bundle.recipes, T, T).items()
    }
    thresholds, report, evidence = calibrate_bundle(
        bundle,
        held,
        np.random.default_rng(seed),
        device=device,
        false_alarm_rate=false_alarm_rate,
        segments=segments,
        rule=rule,
        board_false_alarm_rate=board_false_alarm_rate,
        max_boards=max_boards,
        methods=methods,
    )
    metrics = {**bundle.metrics, "calibration": report, "recalibrated_at": datetime.now(UTC).isoformat()}
    return replace(bundle, thresholds=thresholds, metrics=metrics, evidence=evidence)


__all__ = [
    "MODEL_METHOD",
    "TrainOptions",
    "calibrate_bundle",
    "recalibrate",
    "segments_by_printer",
    "sliding_windows",
    "train_bundle",
]
