"""`spi-crrn experiment N` dispatch and `train-classifier` registration (no training here)."""

from __future__ import annotations

import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest

from streams.cli.main import build_parser


def test_experiment_dispatches_to_the_numbered_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    fake = types.ModuleType("crrn.experiments.exp1")
    fake.run = lambda quick, out_dir: calls.append((quick, out_dir)) or {"ok": True}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "crrn.experiments.exp1", fake)
    args = build_parser().parse_args(["experiment", "1", "--quick", "--output-dir", str(tmp_path / "r")])
    assert args.func(args) == 0
    assert calls == [(True, tmp_path / "r")]


def test_experiment_seed_replaces_the_settings_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crrn.experiments import exp2

    calls = []
    monkeypatch.setattr(exp2, "run", lambda quick, out_dir, settings: calls.append(settings) or {})
    argv = ["experiment", "2", "--quick", "--seed", "2", "--output-dir", str(tmp_path / "r")]
    args = build_parser().parse_args(argv)
    assert args.func(args) == 0
    assert calls == [replace(exp2.Exp2Settings.quick(), seed=2)]


def test_unknown_experiment_number_is_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["experiment", "7"])


def test_train_classifier_requires_a_model() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train-classifier"])
    args = build_parser().parse_args(["train-classifier", "--model", "m.pt", "--quick"])
    assert args.model == "m.pt"
    assert args.quick


def test_policy_flags_build_a_hysteresis_config() -> None:
    import argparse

    from streams.cli.diagnosis import add_policy_arguments, policy_config_from_args

    parser = argparse.ArgumentParser()
    add_policy_arguments(parser)
    config = policy_config_from_args(
        parser.parse_args(["--defect-raise-after", "5", "--defect-clear-below", "0.1"])
    )
    assert (config.raise_after, config.clear_below, config.raise_above) == (5, 0.1, 0.5)
    with pytest.raises(ValueError, match="raise_after"):
        policy_config_from_args(parser.parse_args(["--defect-raise-after", "0"]))
