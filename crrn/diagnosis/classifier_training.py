"""Training the defect classifier on anomaly maps that a TRAINED CRRN produces from simulated runs.

Data (`build_dataset`): for each simulator layout, printers running normally, with one defect, or with two
at once (random onset, ramp length, amplitude and clamp sign); every run is scored with the CRRN exactly
as `spi-crrn score` does (`crrn.scoring.score_boards`, the model's T and hop), turned into per-board binary
maps and averaged over windows of T boards (`crrn.diagnosis.features`).

Labels per window and defect, from the defect's envelope |f(t)| at the window's newest board:
positive when >= `positive_at` (0.5, the quality bar's f(t) >= 0.5), negative when < `negative_below`,
and ignored in the loss in between (a ramp's mid-point, where neither answer is wrong).

Layouts the model does not hold are added to a copy of the model for this purpose only: their layout and
per-pad normalization are fitted on simulated normal boards (the network weights are not touched), just
as a real recipe would be added. Layout seeds used here are recorded in the classifier's metadata.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from crrn.diagnosis.classifier import (
    DEFECT_CLASSES,
    ClassifierConfig,
    DefectClassifier,
    classifier_path_for,
    save_classifier,
)
from crrn.diagnosis.features import board_maps, score_grids, window_means
from crrn.diagnosis.runs import SimulatedRun, layout_id, layout_pads, simulate_runs
from crrn.model_file import MODEL_METHOD, ModelBundle
from crrn.scoring import Scorer, score_boards
from crrn.sim.defects import DefectSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierTrainingConfig:
    """What to simulate and how to train. Layout seeds are simulator fleet seeds (see `runs.py`)."""

    layouts: tuple[int, ...] = tuple(range(101, 117))  # 16 layouts
    normal_boards: int = 160  # normal boards per layout to fit layout + normalization when needed
    runs_per_layout: int = 24
    boards_per_run: int = 100
    amplitude: tuple[float, float] = (4.0, 6.0)  # defect size at f = 1, in pad std units
    pair_fraction: float = 0.3  # runs with two defects
    normal_fraction: float = 0.2  # runs without defect
    window_stride: int = 2  # keep every k-th window of a run (neighbours are near duplicates)
    score_hop: int | None = None  # hop when scoring training runs; None: T (each board scored once, T x
    # faster than the stream's hop 1; the board's place in its window then varies, a mild augmentation)
    positive_at: float = 0.5
    negative_below: float = 0.2
    input_size: int = 32
    width: int = 16
    epochs: int = 25
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_minutes: float = 20.0
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls) -> ClassifierTrainingConfig:
        return cls(layouts=tuple(range(101, 113)), runs_per_layout=20, epochs=30, max_minutes=6.0)

    def replace(self, **changes: Any) -> ClassifierTrainingConfig:
        return replace(self, **changes)


@dataclass(frozen=True, eq=False)
class WindowDataset:
    """Windows of runs: `maps (M, 2, S, S)`, `targets (M, K)` in {0, 1}, `weights (M, K)` (0 = ignored).

    `run_index (M,)` says which run each window came from.
    """

    maps: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor
    run_index: np.ndarray  # (M,) index into the runs the dataset was built from

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    @staticmethod
    def concat(parts: Sequence[WindowDataset]) -> WindowDataset:
        offsets = np.cumsum([0] + [int(p.run_index.max()) + 1 if len(p) else 0 for p in parts[:-1]])
        return WindowDataset(
            torch.cat([p.maps for p in parts]),
            torch.cat([p.targets for p in parts]),
            torch.cat([p.weights for p in parts]),
            np.concatenate([p.run_index + o for p, o in zip(parts, offsets, strict=True)]),
        )


def random_run_defects(
    rng: np.random.Generator, n: int, boards: int, config: ClassifierTrainingConfig
) -> list[tuple[DefectSpec, ...]]:
    """Defect sets of `n` runs: some normal, most single defects (classes balanced), some pairs."""
    out: list[tuple[DefectSpec, ...]] = []
    for i in range(n):
        u = rng.random()
        if u < config.normal_fraction:
            out.append(())
            continue
        k = 2 if u > 1.0 - config.pair_fraction else 1
        names = (
            [DEFECT_CLASSES[i % len(DEFECT_CLASSES)]]
            if k == 1
            else list(rng.choice(DEFECT_CLASSES, size=2, replace=False))
        )
        specs = []
        for name in names:
            duration = int(rng.integers(boards // 3, boards + 1))
            start = int(rng.integers(1, max(2, boards - duration // 2)))
            specs.append(
                DefectSpec(
                    str(name),
                    start_index=start,
                    duration=duration,
                    amplitude=float(rng.uniform(*config.amplitude)),
                    sign=int(rng.choice([-1, 1])),
                )
            )
        out.append(tuple(specs))
    return out


def ensure_layouts(bundle: ModelBundle, layouts: Sequence[int], normal_boards: int) -> ModelBundle:
    """A copy of `bundle` that also holds simulator layouts `L{seed}` (layout + normalization fitted on
    simulated normal boards of printers 1-2 of that layout; network weights unchanged)."""
    from crrn.model_training import fit_recipe_models, segments_by_printer
    from crrn.nn import CRRNConfig

    missing = [s for s in layouts if layout_id(s) not in bundle.recipes]
    if not missing:
        return bundle
    boards = [b for s in missing for run in simulate_runs(s, normal_boards, [(), ()]) for b in run.boards]
    segments = segments_by_printer(boards)
    multiple = CRRNConfig.from_dict(bundle.config).grid_multiple
    added = fit_recipe_models(segments, segments, grid_multiple=multiple)
    return replace(bundle, recipes={**bundle.recipes, **added})


def scored_run_maps(
    run: SimulatedRun, bundle: ModelBundle, scorer: Scorer, size: int, hop: int | None = None
) -> torch.Tensor:
    """`(N, 2, S, S)` binary maps of every board of `run`, scored as `spi-crrn score` does (with `hop`,
    default the model's)."""
    T = bundle.window_length
    scores = {s.event_id: s for s in score_boards(run.boards, scorer, T, hop or bundle.window_hop)}
    missing = [b.event_id for b in run.boards if b.event_id not in scores]
    if missing:
        raise RuntimeError(f"{len(missing)} boards of run {run.printer_id} were not scored")
    ordered = [scores[b.event_id] for b in run.boards]
    recipe = bundle.recipe(run.recipe_id)
    grids = score_grids(recipe.layout, [s.pad_id for s in ordered], [s.score for s in ordered])  # (N, H, W)
    return board_maps(grids, recipe.layout.mask, scorer.thresholds, size)


def window_labels(
    envelope: np.ndarray, window: int, positive_at: float, negative_below: float
) -> tuple[np.ndarray, np.ndarray]:
    """Envelope `(N, K)` -> targets and loss weights `(N - window + 1, K)` at each window's newest board."""
    current = envelope[window - 1 :]  # (M, K)
    targets = (current >= positive_at).astype(np.float32)
    weights = ((current >= positive_at) | (current < negative_below)).astype(np.float32)
    return targets, weights


def run_dataset(
    runs: Sequence[SimulatedRun], bundle: ModelBundle, scorer: Scorer, config: ClassifierTrainingConfig
) -> WindowDataset:
    """Window maps and labels of `runs` (every `window_stride`-th window)."""
    T = bundle.window_length
    maps, targets, weights, index = [], [], [], []
    for i, run in enumerate(runs):
        binary = scored_run_maps(run, bundle, scorer, config.input_size, config.score_hop or T)
        windows = window_means(binary, T)  # (M, 2, S, S)
        tgt, wgt = window_labels(
            run.defect_envelope(DEFECT_CLASSES), T, config.positive_at, config.negative_below
        )
        keep = np.arange(0, len(windows), config.window_stride)
        maps.append(windows[keep])
        targets.append(torch.from_numpy(tgt[keep]))
        weights.append(torch.from_numpy(wgt[keep]))
        index.append(np.full(len(keep), i))
    return WindowDataset(torch.cat(maps), torch.cat(targets), torch.cat(weights), np.concatenate(index))


def simulate_training_runs(config: ClassifierTrainingConfig, first_printer: int = 2) -> list[SimulatedRun]:
    """All training runs, layout by layout (printers from `first_printer` on: 0-1 fit normalization)."""
    runs: list[SimulatedRun] = []
    for seed in config.layouts:
        rng = np.random.default_rng([config.seed, seed, 0x7A1])
        defects = random_run_defects(rng, config.runs_per_layout, config.boards_per_run, config)
        runs.extend(simulate_runs(seed, config.boards_per_run, defects, first_printer=first_printer))
    return runs


def fit_classifier(
    data: WindowDataset,
    config: ClassifierTrainingConfig,
    progress: Callable[[str], None] | None = None,
) -> tuple[DefectClassifier, dict[str, Any]]:
    """Train from scratch with weighted BCE, random horizontal/vertical flips (defect patterns keep their
    meaning under both: stripes stay along the print direction, edges stay edges)."""
    say = progress or log.info
    torch.manual_seed(config.seed)
    model = DefectClassifier(ClassifierConfig(input_size=config.input_size, width=config.width))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = max(1, config.epochs * -(-len(data) // config.batch_size))
    pos = (data.targets * data.weights).sum(0)
    neg = ((1 - data.targets) * data.weights).sum(0)
    pos_weight = (neg / pos.clamp(min=1.0)).clamp(1.0, 10.0)  # (K,) balance rare positives
    gen = torch.Generator().manual_seed(config.seed)
    started = time.monotonic()
    budget_s = config.max_minutes * 60.0
    step = 0
    history = []
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(data), generator=gen)
        total = 0.0
        for start in range(0, len(data), config.batch_size):
            idx = order[start : start + config.batch_size]
            x = data.maps[idx]  # (b, 2, S, S)
            flip = torch.rand(2, generator=gen)
            if flip[0] < 0.5:
                x = x.flip(-1)
            if flip[1] < 0.5:
                x = x.flip(-2)
            logits = model(x)
            loss = F.binary_cross_entropy_with_logits(
                logits, data.targets[idx], weight=data.weights[idx], pos_weight=pos_weight, reduction="sum"
            ) / data.weights[idx].sum().clamp(min=1.0)
            done = max(step / steps, (time.monotonic() - started) / budget_s)  # of steps or time
            for group in opt.param_groups:  # short warm-up, then cosine decay to 0 by the end
                group["lr"] = (
                    config.lr
                    * min(1.0, 10.0 * step / steps)
                    * 0.5
                    * (1.0 + math.cos(math.pi * min(done, 1.0)))
                )
            step += 1
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        history.append({"epoch": epoch, "loss": total / len(data)})
        say(f"classifier epoch {epoch}/{config.epochs}: loss {total / len(data):.4f}")
        if time.monotonic() - started > budget_s:
            say("classifier training stopped at the time budget")
            break
    model.eval()
    return model, {
        "epochs": epoch,
        "seconds": time.monotonic() - started,
        "history": history,
        "windows": len(data),
    }


def train_classifier(
    bundle: ModelBundle, config: ClassifierTrainingConfig, progress: Callable[[str], None] | None = None
) -> tuple[DefectClassifier, dict[str, Any]]:
    """Simulate, score with the CRRN of `bundle`, and train. Returns the model and its metadata."""
    say = progress or log.info
    work = ensure_layouts(bundle, config.layouts, config.normal_boards)
    scorer = Scorer(work, device="cpu", method=MODEL_METHOD)
    started = time.monotonic()
    runs = simulate_training_runs(config)
    data = run_dataset(runs, work, scorer, config)
    say(
        f"{len(runs)} runs on {len(config.layouts)} layouts -> {len(data)} windows "
        f"in {time.monotonic() - started:.0f} s"
    )
    model, report = fit_classifier(data, config, progress=say)
    metadata = {
        "crrn_model_version": bundle.version,
        "classes": list(DEFECT_CLASSES),
        "window_length": bundle.window_length,
        "thresholds": scorer.thresholds.to_dict(),
        "training": {**report, "data_seconds": time.monotonic() - started - report["seconds"]},
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "layout_pads": {layout_id(s): layout_pads(s) for s in config.layouts},
    }
    return model, metadata


def train_classifier_for_model(
    model_path: Path, config: ClassifierTrainingConfig, output: str | Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """`spi-crrn train-classifier`: train for the model file and save `MODEL.classifier.pt` beside it."""
    bundle = ModelBundle.load(model_path)
    model, metadata = train_classifier(bundle, config)
    path = save_classifier(output or classifier_path_for(model_path), model, metadata)
    return path, {"crrn_model_version": metadata["crrn_model_version"], "training": metadata["training"]}
