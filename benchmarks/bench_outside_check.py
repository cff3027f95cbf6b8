"""Benchmark: score injected boards the way an outside checker would, through `spi-crrn score`.

Usage:
  .venv/bin/python benchmarks/bench_outside_check.py --model MODEL --train TRAIN --test TEST --work DIR
      [--methods crrn pad_zscore statistical] [--settings NAME ...] [--threads 1] [--seed 0]

TRAIN: the normal boards the model was trained on (only used for each pad's mean and std, as a checker
would compute them: plain std, not the model's robust scale). TEST: later normal boards of the same
printer and recipe. For every setting, each test board gets its own random anomalous pads and only the
named channel is changed (no model code is used for the injection):
  stdK_paP_{pos,neg}:  volume_pct += +-K * pad_std on P % of the pads
  relR_paP_{pos,neg}:  volume_pct *= 1 +- R/100 on P % of the pads
  relR_paP_mixed:      the same with a random sign per pad
  heightR_paP:         height_um *= 1 + R/100 on P % of the pads, volume unchanged (no label: any alarm
                       is a false alarm, since alarms are about volume)
  clean:               no change (alarm rate on normal boards)
Then `spi-crrn score --method M` writes the per-pad alarms, and the `alarm` column is compared with the
labels: a pad counts as detected when alarm != "none"; precision, recall and F1 over all pads of all
boards; "sign ok" = share of detected anomalous pads whose alarm has the injected sign.
Prints one line per (setting, method) and writes DIR/results.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from crrn.data import read_boards
from crrn.data.files import write_boards
from crrn.sim.injections import anomaly_mask

DEFAULT_SETTINGS = (
    "clean",
    "std5_pa10_pos",
    "std5_pa10_neg",
    "std5_pa50_pos",
    "std5_pa50_neg",
    "rel40_pa10_pos",
    "rel40_pa10_neg",
    "rel40_pa30_neg",
    "rel40_pa5_mixed",
    "rel20_pa10_pos",
    "rel20_pa10_neg",
    "height40_pa10",
)
PATTERN = re.compile(r"^(clean)$|^(std|rel|height)([0-9.]+)_pa([0-9.]+)(?:_(pos|neg|mixed))?$")


def inject(
    boards: list, setting: str, pad_std: np.ndarray, rng: np.random.Generator
) -> tuple[list, np.ndarray]:
    """(injected boards, labels (N, P) int8 in each board's pad order: +1 / -1 / 0)."""
    m = PATTERN.match(setting)
    if m is None:
        raise SystemExit(
            f"--settings {setting}: expected clean, stdK_paP_pos|neg, relR_paP_pos|neg|mixed, heightR_paP"
        )
    n, p = len(boards), boards[0].n_pads
    if m.group(1):
        return boards, np.zeros((n, p), dtype=np.int8)
    kind, size, pa, sign = m.group(2), float(m.group(3)), float(m.group(4)) / 100, m.group(5)
    hit = anomaly_mask((n, p), rng, pa)  # (N, P) exactly round(pa * P) pads per board
    signs = {"pos": np.ones((n, p)), "neg": -np.ones((n, p)), None: np.ones((n, p))}.get(sign)
    if sign == "mixed":
        signs = np.where(rng.random((n, p)) < 0.5, -1.0, 1.0)
    assert signs is not None
    out = []
    for i, b in enumerate(boards):
        vol, height = b.pads.volume_pct.copy(), b.pads.height_um.copy()
        h = hit[i]
        if kind == "std":
            vol[h] = np.maximum(vol[h] + signs[i, h] * size * pad_std[h], 0.0)
        elif kind == "rel":
            vol[h] = vol[h] * (1.0 + signs[i, h] * size / 100)
        else:
            height[h] = height[h] * (1.0 + size / 100)
        out.append(replace(b, pads=replace(b.pads, volume_pct=vol, height_um=height)))
    labels = np.zeros((n, p), dtype=np.int8) if kind == "height" else (hit * signs).astype(np.int8)
    return out, labels


def evaluate(scores_path: Path, boards: list, labels: np.ndarray) -> dict[str, float]:
    import pyarrow.parquet as pq

    t = pq.read_table(scores_path, columns=["event_id", "pad_id", "alarm"]).to_pydict()
    codes = {"excessive": 1, "insufficient": -1, "none": 0}
    alarm = np.array([codes[a] for a in t["alarm"]], dtype=np.int8)
    truth = {}
    for b, lab in zip(boards, labels, strict=True):
        truth[b.event_id] = dict(zip(b.pads.pad_id.astype(str), lab, strict=True))
    y = np.array([truth[e][p] for e, p in zip(t["event_id"], t["pad_id"], strict=True)], dtype=np.int8)
    pred, pos = alarm != 0, y != 0
    tp = int((pred & pos).sum())
    precision = tp / max(int(pred.sum()), 1)
    recall = tp / max(int(pos.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    sign_ok = float((alarm[pred & pos] == y[pred & pos]).mean()) if tp else float("nan")
    return {
        "pads": len(y),
        "boards_scored": len(set(t["event_id"])),
        "alarm_rate": float(pred.mean()),
        "precision": precision,
        "recall": recall,
        "f1": f1 if pos.any() else float("nan"),
        "sign_ok": sign_ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", required=True, help="normal training boards (pad mean/std)")
    parser.add_argument("--test", required=True, help="later normal boards to inject into")
    parser.add_argument("--work", required=True, help="folder for injected boards and scores")
    parser.add_argument("--methods", nargs="+", default=["crrn", "pad_zscore", "statistical"])
    parser.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    train = read_boards(args.train)
    test = read_boards(args.test)
    ids = train[0].pads.pad_id
    if any(not np.array_equal(b.pads.pad_id, ids) for b in (*train, *test)):
        raise SystemExit("all boards must list the same pads in the same order (one recipe)")
    pad_std = np.stack([b.pads.volume_pct for b in train]).std(axis=0)  # (P,)
    results: dict[str, dict[str, dict[str, float]]] = {}
    spi = str(Path(sys.executable).with_name("spi-crrn"))
    for k, setting in enumerate(args.settings):
        boards, labels = inject(test, setting, pad_std, np.random.default_rng([args.seed, k]))
        path = work / f"{setting}.parquet"
        write_boards(path, boards)
        for method in args.methods:
            out = work / f"{setting}.{method}.scores.parquet"
            started = time.monotonic()
            subprocess.run(
                [spi, "score", "--model", args.model, "--input", str(path), "--output", str(out),
                 "--method", method, "--threads", str(args.threads)],
                check=True, capture_output=True,
            )  # fmt: skip
            r = evaluate(out, boards, labels)
            r["seconds"] = round(time.monotonic() - started, 1)
            results.setdefault(setting, {})[method] = r
            print(
                f"{setting:18s} {method:12s} P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f} "
                f"alarm rate {r['alarm_rate']:.4f} sign ok {r['sign_ok']:.3f} ({r['seconds']:.0f} s)",
                flush=True,
            )
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
