"""Real broker: simulated CSV exports -> `spi-crrn ingest csv --to-kafka` (a real process) -> the topic holds
each simulated board once, valid and equal to the simulator's; killed mid-file, a restart completes it
with every board still once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from crrn.ingest.csv_write import board_to_csv
from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.validation import parse_inspection
from streams.ingest.csv_folder import CRASH_ENV
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import MAX_MESSAGE_BYTES, client_options
from streams.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
CLI = "from streams.cli.main import main; main()"


def _settings(kafka_bootstrap: str) -> Settings:
    settings = Settings.from_env(kafka_bootstrap_servers=kafka_bootstrap).with_(
        topic_inspections=f"test.{uuid.uuid4().hex[:8]}.inspections", topic_partitions=2
    )
    ensure_topics(settings)
    return settings


def _ingest(
    settings: Settings, folder: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", CLI, "ingest", "csv", str(folder), "--to-kafka", "--settle-s", "0", *extra]
    full_env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOPIC_INSPECTIONS": settings.topic_inspections,
        "PYTHONPATH": str(ROOT),
    }
    full_env |= env or {}
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=180, cwd=ROOT)


async def _read_all(settings: Settings) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    """Every record on the topic (until no new one for 3 s)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topic_inspections, **client_options(settings), group_id=f"t-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", fetch_max_bytes=MAX_MESSAGE_BYTES,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
    )  # fmt: skip
    await consumer.start()
    out = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 3:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                out.extend((r.key, r.value, dict(r.headers or ())) for r in records)
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return out


def _simulate_csv(folder: Path, layout: str) -> list:
    subprocess.run(
        [sys.executable, "-c", CLI, "simulate", "--printers", "2", "--pads", "250", "--boards", "4",
         "--seed", "3", "--format", "csv", "--csv-layout", layout, "--output", str(folder)],
        check=True, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)}, capture_output=True, timeout=180,
    )  # fmt: skip
    return [b for b, _ in simulate_fleet(FleetSpec(printers=2, pads=250, boards_per_printer=4), 3)]


@pytest.mark.parametrize("layout", ["kohyoung", "phm2022"])
def test_simulated_exports_reach_the_topic_once_and_equal_the_simulator(
    kafka_bootstrap: str, tmp_path: Path, layout: str
) -> None:
    settings = _settings(kafka_bootstrap)
    folder = tmp_path / "exports"
    expected = _simulate_csv(folder, layout)
    run = _ingest(settings, folder, "--format", layout, "--printer-from-filename")
    assert run.returncode == 0, run.stderr
    again = _ingest(settings, folder, "--format", layout, "--printer-from-filename")  # nothing new
    assert again.returncode == 0, again.stderr
    records = asyncio.run(_read_all(settings))
    boards = [parse_inspection(v) for _, v, _ in records]
    assert len(boards) == len(expected) == len({b.event_id for b in boards})
    by_key = {(b.printer_id, b.pads.volume_pct.tobytes()): b for b in boards}
    for sim in expected:
        got = by_key[(sim.printer_id, sim.pads.volume_pct.tobytes())]
        assert got.inspected_at == sim.inspected_at
        assert got.panel_position == 1
        if layout == "kohyoung":
            assert got.barcode == sim.barcode
        for name in ("pad_id", "x_mm", "y_mm", "size_x_mm", "size_y_mm", "shape", "height_um", "area_pct",
                     "component_ref", "spi_result"):  # fmt: skip
            assert np.array_equal(getattr(got.pads, name), getattr(sim.pads, name)), name
        assert np.allclose(got.pads.offset_x_um, sim.pads.offset_x_um)  # type: ignore[arg-type]
    for key, value, headers in records:
        board = parse_inspection(value)
        assert key == board.printer_id.encode()
        assert headers["event_id"] == board.event_id.encode()
    assert len(list((folder / "done").iterdir())) == len(expected)


def test_killed_mid_file_then_restarted_every_board_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap)
    boards = [b for b, _ in simulate_fleet(FleetSpec(printers=1, pads=250, boards_per_printer=6), 4)]
    parts = [board_to_csv(b, "phm2022").decode().splitlines() for b in boards]
    text = "\n".join([parts[0][0]] + [row for p in parts for row in p[1:]]) + "\n"  # one file, six boards
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "P01__panel.csv").write_text(text)
    crashed = _ingest(settings, folder, "--format", "phm2022", "--printer", "P01", env={CRASH_ENV: "2"})
    assert crashed.returncode == 70, crashed.stderr  # exited hard after 2 of 6 boards went out
    assert (folder / "P01__panel.csv").exists()
    assert len(asyncio.run(_read_all(settings))) == 2
    resumed = _ingest(settings, folder, "--format", "phm2022", "--printer", "P01")
    assert resumed.returncode == 0, resumed.stderr
    assert "1 resumed" in resumed.stdout
    records = asyncio.run(_read_all(settings))
    ids = [parse_inspection(v).event_id for _, v, _ in records]
    assert len(ids) == len(set(ids)) == 6
    assert (folder / "done" / "P01__panel.csv").exists()
