"""`spi-crrn demo`: the whole system on the local services, start to finish, in a few minutes on a CPU.

Steps: ensure topics and migrations; train a small CPU model and its printer-defect classifier once
(cached in .spi-crrn/models/) and register + promote the model; start a worker subprocess (it loads the
active model from the registry); simulate a fleet in which the last printer develops a printer defect
and publish it to Kafka; wait until every board is in PostgreSQL; print a per-printer summary and where
to look (the dashboard's address and how to start it among them); stop the worker. The boards are
stamped with the last minutes before the run, so the dashboard's "last hour" shows them.

With `--from-csv DIR` (issue 13) the boards take the way of a real SPI instead: the fleet is written as
Koh Young-style per-board CSV exports into DIR (temp name, then renamed, as SPIs do) while an
`spi-crrn ingest csv DIR --watch` subprocess publishes them; the boards are simulated from the current
time, so the ingest's time-based print indexes are new to the windows each run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from streams.settings import Settings, state_dir

DEMO_SEED = 7  # the recipe is drawn from the seed: model and stream must share it


@dataclass(frozen=True)
class DemoOptions:
    printers: int = 4
    boards: int = 60
    pads: int = 400
    defect: str = "squeegee_blade"
    amplitude: float = 6.0  # defect effect at full strength, in pad std units
    timeout_s: float = 420.0
    seed: int | None = None
    from_csv: Path | None = None  # issue 13: go through CSV exports in this folder and `ingest csv`


def _say(text_: str) -> None:
    print(f"[demo] {text_}", flush=True)


def _ensure_model(engine: Engine, o: DemoOptions) -> str:
    """Train (or reuse) the demo model, register and promote it; returns its version."""
    from crrn.sim.fleet import FleetSpec, simulate_fleet
    from streams.db import registry

    path = state_dir() / "models" / f"demo-p{o.printers}-pads{o.pads}.pt"
    if path.is_file() and not _loads(path):
        _say(f"the cached model {path} is of an earlier format: training a new one")
        path.unlink()
    if not path.is_file():
        import torch

        from crrn.model_training import TrainOptions, train_bundle

        torch.set_num_threads(max(1, (os.cpu_count() or 2)))
        _say(f"training a small CPU model (at most 3 minutes) -> {path}")
        spec = FleetSpec(printers=o.printers, pads=o.pads, boards_per_printer=80)
        boards = [b for b, _ in simulate_fleet(spec, DEMO_SEED)]
        bundle = train_bundle(
            boards, TrainOptions(config="cpu", window=10, epochs=8, max_minutes=3.0, device="cpu")
        )
        bundle.save(path)
    else:
        _say(f"reusing the cached model {path}")
    _ensure_classifier(path)
    record = registry.register_file(engine, path)
    registry.promote(engine, record.version)
    _say(f"model {record.version} registered and promoted")
    return record.version


def _loads(path: Path) -> bool:
    from crrn.model_file import BundleError, ModelBundle

    try:
        ModelBundle.load(path)
    except BundleError:
        return False
    return True


def _ensure_classifier(model_path: Path) -> None:
    """Train the printer-defect classifier beside the model once (small settings, a few minutes)."""
    from crrn.diagnosis.classifier import classifier_path_for
    from crrn.diagnosis.classifier_training import ClassifierTrainingConfig, train_classifier_for_model

    if classifier_path_for(model_path).is_file():
        return
    _say("training the printer-defect classifier (small settings, a few minutes)")
    config = ClassifierTrainingConfig.quick().replace(runs_per_layout=5, epochs=10, max_minutes=2.0)
    train_classifier_for_model(model_path, config)


def _start_worker(logs: Path) -> subprocess.Popen[bytes]:
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / "demo-worker.log").open("ab")
    cmd = [sys.executable, "-c", "from streams.cli.main import main; main()", "worker", "--model-poll-s", "2"]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def _start_csv_ingest(folder: Path, logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / "demo-ingest.log").open("ab")
    cmd = [sys.executable, "-c", "from streams.cli.main import main; main()", "ingest", "csv", str(folder),
           "--watch", "--format", "kohyoung", "--printer-from-filename", "--recipe", "R01", "--to-kafka",
           "--settle-s", "1", "--poll-s", "0.5"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def _write_csv_exports(folder: Path, boards: list[Any]) -> list[str]:
    """Each board as one export file (temp name, then renamed); returns the event ids ingest will give."""
    from datetime import UTC, datetime

    from crrn.ingest.csv_format import KOHYOUNG
    from crrn.ingest.csv_parse import IngestContext, parse_csv, sha256_hex
    from crrn.ingest.csv_write import board_to_csv

    folder.mkdir(parents=True, exist_ok=True)
    ids: list[str] = []
    for board in boards:
        data = board_to_csv(board, "kohyoung")
        ctx = IngestContext(sha256_hex(data), datetime.now(UTC), UTC, board.printer_id, recipe_id="R01")
        ids.extend(b.event_id for b in parse_csv(data, KOHYOUNG, ctx).boards)
        final = folder / f"{board.printer_id}__{board.board_id}.csv"
        temp = final.with_name(final.name + ".part")
        temp.write_bytes(data)
        os.replace(temp, final)
    return ids


def run_demo(o: DemoOptions) -> int:
    from crrn.sim.defects import DefectSpec
    from crrn.sim.fleet import FleetSpec, simulate_fleet
    from streams.db.engine import make_engine
    from streams.db.migrations import upgrade
    from streams.kafka.admin import ensure_topics
    from streams.kafka.publish import publish_boards

    started = time.monotonic()
    settings = Settings.from_env()
    ensure_topics(settings)
    upgrade(settings.database_admin_url or settings.database_url, "head")
    engine = make_engine(settings.database_url)
    _ensure_model(engine, o)

    worker = _start_worker(state_dir() / "logs")
    _say(f"worker started (pid {worker.pid}, log {state_dir() / 'logs' / 'demo-worker.log'})")
    _say(f"to watch it live: {_dashboard_hint(settings)}")
    ingest = None if o.from_csv is None else _start_csv_ingest(o.from_csv, state_dir() / "logs")
    try:
        # A fresh stretch of print indexes each run, so the boards are new to the windows and the tables.
        first = int(o.seed if o.seed is not None else time.time()) % 10**9 * 1000 + 1
        defective = f"P{o.printers:02d}"
        spec = FleetSpec(
            printers=o.printers,
            pads=o.pads,
            boards_per_printer=o.boards,
            first_print_index=first,
            # The boards' times end now (the simulator's cycle is 20 s plus cleaning pauses); from CSV
            # they start now, so the ingest's time-based print indexes are new each run.
            start=(
                datetime.now(UTC)
                if o.from_csv is not None
                else datetime.now(UTC) - timedelta(seconds=25.0 * o.boards)
            ),
            defects=(
                DefectSpec(
                    o.defect,
                    start_index=first + o.boards // 4,
                    duration=o.boards // 3,
                    amplitude=o.amplitude,
                    printer_id=defective,
                ),
            ),
        )
        boards = [b for b, _ in simulate_fleet(spec, DEMO_SEED)]
        if o.from_csv is not None:
            ids = _write_csv_exports(o.from_csv, boards)
            _say(f"wrote {len(ids)} CSV exports of {o.printers} printers into {o.from_csv} for `ingest csv`; "
                 f"{defective} develops {o.defect}")  # fmt: skip
        else:
            ids = [b.event_id for b in boards]
            sent = asyncio.run(publish_boards(settings, boards))
            _say(
                f"published {sent} boards of {o.printers} printers to {settings.topic_inspections}; "
                f"{defective} develops {o.defect}"
            )
        deadline = time.monotonic() + o.timeout_s
        done = 0
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.execute(
                    text("SELECT count(*) FROM board_inspections WHERE event_id = ANY(:ids)"), {"ids": ids}
                ).scalar_one()
            if done >= len(ids) or worker.poll() is not None:
                break
            time.sleep(1.0)
        if done < len(ids):
            _say(
                f"only {done}/{len(ids)} boards stored (worker exit code {worker.poll()}); see the worker log"
            )
            return 1
        _summary(engine, ids, defective, o.defect, settings)
        _say(f"done in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        if ingest is not None:
            ingest.send_signal(signal.SIGTERM)
            try:
                ingest.wait(30)
            except subprocess.TimeoutExpired:
                ingest.kill()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def _summary(engine: Engine, ids: list[str], defective: str, defect: str, settings: Settings) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT b.printer_id, count(*) AS boards, "
                "count(*) FILTER (WHERE b.n_excessive + b.n_insufficient > 0) AS boards_with_alarms, "
                "count(*) FILTER (WHERE a.outliers > 0) AS boards_with_outliers, "
                "count(*) FILTER (WHERE a.process > 0) AS boards_with_process, "
                "sum(b.n_excessive + b.n_insufficient) AS pad_alarms, max(b.model_version) AS model "
                "FROM board_inspections b LEFT JOIN ("
                "  SELECT event_id, count(*) FILTER (WHERE alarm_type = 'process') AS process, "
                "         count(*) FILTER (WHERE alarm_type IS DISTINCT FROM 'process') AS outliers "
                "  FROM pad_alarms WHERE event_id = ANY(:ids) GROUP BY event_id"
                ") a ON a.event_id = b.event_id "
                "WHERE b.event_id = ANY(:ids) GROUP BY b.printer_id ORDER BY b.printer_id"
            ),
            {"ids": ids},
        ).all()
        defects: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT printer_id, string_agg(DISTINCT defect, ',') FROM defect_classifications "
                    "WHERE state = 'raised' AND (first_event_id = ANY(:ids) OR last_event_id = ANY(:ids)) "
                    "GROUP BY printer_id"
                ),
                {"ids": ids},
            ).all()
        )
    print()
    print(
        f"{'printer':<9}{'boards':>7}{'w/ alarms':>10}{'outlier':>9}{'process':>9}{'pad alarms':>12}  "
        f"{'defect (diagnosis)':<20} simulated"
    )
    for r in rows:
        simulated = defect if r.printer_id == defective else "-"
        print(
            f"{r.printer_id:<9}{r.boards:>7}{r.boards_with_alarms:>10}{r.boards_with_outliers:>9}"
            f"{r.boards_with_process:>9}{r.pad_alarms:>12}  {defects.get(r.printer_id, '-'):<20} {simulated}"
        )
    healthy = [r for r in rows if r.printer_id != defective]
    n_healthy = sum(r.boards for r in healthy)
    if n_healthy:
        flagged = sum(r.boards_with_alarms for r in healthy)
        share = 100 * flagged / n_healthy
        print(
            f"healthy printers: {flagged} of {n_healthy} boards with any alarm ({share:.1f} %; "
            "the model's target is its --board-false-alarm-rate, 1 % by default; the simulator's own natural "
            "defects fall on a few % of boards and are real alarms)"
        )
    print()
    print("Where to look:")
    print(
        "  SQL:    SELECT * FROM v_printer_summary;\n"
        "          SELECT * FROM v_pad_alarms ORDER BY inspected_at DESC LIMIT 20;"
    )
    print(f"  Web:    {_dashboard_hint(settings)}")
    print(f"  Kafka:  .venv/bin/spi-crrn tail {settings.topic_alarms} --from-beginning --max 5")
    print(f"          dead letters on {settings.topic_dlq}, printer defects on {settings.topic_defects}")


def _dashboard_hint(settings: Settings) -> str:
    """Where the dashboard answers and how to start it (it reads as the reporting role)."""
    return (
        f"http://127.0.0.1:{settings.dashboard_port}/ (start it with `.venv/bin/spi-crrn dashboard` "
        "in another terminal; board maps of the defective printer under its name)"
    )
