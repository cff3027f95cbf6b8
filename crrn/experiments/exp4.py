"""Experiment 4: unseen anomaly families, scored exactly as `spi-crrn score` alarms (not in the paper).

Protocol (all simulated, seeded; nothing here was used to choose a default):
1. A fresh layout (`layout`, used by no other experiment or classifier training) and fresh printers:
   the models train on normal boards of printers 1-2 of that layout with `train_bundle` at the project
   defaults (`TrainOptions()`, only the time budget, epoch cap and seed set here), and a second model
   with `denoising_only=True` (the paper's noise + input dropout, no anomaly-shaped corruption).
2. Evaluation printers from `printer` on (process seeds never trained on): family k of
   `crrn.sim.families.FAMILIES` runs alone on printer `printer + k`, and a clean run on the next printer.
   A family is added to that printer's normal boards as `volume_pct += delta * pad_std`, pad_std the
   pad's robust std (1.4826 MAD) over the run's own normal boards.
3. Every run is scored with `crrn.scoring.score_boards` and each method's deployed limits from the model
   file; the alarms are the final `BoardScores.alarm` (what `spi-crrn score` writes). Methods: every
   entry of `crrn.model_file.METHODS` the model has thresholds for (so a new baseline joins by itself),
   plus `crrn_denoising_only` (the ablation model's network) and `crrn_no_cluster` (the main CRRN with
   its cluster-outlier rule removed, crrn/clusters.py).

Per family and method: pad F1 (precision, recall) over all boards of the run, with truth from the family
(sign of the effect where it is >= TRUTH_LEVEL pad std; weaker-moved pads and the simulator's natural
defects count neither way), detection delay (first board at or after the first truth board with an
alarm of the right sign on a true pad, minus that board; None: never), and the share of the run's
boards before onset with any alarm. Clean run: share of boards with any alarm, and with an alarm on a
pad that is not a natural defect.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from crrn.diagnosis.runs import SimulatedRun, simulate_runs
from crrn.experiments.ablations import without_clusters
from crrn.model_file import METHODS, ModelBundle
from crrn.scoring import Scorer, score_boards
from crrn.sim.families import FAMILIES, FamilyEffect, FamilySpec, apply_family, component_of, family_effect
from schemas.inspection import BoardInspection

log = logging.getLogger(__name__)

ABLATION = "crrn_denoising_only"
NO_CLUSTER = "crrn_no_cluster"  # the main model without its cluster-outlier rule (crrn/clusters.py)


@dataclass(frozen=True)
class Exp4Settings:
    layout: int = 401
    normal_boards: int = 240  # per printer, 2 printers, for both models
    crrn_minutes: float = 6.0  # per model (docs/experiments.md: frozen before the reported run)
    crrn_epochs: int = 100
    boards_per_run: int = 120
    onset: int = 20
    amplitude: float = 3.0  # pad std, every family
    clogging_ramp: int = 30  # boards from a clogging's onset to its full loss
    printer: int = 60  # first evaluation printer (process seed index)
    seed: int = 0

    @classmethod
    def quick(cls) -> Exp4Settings:
        return cls(normal_boards=120, crrn_minutes=1.5, crrn_epochs=20, boards_per_run=60, onset=12)


def train_models(settings: Exp4Settings, out_dir: Path) -> dict[str, ModelBundle]:
    """{"crrn": defaults, ABLATION: denoising only}, reused from out_dir/models/ when present."""
    from crrn.model_training import TrainOptions, train_bundle

    boards: list[BoardInspection] | None = None
    out: dict[str, ModelBundle] = {}
    for name, denoising_only in (("crrn", False), (ABLATION, True)):
        path = out_dir / "models" / f"{name}.pt"  # results/*/models/ is not committed
        if path.is_file():
            log.info("reusing %s (delete it to retrain)", path)
            out[name] = ModelBundle.load(path)
            continue
        if boards is None:
            runs = simulate_runs(settings.layout, settings.normal_boards, [(), ()])
            boards = [b for run in runs for b in run.boards]
        options = TrainOptions(
            max_minutes=settings.crrn_minutes,
            epochs=settings.crrn_epochs,
            seed=settings.seed,
            device="cpu",
            denoising_only=denoising_only,
        )
        out[name] = train_bundle(boards, options)
        out[name].save(path)
    return out


def robust_pad_std(volume: np.ndarray) -> np.ndarray:
    """(N, P) -> (P,) 1.4826 * MAD over boards (the plain std where the MAD is 0)."""
    med = np.median(volume, axis=0)
    mad = 1.4826 * np.median(np.abs(volume - med), axis=0)
    return np.where(mad > 0, mad, volume.std(axis=0))


@dataclass(frozen=True, eq=False)
class FamilyRun:
    name: str
    boards: tuple[BoardInspection, ...]
    effect: FamilyEffect
    natural: np.ndarray  # (N, P) bool: the simulator's own natural defects


def family_run(spec: FamilySpec, run: SimulatedRun, seed: list[int]) -> FamilyRun:
    volume = np.stack([b.pads.volume_pct for b in run.boards])  # (N, P), board pad order
    first = run.boards[0].pads
    effect = family_effect(spec, first.x_mm, first.y_mm, component_of(first.pad_id), len(run.boards), seed)
    new = apply_family(volume, robust_pad_std(volume), effect)
    boards = tuple(replace(b, pads=replace(b.pads, volume_pct=new[i])) for i, b in enumerate(run.boards))
    natural = np.stack([t.labels != 0 for t in run.truths])
    return FamilyRun(spec.name, boards, effect, natural)


def board_alarms(boards: tuple[BoardInspection, ...], bundle: ModelBundle, method: str) -> np.ndarray:
    """(N, P) int8 alarms, the final `BoardScores.alarm` of `score_boards` (as `spi-crrn score`)."""
    scorer = Scorer(bundle, device="cpu", method=method)
    by_id = {
        s.event_id: s.alarm for s in score_boards(boards, scorer, bundle.window_length, bundle.window_hop)
    }
    return np.stack([by_id[b.event_id] for b in boards])


def family_metrics(alarm: np.ndarray, labels: np.ndarray, care: np.ndarray, onset: int) -> dict[str, Any]:
    """Pad F1 on `care` pads, detection delay in boards, and the pre-onset boards with any alarm."""
    pos = labels != 0
    hit = pos & (alarm == labels)
    tp = int(hit.sum())
    fp = int((care & (alarm != 0) & (alarm != labels)).sum())
    fn = int((pos & ~hit).sum())
    truth_boards = np.flatnonzero(pos.any(axis=1))
    detected = np.flatnonzero(hit.any(axis=1))
    delay = None
    if truth_boards.size:
        later = detected[detected >= truth_boards[0]]
        delay = int(later[0] - truth_boards[0]) if later.size else None
    before = alarm[:onset] != 0
    return {
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "delay_boards": delay,
        "pre_onset_boards_with_alarm": float(before.any(axis=1).mean()) if onset else None,
        "true_pads": int(pos.sum()),
    }


def methods_of(bundles: dict[str, ModelBundle]) -> list[tuple[str, ModelBundle, str]]:
    """(row name, model, scoring method): every known method of the main model, then the ablations: the
    paper's denoising-only training, and the main CRRN without cluster outliers (what that rule adds,
    crrn/experiments/ablations.py)."""
    main = bundles["crrn"]
    rows = [(m, main, m) for m in METHODS if m in main.thresholds]
    return [
        *rows,
        (ABLATION, bundles[ABLATION], "crrn"),
        (NO_CLUSTER, without_clusters(main), "crrn"),
    ]


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def table_markdown(result: dict[str, Any]) -> str:
    rows = result["methods"]
    lines = [
        "# Experiment 4: unseen anomaly families, pad F1 at the deployed limits (`spi-crrn score` alarms)",
        "",
        "| family | " + " | ".join(rows) + " |",
        "| --- | " + " | ".join("---" for _ in rows) + " |",
    ]
    for fam, by_method in result["families"].items():
        cells = [f"{_fmt(by_method[m]['f1'])} ({_fmt(by_method[m]['delay_boards'])})" for m in rows]
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    clean = result["clean"]
    lines.append("| clean: boards with any alarm | " + " | ".join(_fmt(clean[m]["any"]) for m in rows) + " |")
    lines.append(
        "| clean: boards with a false alarm | " + " | ".join(_fmt(clean[m]["false"]) for m in rows) + " |"
    )
    lines += [
        "",
        "Cells: pad F1 (detection delay in boards after the first board with a true pad; - = never).",
        "Clean rows: share of the clean run's boards with any alarm / with an alarm on a pad that is not "
        "one of the simulator's natural defects.",
        f"Settings: {result['settings']}; {result['seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def run(quick: bool, out_dir: Path, settings: Exp4Settings | None = None) -> dict[str, Any]:
    started = time.monotonic()
    settings = settings or (Exp4Settings.quick() if quick else Exp4Settings())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundles = train_models(settings, out_dir)
    rows = methods_of(bundles)
    sims = simulate_runs(
        settings.layout,
        settings.boards_per_run,
        [() for _ in range(len(FAMILIES) + 1)],
        first_printer=settings.printer,
    )
    families: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(FAMILIES):
        spec = FamilySpec(
            name, onset=settings.onset, amplitude=settings.amplitude, ramp=settings.clogging_ramp
        )
        fr = family_run(spec, sims[k], [settings.seed, 0xE4, k])
        care = fr.effect.care & ~fr.natural
        families[name] = {}
        for row, bundle, method in rows:
            alarm = board_alarms(fr.boards, bundle, method)
            families[name][row] = family_metrics(alarm, fr.effect.labels, care, settings.onset)
        log.info("family %s: %s", name, {r: families[name][r]["f1"] for r in families[name]})
    clean_run = sims[-1]
    natural = np.stack([t.labels != 0 for t in clean_run.truths])
    clean: dict[str, dict[str, float]] = {}
    for row, bundle, method in rows:
        alarm = board_alarms(clean_run.boards, bundle, method) != 0
        clean[row] = {
            "any": float(alarm.any(axis=1).mean()),
            "false": float((alarm & ~natural).any(axis=1).mean()),
        }
    result = {
        "families": families,
        "clean": clean,
        "methods": [r for r, _, _ in rows],
        "model_versions": {name: b.version for name, b in bundles.items()},
        "thresholds": {r: b.thresholds_for(m).to_dict() for r, b, m in rows},
        "settings": settings.__dict__,
        "seconds": time.monotonic() - started,
        "quick": quick,
    }
    (out_dir / "experiment4.json").write_text(json.dumps(result, indent=1, default=str))
    (out_dir / "table.md").write_text(table_markdown(result))
    return {"out_dir": str(out_dir), "families": families, "clean": clean, "seconds": result["seconds"]}
