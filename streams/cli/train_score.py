"""`spi-crrn train | calibrate | score`: the CRRN model from files. Argument parsing and file IO only;
the work is in crrn/model_training.py and crrn/scoring.py. Heavy libraries are imported in the handlers.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crrn.thresholds import DEFAULT_BOARD_FALSE_ALARM_RATE, DEFAULT_FALSE_ALARM_RATE
from streams.cli.diagnosis import add_policy_arguments, policy_config_from_args

if TYPE_CHECKING:
    from crrn.scoring import BoardScores
    from schemas.inspection import BoardInspection

log = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "event_id", "board_id", "printer_id", "print_index", "pad_id", "score", "alarm",
    "alarm_type", "evidence", "evidence_boards",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a CRRN model on normal boards and calibrate its thresholds",
        description=(
            "Read normal boards, build per-recipe layouts and normalization, train the network on the "
            "first part of every printer's boards, calibrate alarm thresholds on held-out boards (control "
            "limits at a false-alarm rate, or best F1 on synthetic anomalies), and write one model file."
        ),
    )
    train.add_argument("--input", required=True, help="normal boards (.jsonl or .parquet)")
    train.add_argument("--output", required=True, help="model file to write")
    train.add_argument("--config", choices=("cpu", "paper"), default="cpu", help="network size preset")
    train.add_argument("--variant", choices=("crrn", "crrn_noattn", "crae", "crae_noattn"), default="crrn")
    train.add_argument("--max-minutes", type=float, default=10.0, help="wall-clock budget (default 10)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--window", type=int, default=None, help="T: boards per window (default: WINDOW_LENGTH, 10)"
    )
    train.add_argument(
        "--hop", type=int, default=None, help="boards between windows when scoring (default: WINDOW_HOP, 1)"
    )
    train.add_argument(
        "--epochs",
        type=int,
        default=100,
        help="maximum epochs (default 100: early stopping or --max-minutes usually ends training first)",
    )
    train.add_argument(
        "--batch-size", type=int, default=None, help="windows per step (default: 4 on CPU, 16 on CUDA)"
    )
    train.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    train.add_argument(
        "--patience", type=int, default=10, help="epochs without validation improvement before stopping"
    )
    train.add_argument(
        "--min-delta",
        type=float,
        default=0.005,
        help="relative validation-loss improvement that counts for early stopping (default 0.005)",
    )
    corruption = train.add_argument_group("training corruption (synthetic anomalies on normal boards)")
    corruption.add_argument(
        "--denoising-only",
        action="store_true",
        help="the paper's denoising only (noise + input dropout): no shifted pads, no structured regions, "
        "no hidden suspects (one-pass scoring); overrides the options below (an ablation)",
    )
    corruption.add_argument(
        "--anomaly-board-prob", type=float, default=0.5, help="share of training boards with anomalies"
    )
    corruption.add_argument(
        "--anomaly-max-ratio", type=float, default=0.5, help="anomalous pads per board: U(0, this)"
    )
    corruption.add_argument(
        "--anomaly-mu",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=(2.0, 8.0),
        help="anomaly size U(LOW, HIGH) in per-pad std units (default 2 8)",
    )
    corruption.add_argument(
        "--anomaly-volume-only-prob",
        type=float,
        default=0.5,
        help="share of anomalous boards (training and calibration) that shift volume only (default 0.5)",
    )
    corruption.add_argument(
        "--anomaly-height-only-prob",
        type=float,
        default=0.15,
        help="share of anomalous training boards that shift height only (default 0.15)",
    )
    corruption.add_argument(
        "--structured-prob",
        type=float,
        default=0.6,
        help="share of training windows with one regional shift: blob, stripe or edge band (default 0.6)",
    )
    corruption.add_argument(
        "--hide-suspects-prob",
        type=float,
        default=0.5,
        help="share of training windows whose corrupted pads are hidden, so scoring can hide the pads it "
        "suspects and reconstruct them from context (two passes; 0 = one-pass model; default 0.5)",
    )
    corruption.add_argument(
        "--hide-level",
        type=float,
        default=1.5,
        help="first-pass |score| (per-pad std units) from which a pad is hidden in the second pass "
        "(default 1.5)",
    )
    corruption.add_argument(
        "--calibration-mu",
        type=float,
        nargs="+",
        default=(4.0, 5.0),
        help="anomaly sizes (pad std units) pooled by the best-F1 search (default 4 5)",
    )
    _add_rule_arguments(train, "held-out")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    train.set_defaults(func=_user_errors(_train))

    cal = subparsers.add_parser(
        "calibrate",
        help="recalibrate a model's alarm thresholds on normal boards not used in training",
    )
    cal.add_argument("--model", required=True, help="model file (rewritten unless --output is given)")
    cal.add_argument("--input", required=True, help="normal boards (.jsonl or .parquet)")
    cal.add_argument("--output", default=None, help="write the recalibrated model here instead")
    cal.add_argument("--seed", type=int, default=0)
    cal.add_argument(
        "--hop",
        type=int,
        default=None,
        help="score a window every HOP boards from now on (stored in the model; the limits are "
        "calibrated for it). Default: keep the model's. HOP = T makes the model work per board flat in "
        "T at a publish delay of up to HOP - 1 boards (docs/performance.md)",
    )
    _add_rule_arguments(cal, "input's")
    cal.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    cal.set_defaults(func=_user_errors(_calibrate))

    score = subparsers.add_parser(
        "score",
        help="score boards offline, exactly as the streaming worker does (one row per pad)",
    )
    score.add_argument("--model", required=True, help="model file")
    score.add_argument("--input", required=True, help="boards (.jsonl or .parquet)")
    score.add_argument("--output", required=True, help="scores (.parquet)")
    score.add_argument(
        "--method", choices=("crrn", "statistical", "pad_zscore", "pad_zscore_board"), default="crrn"
    )
    score.add_argument("--window", type=int, default=None, help="T (default: the model's)")
    score.add_argument("--hop", type=int, default=None, help="hop (default: the model's)")
    score.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    score.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    score.add_argument(
        "--defects-output",
        default=None,
        help="also write printer-defect events (spi.printer_defect.v1, JSONL), as the worker sends them; "
        "needs MODEL.classifier.pt (spi-crrn train-classifier)",
    )
    add_policy_arguments(score)
    score.set_defaults(func=_user_errors(_score))


def _user_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad input (files, recipes, options) ends with one clear line on stderr and exit status 2."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (ValueError, KeyError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"spi-crrn {args.command}: error: {message}", file=sys.stderr)
            return 2

    return run


def _read_boards(path: str) -> list[BoardInspection]:
    from crrn.data import read_boards

    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"--input {path}: no such file")
    return list(read_boards(p))


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))


def _train(args: argparse.Namespace) -> int:
    from crrn.model_training import TrainOptions, train_bundle
    from streams.settings import Settings

    started = time.monotonic()
    # T and hop are stored in the model; the worker and `score` take them from there.
    settings = Settings.from_env(window_length=args.window, window_hop=args.hop)
    _set_threads(args.threads)
    options = TrainOptions(
        config=args.config,
        variant=args.variant,
        window=settings.window_length,
        hop=settings.window_hop,
        max_minutes=args.max_minutes,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        min_delta=args.min_delta,
        anomaly_board_prob=args.anomaly_board_prob,
        anomaly_max_ratio=args.anomaly_max_ratio,
        anomaly_mu=(args.anomaly_mu[0], args.anomaly_mu[1]),
        anomaly_volume_only_prob=args.anomaly_volume_only_prob,
        anomaly_height_only_prob=args.anomaly_height_only_prob,
        structured_prob=args.structured_prob,
        hide_suspects_prob=args.hide_suspects_prob,
        hide_level=args.hide_level,
        calibration_volume_only_prob=args.anomaly_volume_only_prob,
        calibration_mus=tuple(args.calibration_mu),
        calibration_rule=_rule(args),
        calibration_false_alarm_rate=args.false_alarm_rate or DEFAULT_FALSE_ALARM_RATE,
        board_false_alarm_rate=args.board_false_alarm_rate,
        denoising_only=args.denoising_only,
        device=args.device,
    )
    boards = _read_boards(args.input)
    elapsed_min = (time.monotonic() - started) / 60.0  # reading counts against the budget
    options = TrainOptions(
        **{**options.__dict__, "max_minutes": max(options.max_minutes - elapsed_min, 0.01)}
    )
    bundle = train_bundle(boards, options, progress=log.info)
    path = bundle.save(args.output)
    log.info("wrote %s (model_version %s)", path, bundle.version)
    return 0


def _add_rule_arguments(parser: argparse.ArgumentParser, boards: str) -> None:
    """--board-false-alarm-rate, and --false-alarm-rate / --best-f1: the calibration rule
    (crrn/thresholds.py, docs/alarms.md)."""
    group = parser.add_argument_group("alarm limits (docs/alarms.md)")
    group.add_argument(
        "--board-false-alarm-rate",
        type=float,
        default=DEFAULT_BOARD_FALSE_ALARM_RATE,
        metavar="R",
        help=f"share of a healthy printer's boards that may carry any alarm (default "
        f"{DEFAULT_BOARD_FALSE_ALARM_RATE:g}), split half to board outliers, half to process alarms; "
        f"limits from the per-board extremes of the {boards} normal boards (a Gumbel tail fitted to "
        "their quartiles where fewer than 10/(R/8) boards, with a warning)",
    )
    rule = group.add_mutually_exclusive_group()
    rule.add_argument(
        "--false-alarm-rate",
        type=float,
        default=None,
        metavar="RATE",
        help=f"pad-level control limits instead for board outliers: each method's thresholds fire on this "
        f"share of the {boards} normal pads per sign (e.g. {DEFAULT_FALSE_ALARM_RATE:g}); process "
        "alarms keep their share of R",
    )
    rule.add_argument(
        "--best-f1",
        action="store_true",
        help="the paper's rule instead for board outliers: best F1 on synthetic anomalies injected into "
        "those boards; process alarms keep their share of R",
    )


def _rule(args: argparse.Namespace) -> str:
    """The outlier rule of crrn.model_training: board (default), pad (--false-alarm-rate) or best_f1."""
    if args.best_f1:
        return "best_f1"
    return "board" if args.false_alarm_rate is None else "pad"


def _calibrate(args: argparse.Namespace) -> int:
    from crrn.model_file import ModelBundle
    from crrn.model_training import recalibrate

    bundle = ModelBundle.load(args.model)
    if args.hop is not None:
        if not 1 <= args.hop <= bundle.window_length:
            raise ValueError(f"--hop {args.hop}: use 1..{bundle.window_length} (the model's window length T)")
        bundle = replace(bundle, window_hop=args.hop)
    new = recalibrate(
        bundle,
        _read_boards(args.input),
        seed=args.seed,
        device=args.device,
        false_alarm_rate=args.false_alarm_rate or DEFAULT_FALSE_ALARM_RATE,
        rule=_rule(args),
        board_false_alarm_rate=args.board_false_alarm_rate,
    )
    path = new.save(args.output or args.model)
    for method, t in new.thresholds.items():
        log.info("%s: excessive >= %+.3f, insufficient <= %+.3f", method, t.excessive, t.insufficient)
    log.info("wrote %s (model_version %s)", path, new.version)
    return 0


def _score_table(batch: list[BoardScores]) -> Any:
    import numpy as np
    import pyarrow as pa

    sizes = np.array([len(s.pad_id) for s in batch])
    alarm = np.concatenate([s.alarm for s in batch]).astype(np.int8)
    alarm_names = np.array(["insufficient", "none", "excessive"])[alarm + 1]
    from crrn.board_scores import ALARM_TYPE_NAMES

    alarm_type = np.array(ALARM_TYPE_NAMES)[np.concatenate([s.alarm_type for s in batch])]
    zeros = [np.zeros(len(s.pad_id)) for s in batch]
    evidence = np.concatenate(
        [z if s.evidence is None else s.evidence for s, z in zip(batch, zeros, strict=True)]
    )
    ev_boards = np.concatenate(
        [z if s.evidence_boards is None else s.evidence_boards for s, z in zip(batch, zeros, strict=True)]
    )
    return pa.Table.from_pydict(
        {
            "event_id": np.repeat([s.event_id for s in batch], sizes),
            "board_id": np.repeat([s.board.board_id for s in batch], sizes),
            "printer_id": np.repeat([s.printer_id for s in batch], sizes),
            "print_index": np.repeat(np.array([s.print_index for s in batch], dtype=np.int64), sizes),
            "pad_id": np.concatenate([s.pad_id for s in batch]).astype(str),
            "score": np.concatenate([s.score for s in batch]).astype(np.float32),
            "alarm": alarm_names,
            "alarm_type": alarm_type,
            "evidence": evidence.astype(np.float32),
            "evidence_boards": ev_boards.astype(np.int32),
        },
        schema=_score_schema(),
    )


def _score(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from crrn.model_file import ModelBundle
    from crrn.scoring import Scorer, score_boards

    _set_threads(args.threads)
    bundle = ModelBundle.load(args.model)
    scorer = Scorer(bundle, device=args.device, method=args.method)
    policy = None
    defect_events: list[Any] = []
    if args.defects_output:
        if args.method != "crrn":
            raise ValueError(
                "--defects-output: the defect classifier reads CRRN anomaly maps; use --method crrn"
            )
        from crrn.diagnosis.classifier import classifier_path_for
        from crrn.diagnosis.policy import DefectPolicy

        if not Path(classifier_path_for(args.model)).is_file():
            raise ValueError(
                f"--defects-output: no {classifier_path_for(args.model)}; "
                f"train one with `spi-crrn train-classifier --model {args.model}`"
            )
        policy = DefectPolicy.from_model(args.model, bundle, policy_config_from_args(args))
    T = args.window or bundle.window_length
    hop = args.hop or bundle.window_hop
    boards = _read_boards(args.input)
    skipped: Counter[str] = Counter()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    n_boards = n_alarmed = 0
    batch: list[BoardScores] = []

    def write(rows: list[BoardScores]) -> None:
        nonlocal writer
        table = _score_table(rows)
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema)
        writer.write_table(table)

    try:
        for scores in score_boards(
            boards, scorer, T, hop, on_unscored=lambda b, status: skipped.update([status])
        ):
            batch.append(scores)
            if policy is not None:  # the worker's hook: one printer's boards in print order
                defect_events.extend(policy([scores]))
            n_boards += 1
            n_alarmed += scores.n_alarms > 0
            if len(batch) >= 256:
                write(batch)
                batch = []
        if batch:
            write(batch)
        if writer is None:  # nothing scored: an empty file with the same columns
            writer = pq.ParquetWriter(out, _score_schema())
    finally:
        if writer is not None:
            writer.close()
    if policy is not None:
        Path(args.defects_output).write_bytes(b"".join(e.to_json() + b"\n" for e in defect_events))
        log.info("%d printer-defect events; wrote %s", len(defect_events), args.defects_output)
    log.info(
        "scored %d boards with %s (model %s): %d with alarms; wrote %s",
        n_boards,
        args.method,
        bundle.version,
        n_alarmed,
        out,
    )
    if skipped:
        print(
            f"not scored: {sum(skipped.values())} boards ("
            + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
            + f"); unscored = in a first window of fewer than T={T} boards of one printer and recipe; "
            "unscorable = recipe or pad list unknown to the model (-v for details)",
            file=sys.stderr,
        )
    return 0


def _score_schema() -> Any:
    import pyarrow as pa

    types = [pa.string(), pa.string(), pa.string(), pa.int64(), pa.string(), pa.float32(), pa.string()]
    types += [pa.string(), pa.float32(), pa.int32()]
    return pa.schema(list(zip(SCORE_COLUMNS, types, strict=True)))
