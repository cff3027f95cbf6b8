"""Issue 13's "Done when" on the real broker and database: CSV exports of three printers in both built-in
formats and through a mapping file (one half-written, one malformed, one dropped twice) -> `spi-crrn
ingest csv` (a real process per folder) -> the worker -> each good board once in PostgreSQL with its
real-line fields and its alarms, the malformed file in rejected/ with its reason, the half-written one
left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from crrn.ingest.csv_format import KOHYOUNG, PHM2022, CsvFormat, load_mapping
from crrn.ingest.csv_parse import IngestContext, parse_csv, sha256_hex
from crrn.ingest.csv_write import board_to_csv
from tests.integration.pipeline.conftest import Pipeline, fleet_with_truth

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
RENAME = {"Barcode": "Serial", "ArrayIndex": "Slot", "InspectionTime": "When", "ComponentID": "Ref",
          "PinNumber": "Pin", "Volume(%)": "Vol", "Height(um)": "Hgt", "Area(%)": "Ar"}  # fmt: skip
MAPPING = """
name = "acme"
board_key = ["Serial", "Slot"]
[columns]
barcode = "Serial"
panel_position = "Slot"
timestamp = "When"
component_ref = "Ref"
pin = "Pin"
shape = "PadType"
x_mm = "PosX(mm)"
y_mm = "PosY(mm)"
size_x_mm = "SizeX(mm)"
size_y_mm = "SizeY(mm)"
volume_pct = "Vol"
height_um = "Hgt"
area_pct = "Ar"
offset_x = "OffsetX(um)"
offset_y = "OffsetY(um)"
spi_result = "Result"
"""


def _acme(data: bytes) -> bytes:
    header, rest = data.split(b"\n", 1)
    names = [RENAME.get(h, h) for h in header.decode().split(",")]
    return (",".join(names) + "\n").encode() + rest


def _drop(folder: Path, name: str, data: bytes, age_s: float = 30.0) -> None:
    path = folder / name
    path.write_bytes(data)
    past = time.time() - age_s
    os.utime(path, (past, past))


def _ids(data: bytes, fmt: CsvFormat, printer: str) -> list[str]:
    ctx = IngestContext(sha256_hex(data), datetime.now(UTC), UTC, printer, recipe_id="R01")
    return [b.event_id for b in parse_csv(data, fmt, ctx).boards]


def test_csv_folders_to_postgres_each_board_once(pipeline: Pipeline, tmp_path: Path) -> None:
    pairs = fleet_with_truth(printers=3, boards=8, first_print_index=1, inject_ratio=0.05)
    boards = [b for b, _ in pairs]
    ky, phm, acme = (tmp_path / n for n in ("ky", "phm", "acme"))
    for d in (ky, phm, acme):
        d.mkdir()
    (tmp_path / "acme.toml").write_text(MAPPING)
    expected: list[str] = []
    for b in boards:
        if b.printer_id == "P01":
            data = board_to_csv(b, "kohyoung")
            _drop(ky, f"P01__{b.board_id}.csv", data)
            expected += _ids(data, KOHYOUNG, "P01")
        elif b.printer_id == "P02":
            data = board_to_csv(b, "phm2022")
            _drop(phm, f"P02__{b.board_id}.csv", data)
            expected += _ids(data, PHM2022, "P02")
        else:
            data = _acme(board_to_csv(b, "kohyoung"))
            _drop(acme, f"P03__{b.board_id}.csv", data)
            expected += _ids(data, load_mapping(tmp_path / "acme.toml"), "P03")
    first_ky = sorted(ky.iterdir())[0]
    shutil.copy(first_ky, ky / "P01__again.csv")  # the same bytes dropped twice
    os.utime(ky / "P01__again.csv", (time.time() - 30, time.time() - 30))
    _drop(ky, "P01__half.csv", board_to_csv(boards[0], "kohyoung")[:5000], age_s=0)  # still being written
    bad = board_to_csv(boards[1], "phm2022").replace(b",GOOD\n", b",MAYBE\n", 1)
    _drop(phm, "P02__bad.csv", bad)

    env = pipeline.env() | {"PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-c", "from streams.cli.main import main; main()", "ingest", "csv"]
    common = ["--printer-from-filename", "--recipe", "R01", "--to-kafka", "--settle-s", "10"]
    for folder, how in ((ky, ["--format", "kohyoung"]), (phm, ["--format", "phm2022"]),
                        (acme, ["--mapping", str(tmp_path / "acme.toml")])):  # fmt: skip
        run = subprocess.run(
            [*cli, str(folder), *how, *common],
            env=env, capture_output=True, text=True, timeout=180, cwd=ROOT,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr

    pipeline.start_worker("w1")
    pipeline.wait_rows(len(boards))
    time.sleep(3)  # anything extra (a duplicate) would arrive now
    stored = pipeline.stored()
    assert sorted(e for e, _ in stored) == sorted(expected)  # each good board once
    assert {s for _, s in stored} == {"scored"}
    with pipeline.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT printer_id, count(*), count(barcode), count(spi_fail_pads), min(panel_position) "
                 "FROM board_inspections GROUP BY printer_id ORDER BY printer_id")
        ).all()  # fmt: skip
        alarms = conn.execute(
            text("SELECT count(*), count(component_ref), count(spi_result) FROM pad_alarms")
        ).one()
    assert [tuple(r) for r in rows] == [("P01", 8, 8, 8, 1), ("P02", 8, 0, 8, 1), ("P03", 8, 8, 8, 1)]
    assert alarms[0] > 0  # the injected anomalies raise alarms
    assert alarms[0] == alarms[1] == alarms[2]  # every alarm names its component and the SPI's verdict
    assert (ky / "P01__half.csv").exists()
    assert (ky / "done" / "P01__again.csv").exists()
    reason = (phm / "rejected" / "P02__bad.csv.reason").read_text()
    assert "column 'Result'" in reason
    assert "MAYBE" in reason
