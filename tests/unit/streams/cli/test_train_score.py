"""`spi-crrn train | calibrate | score` on small simulated files: files in, files and messages out."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crrn.data.files import write_boards
from crrn.model_file import ModelBundle
from crrn.sim.fleet import FleetSpec, simulate_fleet
from streams.cli.main import build_parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("model-cli")
    boards = [b for b, _ in simulate_fleet(FleetSpec(printers=1, pads=200, boards_per_printer=40), seed=5)]
    write_boards(d / "normal.parquet", boards)
    write_boards(d / "short.jsonl", boards[:2])  # fewer boards than one window
    model = d / "model.pt"
    argv = ["train", "--input", str(d / "normal.parquet"), "--output", str(model), "--window", "4"]
    assert run([*argv, "--epochs", "1", "--max-minutes", "2", "--threads", "1"]) == 0
    return {"dir": d, "normal": d / "normal.parquet", "short": d / "short.jsonl", "model": model}


def test_train_writes_a_loadable_model(files: dict[str, Path]) -> None:
    bundle = ModelBundle.load(files["model"])
    assert bundle.window_length == 4
    assert set(bundle.thresholds) == {"crrn", "statistical", "pad_zscore", "pad_zscore_board"}
    assert {r["rule"] for r in bundle.metrics["calibration"].values()} == {"board_false_alarm_rate=0.01"}
    assert set(bundle.evidence) == set(bundle.thresholds)


@pytest.mark.parametrize("method", ["crrn", "pad_zscore", "pad_zscore_board"])
def test_score_writes_one_row_per_pad(files: dict[str, Path], method: str) -> None:
    out = files["dir"] / f"scores-{method}.parquet"
    argv = ["score", "--model", str(files["model"]), "--input", str(files["normal"]), "--output", str(out)]
    assert run([*argv, "--method", method]) == 0
    table = pq.read_table(out)
    assert table.column_names == [
        "event_id",
        "board_id",
        "printer_id",
        "print_index",
        "pad_id",
        "score",
        "alarm",
        "alarm_type",
        "evidence",
        "evidence_boards",
    ]
    assert table.num_rows == 40 * 200  # every board of one printer in order is scored once
    assert set(table.column("alarm").to_pylist()) <= {"excessive", "insufficient", "none"}
    kinds = table.column("alarm_type").to_numpy(zero_copy_only=False)
    alarm = table.column("alarm").to_numpy(zero_copy_only=False)
    assert set(kinds) <= {"none", "board_outlier", "process"}
    assert ((kinds == "none") == (alarm == "none")).all()  # every alarm has its type


def test_score_reports_unscored_boards(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["dir"] / "short-scores.parquet"
    argv = ["score", "--model", str(files["model"]), "--input", str(files["short"]), "--output", str(out)]
    assert run(argv) == 0
    assert "not scored: 2 boards (unscored 2)" in capsys.readouterr().err
    assert pq.read_table(out).num_rows == 0


def test_calibrate_rewrites_thresholds(files: dict[str, Path]) -> None:
    out = files["dir"] / "recalibrated.pt"
    argv = [
        "calibrate",
        "--model",
        str(files["model"]),
        "--input",
        str(files["normal"]),
        "--output",
        str(out),
    ]
    assert run([*argv, "--seed", "9"]) == 0
    old, new = ModelBundle.load(files["model"]), ModelBundle.load(out)
    assert new.version != old.version
    assert new.config == old.config
    assert new.metrics["calibration"]["crrn"]["rule"] == "board_false_alarm_rate=0.01"
    assert run([*argv, "--seed", "9", "--board-false-alarm-rate", "0.05"]) == 0
    assert ModelBundle.load(out).metrics["calibration"]["crrn"]["rule"] == "board_false_alarm_rate=0.05"
    assert run([*argv, "--seed", "9", "--false-alarm-rate", "0.01"]) == 0
    assert ModelBundle.load(out).metrics["calibration"]["crrn"]["rule"] == "false_alarm_rate=0.01"
    assert run([*argv, "--seed", "9", "--best-f1"]) == 0
    assert ModelBundle.load(out).metrics["calibration"]["crrn"]["rule"] == "best_f1"


def test_calibrate_hop_is_stored_and_checked(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = files["dir"] / "hop.pt"
    argv = [
        "calibrate",
        "--model",
        str(files["model"]),
        "--input",
        str(files["normal"]),
        "--output",
        str(out),
    ]
    T = ModelBundle.load(files["model"]).window_length
    assert run([*argv, "--hop", str(T)]) == 0
    assert ModelBundle.load(out).window_hop == T
    assert run([*argv, "--hop", str(T + 1)]) == 2
    assert f"--hop {T + 1}: use 1..{T}" in capsys.readouterr().err


def test_the_two_threshold_rules_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(
            ["calibrate", "--model", "m", "--input", "i", "--best-f1", "--false-alarm-rate", "0.01"]
        )
    assert "not allowed with argument" in capsys.readouterr().err


def test_bad_input_is_one_clear_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["score", "--model", str(files["dir"] / "missing.pt"), "--input", str(files["normal"])]
    assert run([*argv, "--output", str(files["dir"] / "x.parquet")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_defects_output_needs_a_classifier_and_the_crrn(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["score", "--model", str(files["model"]), "--input", str(files["normal"])]
    argv += ["--output", str(files["dir"] / "d.parquet"), "--defects-output", str(files["dir"] / "d.jsonl")]
    assert run(argv) == 2
    assert "spi-crrn train-classifier --model" in capsys.readouterr().err
    assert run([*argv, "--method", "pad_zscore"]) == 2
    assert "use --method crrn" in capsys.readouterr().err
    assert not (files["dir"] / "d.jsonl").exists()
