"""Experiment 3: naming the printer defect from anomaly maps, on unseen seeds AND unseen layouts.

Protocol (all simulated, seeded):
1. Layouts: `train_layouts` (the classifier sees their defect runs) and `test_layouts` (it never does).
   The CRRN is trained on NORMAL boards of all of them (printers 1-2): a CRRN needs a recipe's layout and
   per-pad normalization, which a plant fits on normal boards of every recipe it runs.
2. The classifier is trained on CRRN anomaly maps of defect runs (printers from 3 on) on the layouts of its
   `ClassifierTrainingConfig`: the train layouts plus further simulated layouts that the CRRN never saw
   (added with their own layout and normalization, network unchanged), exactly as
   `spi-crrn train-classifier` does. The test layouts are in neither set (checked).
3. Held-out runs on printers >= 50 (seeds never used) of the test layouts (and, for comparison, of the
   train layouts): normal runs, each single defect, and pairs. Every run is scored like `spi-crrn score`
   and fed board by board to the decision policy.

Metrics per window (label: defect envelope |f| at the window's newest board >= 0.5 positive, < 0.2
negative, in between ignored): per-class precision/recall/F1 at probability 0.5, macro F1, exact-match
accuracy (windows with no ignored class), and a confusion table over windows with at most one true defect
(rows: true defect or "none"; columns: each predicted defect, or "none" when nothing is predicted).
Per run: detection delay in boards from the first board with |f| >= 0.5 to the last board of the window
that raised the defect's first event (negative when raised earlier), missed defects, and wrong raises
(events of defects absent from the run, normal runs included).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from crrn.diagnosis.classifier import DEFECT_CLASSES, StoredClassifier, classifier_path_for, save_classifier
from crrn.diagnosis.classifier_training import ClassifierTrainingConfig, train_classifier, window_labels
from crrn.diagnosis.hysteresis import HysteresisConfig
from crrn.diagnosis.policy import DefectPolicy
from crrn.diagnosis.runs import SimulatedRun, simulate_runs
from crrn.model_file import ModelBundle
from crrn.scoring import Scorer, score_boards
from crrn.sim.defects import DefectSpec

log = logging.getLogger(__name__)

TEST_PRINTER_OFFSET = 50  # held-out printers (process seeds) start here


@dataclass(frozen=True)
class Exp3Settings:
    train_layouts: tuple[int, ...] = (101, 102, 103, 104, 105, 106)
    test_layouts: tuple[int, ...] = (201, 202, 203)
    normal_boards: int = 200  # per printer, 2 printers per layout, for the CRRN
    crrn_minutes: float = 20.0
    runs_per_test_layout: int = 24
    seen_layouts_evaluated: int = 2  # train layouts also evaluated (unseen seeds), for comparison
    boards_per_run: int = 100
    classifier: ClassifierTrainingConfig = field(default_factory=ClassifierTrainingConfig)
    hysteresis: HysteresisConfig = field(default_factory=HysteresisConfig)
    seed: int = 0

    @classmethod
    def quick(cls) -> Exp3Settings:
        train = (101, 102, 103, 104)
        return cls(
            train_layouts=train,
            test_layouts=(201, 202),
            normal_boards=120,
            crrn_minutes=7.0,
            runs_per_test_layout=14,
            seen_layouts_evaluated=1,
            classifier=ClassifierTrainingConfig.quick(),
        )


def test_run_defects(rng: np.random.Generator, n: int, boards: int) -> list[tuple[DefectSpec, ...]]:
    """Normal runs, every single defect (clamp both signs), then pairs; every 4th run after the first
    catalogue is normal again, so false raises are measured on more than one run per layout."""
    singles: list[tuple[DefectSpec, ...]] = [(DefectSpec(name),) for name in DEFECT_CLASSES]
    singles.append((DefectSpec("clamp", sign=-1),))
    catalogue: list[tuple[DefectSpec, ...]] = [(), *singles]
    out = []
    for i in range(n):
        if i < len(catalogue):
            base = catalogue[i]
        elif i % 4 == 0:
            base = ()
        else:
            a, b = rng.choice(len(DEFECT_CLASSES), size=2, replace=False)
            base = (
                DefectSpec(DEFECT_CLASSES[a]),
                DefectSpec(DEFECT_CLASSES[b], sign=int(rng.choice([-1, 1]))),
            )
        specs = []
        for d in base:
            duration = int(rng.integers(boards // 3, boards + 1))
            start = int(rng.integers(1, max(2, boards - duration // 2)))
            specs.append(
                replace(d, start_index=start, duration=duration, amplitude=float(rng.uniform(4.0, 6.0)))
            )
        out.append(tuple(specs))
    return out


def train_crrn(settings: Exp3Settings, out_dir: Path) -> tuple[ModelBundle, Path]:
    """The CRRN on normal boards of every layout (reused from `out_dir/crrn.pt` when present)."""
    from crrn.model_training import TrainOptions, train_bundle

    path = out_dir / "crrn.pt"
    if path.is_file():
        log.info("reusing the CRRN model %s (delete it to retrain)", path)
        return ModelBundle.load(path), path
    layouts = (*settings.train_layouts, *settings.test_layouts)
    boards = [
        b for s in layouts for run in simulate_runs(s, settings.normal_boards, [(), ()]) for b in run.boards
    ]
    bundle = train_bundle(
        boards, TrainOptions(max_minutes=settings.crrn_minutes, seed=settings.seed, device="cpu")
    )
    bundle.save(path)
    return bundle, path


def _prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": int(tp + fn)}


def window_metrics(probs: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    """Per-class P/R/F1, macro F1, exact match and confusion; arrays `(M, K)`."""
    pred = probs >= 0.5
    true = targets >= 0.5
    valid = weights > 0
    per_class = {}
    for k, name in enumerate(DEFECT_CLASSES):
        v = valid[:, k]
        per_class[name] = _prf(
            float((pred[v, k] & true[v, k]).sum()), float((pred[v, k] & ~true[v, k]).sum()),
            float((~pred[v, k] & true[v, k]).sum()),
        )  # fmt: skip
    clean = valid.all(axis=1)
    exact = float((pred[clean] == true[clean]).all(axis=1).mean()) if clean.any() else float("nan")
    labels = [*DEFECT_CLASSES, "none"]
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for p_row, t_row in zip(pred[clean], true[clean], strict=True):
        if t_row.sum() > 1:
            continue
        r = int(np.flatnonzero(t_row)[0]) if t_row.any() else len(DEFECT_CLASSES)
        if p_row.any():
            confusion[r, :-1] += p_row
        else:
            confusion[r, -1] += 1
    return {
        "per_class": per_class,
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "exact_match": exact,
        "windows": len(probs),
        "windows_exact_match": int(clean.sum()),
        "confusion": {"labels": labels, "rows_true_cols_predicted": confusion.tolist()},
    }


def evaluate_runs(
    runs: list[SimulatedRun], bundle: ModelBundle, classifier: StoredClassifier, hysteresis: HysteresisConfig
) -> dict[str, Any]:
    """Window metrics, detection delays and wrong raises of `runs` through the real policy."""
    scorer = Scorer(bundle, device="cpu")
    T = int(classifier.metadata["window_length"])
    all_p, all_t, all_w = [], [], []
    delays: dict[str, list[int]] = {c: [] for c in DEFECT_CLASSES}
    missed: dict[str, int] = dict.fromkeys(DEFECT_CLASSES, 0)
    wrong: list[dict[str, Any]] = []
    normal_runs_with_events = 0
    for run in runs:
        policy = DefectPolicy(
            classifier, {r: m.layout for r, m in bundle.recipes.items()}, scorer.thresholds, bundle.version,
            hysteresis,
        )  # fmt: skip
        scores = sorted(score_boards(run.boards, scorer, bundle.window_length, bundle.window_hop),
                        key=lambda s: s.print_index)  # fmt: skip
        step = policy.step(scores)
        env = run.defect_envelope(DEFECT_CLASSES)  # (N, K)
        tgt, wgt = window_labels(env, T, 0.5, 0.2)
        all_p.append(step.probabilities)
        all_t.append(tgt)
        all_w.append(wgt)
        present = {d.name for d in run.defects}
        index = np.array([b.print_index for b in run.boards])
        raised = [e for e in step.events if e.state == "raised"]
        if not present and raised:
            normal_runs_with_events += 1
        for e in raised:
            if e.defect not in present:
                wrong.append({"printer": run.printer_id, "layout": run.recipe_id, "defect": e.defect,
                              "present": sorted(present), "at": e.last_print_index})  # fmt: skip
        for k, name in enumerate(DEFECT_CLASSES):
            if name not in present:
                continue
            above = np.flatnonzero(env[:, k] >= 0.5)
            if not above.size:
                continue
            onset = int(index[above[0]])
            first = next((e for e in raised if e.defect == name), None)
            if first is None:
                missed[name] += 1
            else:
                delays[name].append(first.last_print_index - onset)
    metrics = window_metrics(np.concatenate(all_p), np.concatenate(all_t), np.concatenate(all_w))
    flat = [d for v in delays.values() for d in v]
    metrics["detection"] = {
        "delay_boards_per_defect": {k: _summary(v) for k, v in delays.items()},
        "delay_boards_all": _summary(flat),
        "median_delay_windows": (float(np.median(flat)) / T) if flat else None,
        "window_length": T,
        "missed": missed,
        "wrong_raises": wrong,
        "normal_runs": sum(1 for r in runs if not r.defects),
        "normal_runs_with_events": normal_runs_with_events,
    }
    return metrics


def _summary(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    a = np.array(values)
    return {"n": int(a.size), "median": float(np.median(a)), "mean": float(a.mean()), "min": int(a.min()),
            "max": int(a.max())}  # fmt: skip


def held_out_runs(layouts: tuple[int, ...], settings: Exp3Settings, salt: int) -> list[SimulatedRun]:
    runs = []
    for s in layouts:
        rng = np.random.default_rng([settings.seed, s, salt])
        defects = test_run_defects(rng, settings.runs_per_test_layout, settings.boards_per_run)
        runs += simulate_runs(s, settings.boards_per_run, defects, first_printer=TEST_PRINTER_OFFSET)
    return runs


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Experiment 3: printer-defect classification", ""]
    for split in ("unseen_layouts", "seen_layouts_unseen_seeds"):
        m = result[split]
        det = m["detection"]
        lines += [
            f"## {split.replace('_', ' ')}",
            "",
            f"macro F1 **{m['macro_f1']:.3f}**, exact-match accuracy **{m['exact_match']:.3f}** "
            f"({m['windows']} windows, {m['windows_exact_match']} without an ignored class)",
            "",
            "| defect | precision | recall | F1 | positive windows | median delay (boards) | missed |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, c in m["per_class"].items():
            d = det["delay_boards_per_defect"][name]
            lines.append(
                f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} | "
                f"{d.get('median', 'n/a')} | {det['missed'][name]} |"
            )
        lines += [
            "",
            f"Detection delay over all defects: {det['delay_boards_all']} boards; median "
            f"{det['median_delay_windows']} windows of T = {det['window_length']} boards. Normal runs with a "
            f"(false) event: {det['normal_runs_with_events']} of {det['normal_runs']}; "
            "events naming a defect "
            f"absent from the run: {len(det['wrong_raises'])}.",
            "",
            "Confusion (rows true, columns predicted; windows with at most one true defect):",
            "",
            "| true \\ predicted | " + " | ".join(m["confusion"]["labels"]) + " |",
            "| --- " * (len(m["confusion"]["labels"]) + 1) + "|",
        ]
        for label, row in zip(
            m["confusion"]["labels"], m["confusion"]["rows_true_cols_predicted"], strict=True
        ):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
    lines += ["## Settings", "", "```json", json.dumps(result["settings"], indent=1, default=str), "```", ""]
    return "\n".join(lines)


def run(quick: bool, out_dir: Path, settings: Exp3Settings | None = None) -> dict[str, Any]:
    started = time.monotonic()
    settings = settings or (Exp3Settings.quick() if quick else Exp3Settings())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    overlap = set(settings.test_layouts) & set(settings.classifier.layouts)
    if overlap:
        raise ValueError(f"test_layouts {sorted(overlap)} are also classifier training layouts")
    bundle, model_path = train_crrn(settings, out_dir)
    crrn_s = time.monotonic() - started
    model, metadata = train_classifier(bundle, settings.classifier)
    save_classifier(classifier_path_for(model_path), model, metadata)
    stored = StoredClassifier(model, metadata)
    train_s = time.monotonic() - started - crrn_s
    result: dict[str, Any] = {
        "unseen_layouts": evaluate_runs(
            held_out_runs(settings.test_layouts, settings, 0xE3), bundle, stored, settings.hysteresis
        ),
        "seen_layouts_unseen_seeds": evaluate_runs(
            held_out_runs(settings.train_layouts[: settings.seen_layouts_evaluated], settings, 0xE4),
            bundle,
            stored,
            settings.hysteresis,
        ),
        "crrn_model_version": bundle.version,
        "thresholds": bundle.thresholds_for("crrn").to_dict(),
        "seconds": {"crrn": crrn_s, "classifier": train_s, "total": time.monotonic() - started},
        "quick": quick,
        "settings": {
            "train_layouts": settings.train_layouts,
            "test_layouts": settings.test_layouts,
            "runs_per_test_layout": settings.runs_per_test_layout,
            "boards_per_run": settings.boards_per_run,
            "hysteresis": {k: v for k, v in settings.hysteresis.__dict__.items()},
            "classifier_training": metadata["config"],
            "classifier_epochs": metadata["training"]["epochs"],
        },
    }
    (out_dir / "experiment3.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / "experiment3.md").write_text(markdown(result))
    u = result["unseen_layouts"]
    return {
        "out_dir": str(out_dir),
        "macro_f1_unseen_layouts": u["macro_f1"],
        "exact_match_unseen_layouts": u["exact_match"],
        "median_delay_windows_unseen_layouts": u["detection"]["median_delay_windows"],
        "seconds": result["seconds"],
    }
