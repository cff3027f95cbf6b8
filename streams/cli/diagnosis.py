"""`spi-crrn train-classifier` and `spi-crrn experiment N`: the printer-defect classifier and experiments.

`experiment` takes the experiment number as a positional argument and runs
`crrn.experiments.exp{N}.run(quick=..., out_dir=...) -> dict`; adding an experiment means adding that
module. Heavy libraries are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KNOWN_EXPERIMENTS = (1, 2, 3, 4)


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train-classifier",
        help="train the printer-defect classifier on anomaly maps of a trained CRRN model",
        description=(
            "Simulate defect runs (five defects, combinations, severities, seeds) and normal runs on "
            "several layouts, score them with the CRRN model, and train the defect classifier on the "
            "binarized anomaly maps. Writes MODEL.classifier.pt beside the model unless --output is given."
        ),
    )
    train.add_argument("--model", required=True, help="trained CRRN model file (spi-crrn train)")
    train.add_argument("--output", default=None, help="classifier file (default: MODEL.classifier.pt)")
    train.add_argument("--runs-per-layout", type=int, default=None, help="simulated runs per layout")
    train.add_argument("--epochs", type=int, default=None, help="training epochs")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--quick", action="store_true", help="small settings for a fast CPU run")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    train.set_defaults(func=_train_classifier)

    exp = subparsers.add_parser(
        "experiment",
        help="run one of the paper's experiments (writes JSON, Markdown and PNG results)",
        description="Run experiment N via crrn.experiments.expN.run(quick, out_dir).",
    )
    exp.add_argument("number", type=int, choices=KNOWN_EXPERIMENTS, help="experiment number")
    exp.add_argument("--quick", action="store_true", help="CPU-sized settings (minutes, not hours)")
    exp.add_argument(
        "--output-dir", default=None, help="results folder (default: results/experiment-N[-quick])"
    )
    exp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    exp.add_argument(
        "--seed",
        type=int,
        default=None,
        help="the experiment's seed (training and simulation; default: its settings' seed, 0), to "
        "measure run-to-run noise",
    )
    exp.set_defaults(func=_experiment)


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the decision policy (hysteresis), for any command that emits defect events."""
    group = parser.add_argument_group("defect decision policy")
    group.add_argument("--defect-raise-above", type=float, default=None, help="raise threshold (0.5)")
    group.add_argument("--defect-clear-below", type=float, default=None, help="clear threshold (0.3)")
    group.add_argument("--defect-raise-after", type=int, default=None, help="N windows to raise (3)")
    group.add_argument("--defect-clear-after", type=int, default=None, help="M windows to clear (3)")


def policy_config_from_args(args: argparse.Namespace) -> Any:
    """The `HysteresisConfig` of the flags added by `add_policy_arguments` (defaults where not given)."""
    from crrn.diagnosis.hysteresis import HysteresisConfig

    names = {
        "raise_above": "defect_raise_above", "clear_below": "defect_clear_below",
        "raise_after": "defect_raise_after", "clear_after": "defect_clear_after",
    }  # fmt: skip
    given = {k: getattr(args, v) for k, v in names.items() if getattr(args, v, None) is not None}
    return HysteresisConfig(**given)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))


def _train_classifier(args: argparse.Namespace) -> int:
    _set_threads(args.threads)
    from crrn.diagnosis.classifier_training import ClassifierTrainingConfig, train_classifier_for_model

    config = ClassifierTrainingConfig.quick() if args.quick else ClassifierTrainingConfig()
    overrides = {}
    if args.runs_per_layout is not None:
        overrides["runs_per_layout"] = args.runs_per_layout
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    config = config.replace(seed=args.seed, **overrides)
    path, report = train_classifier_for_model(Path(args.model), config, output=args.output)
    print(json.dumps({"classifier": str(path), **report}, indent=2, default=str))
    return 0


def _experiment(args: argparse.Namespace) -> int:
    _set_threads(args.threads)
    name = f"crrn.experiments.exp{args.number}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        log.error("experiment %d is not available in this build (no module %s)", args.number, name)
        return 2
    suffix = "-quick" if args.quick else ""
    out_dir = Path(args.output_dir or f"results/experiment-{args.number}{suffix}")
    out_dir.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if args.seed is not None:  # every expN module has an ExpNSettings dataclass with a seed field
        settings_cls = getattr(module, f"Exp{args.number}Settings")
        base = settings_cls.quick() if args.quick else settings_cls()
        kwargs["settings"] = dataclasses.replace(base, seed=args.seed)
    summary = module.run(quick=args.quick, out_dir=out_dir, **kwargs)
    print(json.dumps(summary, indent=2, default=str))
    return 0
