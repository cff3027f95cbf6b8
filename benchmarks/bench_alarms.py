"""Issue 16 check: realized board alarm share on UNSEEN printers at the board target, and process alarms.

Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_alarms.py [--minutes 3] [--seed 23]
     [--calibration-boards N] [--output results/alarms.json]

Simulates 5 printers of one recipe (500 pads, 300 boards each), trains with `train_bundle` at the
defaults (board target R = 1 %) on P01-P03 only, then scores the unseen P04 and P05 with every method
through `score_boards` (the worker's code path, process alarms included). Reported per method:
- `clean_share_any`: the share of clean boards (no pad labelled by the simulator's ground truth; its
  natural defects are real defects, correctly alarmed) carrying any alarm, beside the target R, and
  split by kind (`_outlier`, `_process`);
- `false_board_share`: the share of all boards with an alarm on a pad the truth does not label;
- for a persistent +2.5 pad std volume shift from board 150 of P04 on (a) 5 random pads and (b) the 20
  pads nearest one pad (a region): the first board (1 = the onset) with a process alarm / any alarm on
  a shifted pad, and the share of shifted pads alarmed after the onset and after 10 boards.
`--calibration-boards N`: the training printers print N more boards (after those trained on), the SAME
trained model is recalibrated on them (`recalibrate`, as `spi-crrn calibrate` does) and everything is
reported again under `methods_recalibrated`: whether more held-out boards of the training printers
(less per-pad center error) or something printer-specific sets the unseen printers' false alarms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crrn.board_scores import ALARM_TYPE_OUTLIER, ALARM_TYPE_PROCESS, BoardScores
from crrn.model_file import ModelBundle
from crrn.model_training import TrainOptions, recalibrate, train_bundle
from crrn.normalization import VOLUME_CHANNEL
from crrn.scoring import Scorer, score_boards
from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.inspection import BoardInspection

ONSET = 150
SHIFT = 2.5


def cluster_only(s: BoardScores) -> bool:
    """A pad alarmed as a member of a cluster outlier that the single-pad limits did not call."""
    if s.cluster is None:
        return False
    single = (s.score >= s.thresholds.excessive) | (s.score <= s.thresholds.insufficient)
    return bool(((s.cluster != 0) & ~single).any())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--pads", type=int, default=500)
    ap.add_argument("--boards", type=int, default=300)
    ap.add_argument("--calibration-boards", type=int, default=0)
    ap.add_argument("--output", default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    started = time.monotonic()
    # the simulation is prefix-stable: more boards per printer leave the first ones unchanged
    spec = FleetSpec(printers=5, pads=args.pads, boards_per_printer=args.boards + args.calibration_boards)
    fleet = list(simulate_fleet(spec, seed=args.seed))
    truth = {b.event_id: t for b, t in fleet}
    trained_on = ("P01", "P02", "P03")
    train = [b for b, _ in fleet if b.printer_id in trained_on and b.print_index <= args.boards]
    extra = [b for b, _ in fleet if b.printer_id in trained_on and b.print_index > args.boards]
    unseen = [b for b, _ in fleet if b.printer_id in ("P04", "P05") and b.print_index <= args.boards]
    bundle = train_bundle(train, TrainOptions(max_minutes=args.minutes, device="cpu"))
    recipe = bundle.recipes[unseen[0].recipe_id]
    rng = np.random.default_rng(args.seed)
    few = rng.choice(recipe.layout.n_pads, 5, replace=False)  # canonical pad indexes
    first = unseen[0]
    xy = np.stack([first.pads.x_mm, first.pads.y_mm], axis=1)[recipe.layout.for_board(first)]  # canonical
    centre = int(rng.integers(recipe.layout.n_pads))
    region = np.argsort(((xy - xy[centre]) ** 2).sum(axis=1))[:20]

    def shifted(b: BoardInspection, pads: np.ndarray) -> BoardInspection:
        if b.printer_id != "P04" or b.print_index < ONSET:
            return b
        order = recipe.layout.for_board(b)
        vol = b.pads.volume_pct.copy()
        vol[order[pads]] += SHIFT * recipe.normalizer.scale[VOLUME_CHANNEL, pads]
        return dataclasses.replace(b, pads=dataclasses.replace(b.pads, volume_pct=vol))

    out: dict[str, Any] = {
        "seed": args.seed,
        "pads": args.pads,
        "boards_per_printer": args.boards,
        "train_printers": list(trained_on),
        "unseen_printers": ["P04", "P05"],
        "board_false_alarm_rate": bundle.metrics["calibration"]["crrn"]["board_false_alarm_rate"],
        "heldout_boards": bundle.metrics["calibration"]["crrn"]["heldout_boards"],
        "methods": evaluate(bundle, unseen, truth, shifted, few, region),
    }
    if extra:
        again = recalibrate(bundle, extra, seed=args.seed, device="cpu")
        out["calibration_boards"] = again.metrics["calibration"]["crrn"]["heldout_boards"]
        out["methods_recalibrated"] = evaluate(again, unseen, truth, shifted, few, region)
    out["seconds"] = round(time.monotonic() - started)
    text = json.dumps(out, indent=1)
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text + "\n")


def evaluate(
    bundle: ModelBundle,
    unseen: list[BoardInspection],
    truth: dict[str, Any],
    shifted: Callable[[BoardInspection, np.ndarray], BoardInspection],
    few: np.ndarray,
    region: np.ndarray,
) -> dict[str, Any]:
    """Every method of `bundle` on the unseen printers: clean-board alarm shares and the two shifts."""
    recipe = bundle.recipes[unseen[0].recipe_id]
    methods: dict[str, Any] = {}
    for method in ("crrn", "pad_zscore_board", "pad_zscore", "statistical"):
        scorer = Scorer(bundle, device="cpu", method=method)
        scored = list(score_boards(unseen, scorer, bundle.window_length, bundle.window_hop))
        clean = [s for s in scored if not truth[s.event_id].labels.any()]

        def share(flags: list[bool]) -> float:
            return float(np.mean(flags)) if flags else float("nan")

        res: dict[str, Any] = {
            "thresholds": bundle.thresholds[method].to_dict(),
            "process_limit": bundle.evidence[method].limit,
            "cluster_limits": None if (c := bundle.evidence[method].cluster) is None else c.to_dict(),
            "boards": len(scored),
            "clean_boards": len(clean),
            "clean_share_any": share([s.n_alarms > 0 for s in clean]),
            "clean_share_outlier": share([bool((s.alarm_type == ALARM_TYPE_OUTLIER).any()) for s in clean]),
            "clean_share_process": share([bool((s.alarm_type == ALARM_TYPE_PROCESS).any()) for s in clean]),
            "clean_share_cluster": share([cluster_only(s) for s in clean]),
            "clean_share_any_per_printer": {
                p: share([s.n_alarms > 0 for s in clean if s.printer_id == p]) for p in ("P04", "P05")
            },
            "false_board_share": float(
                np.mean([((s.alarm != 0) & (truth[s.event_id].labels == 0)).any() for s in scored])
            ),
        }
        for name, pads in (("shift_5_pads", few), ("shift_region_20_pads", region)):
            boards = [shifted(b, pads) for b in unseen if b.printer_id == "P04"]
            proc_at = any_at = None
            hits: list[float] = []
            for s in score_boards(boards, scorer, bundle.window_length, bundle.window_hop):
                if s.print_index < ONSET:
                    continue
                at = recipe.layout.for_board(s.board)[pads]  # the shifted pads in the board's order
                hits.append(float((s.alarm[at] > 0).mean()))
                k = s.print_index - ONSET + 1
                if proc_at is None and s.process is not None and (s.process[at] > 0).any():
                    proc_at = k
                if any_at is None and (s.alarm[at] > 0).any():
                    any_at = k
            res[name] = {
                "first_process_alarm_board": proc_at,
                "first_alarm_board": any_at,
                "share_shifted_pads_alarmed": float(np.mean(hits)),
                "share_shifted_pads_alarmed_after_10_boards": float(np.mean(hits[10:])),
            }
        methods[method] = res
        print(method, json.dumps(res), flush=True)
    return methods


if __name__ == "__main__":
    main()
