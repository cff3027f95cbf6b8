"""Hop study (issue 15): what scoring a window every `hop` boards costs in detection, on Experiments 1 and 2.

With hop h a printer's window of the last T boards is scored every h new boards and scores those h
(crrn/windowing.py); the network decodes only them (crrn/reconstruction.py `newest`). Model work per
board is then about (2 T + T + h) / h frame steps for two-pass scoring: it grows with T at h = 1 and is
flat in T at h proportional to T (h = T: about 4 steps per board whatever T). The price is delay: a
board waits for up to h - 1 later boards of its printer before it is scored.

Per hop, the SAME trained network is recalibrated on the SAME held-out normal boards with that hop
(`crrn.model_training.recalibrate`, the deployed board-level rule), so every difference comes from the
hop itself, not from training or calibration noise:
- Experiment 1 (crrn.experiments.exp1, quick settings, CRRN variant only): pad F1 at the calibrated
  limits and at the best threshold, |mu| 5 and 2.5, both signs, Pa 0.1..0.5, on fresh injections.
- Experiment 2 (crrn.experiments.exp2, quick settings): recall of the deployed alarms (board outliers and
  process alarms) at f(t) >= 0.5 for the six defect runs, and the share of boards with any alarm on the
  normal runs of the same printers.
Results: `hop_study.json` in out_dir, the trained models under out_dir/models (reused when present).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from crrn.model_file import ModelBundle

log = logging.getLogger(__name__)


def _exp1(hops: list[int], quick: bool, model_dir: Path) -> dict[str, Any]:
    from crrn.experiments import exp1
    from crrn.experiments.exp1_report import evaluate_cell, mu_key, ratio_key, sign_of
    from crrn.model_training import TrainOptions, recalibrate, segments_by_printer, split_segment

    s = replace(exp1.Exp1Settings.quick() if quick else exp1.Exp1Settings(), variants=("crrn",))
    train, test = exp1.simulate_boards(s)
    exp1_dir = model_dir / "exp1"  # train_variants saves exp1_dir/crrn.pt
    exp1_dir.mkdir(parents=True, exist_ok=True)
    path = exp1_dir / "crrn.pt"
    bundle = ModelBundle.load(path) if path.is_file() else exp1.train_variants(s, train, exp1_dir)[0]["crrn"]
    opts = TrainOptions()
    held = [
        b
        for seg in segments_by_printer(train)
        for b in split_segment(seg, opts.train_fraction, opts.val_fraction)[2].boards
    ]
    (rid,) = {b.recipe_id for b in test}
    out: dict[str, Any] = {}
    for hop in hops:
        started = time.monotonic()
        b = recalibrate(replace(bundle, window_hop=hop), held, seed=s.seed, device=s.device)
        t = b.thresholds_for("crrn")
        cells: dict[str, Any] = {}
        for mu in s.mus:
            for sign in ("excessive", "insufficient"):
                for ratio in s.ratios:
                    rng = np.random.default_rng(
                        [s.seed, 0x7E57, int(mu * 100), sign_of(sign) + 1, round(ratio * 100), 0]
                    )
                    boards, labels = exp1.inject_boards(
                        test, b.recipe(rid), rng, ratio, sign_of(sign) * mu, s.sigma
                    )
                    scores = exp1.score_matrix(b, "crrn", boards, s.device)  # (N, P)
                    cal = t.excessive if sign == "excessive" else t.insufficient
                    cell = evaluate_cell(scores, labels, sign, cal)
                    cells[f"{mu_key(mu)}/{sign}/{ratio_key(ratio)}"] = {
                        "f1_calibrated": cell.f1_calibrated,
                        "f1_best": cell.f1_best,
                    }
        out[str(hop)] = {"thresholds": t.to_dict(), "cells": cells, "seconds": time.monotonic() - started}
        log.info("exp1 hop %d: %.0f s", hop, time.monotonic() - started)
    return out


def _exp2(hops: list[int], quick: bool, model_dir: Path) -> dict[str, Any]:
    from crrn.diagnosis.runs import simulate_runs
    from crrn.experiments import exp2
    from crrn.model_training import recalibrate

    s = exp2.Exp2Settings.quick() if quick else exp2.Exp2Settings()
    exp2_dir = model_dir / "exp2"
    exp2_dir.mkdir(parents=True, exist_ok=True)
    bundle, _ = exp2.train_crrn(s, exp2_dir)
    # fresh normal printers for calibration: beyond the defect runs' printers, never trained on
    first = s.printer + 20
    calib = [
        b
        for run in simulate_runs(s.layout, s.normal_boards, [(), ()], first_printer=first)
        for b in run.boards
    ]
    defects = exp2.defect_runs(s)
    normals = exp2.normal_runs(s)
    out: dict[str, Any] = {}
    for hop in hops:
        started = time.monotonic()
        b = recalibrate(replace(bundle, window_hop=hop), calib, seed=s.seed, device="cpu")
        cases: dict[str, Any] = {}
        for case, run_ in defects.items():
            name = run_.defects[0].name
            strong = np.abs(run_.defect_severity(name)) >= 0.5
            _, deployed, _ = exp2.method_scores(run_, b, "crrn")
            recall, _ = exp2.recall_per_board(run_, deployed, name)
            _, normal_deployed, _ = exp2.method_scores(normals[case], b, "crrn")
            cases[case] = {
                "recall_at_f_ge_0.5": float(np.nanmean(recall[strong])),
                "normal_boards_with_alarm": float((normal_deployed != 0).any(axis=1).mean()),
            }
        out[str(hop)] = {"cases": cases, "seconds": time.monotonic() - started}
        log.info("exp2 hop %d: %s", hop, {c: round(v["recall_at_f_ge_0.5"], 3) for c, v in cases.items()})
    return out


def run(quick: bool, out_dir: Path, hops: list[int] | None = None) -> dict[str, Any]:
    """Both studies at `hops` (default 1, T/2, T with T = 10); writes out_dir/hop_study.json."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    model_dir = out_dir / "models"
    model_dir.mkdir(parents=True, exist_ok=True)
    hops = hops or [1, 5, 10]
    result = {
        "hops": hops,
        "quick": quick,
        "experiment1": _exp1(hops, quick, model_dir),
        "experiment2": _exp2(hops, quick, model_dir),
    }
    result["seconds"] = time.monotonic() - started
    (out_dir / "hop_study.json").write_text(json.dumps(result, indent=1))
    return result
