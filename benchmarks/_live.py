"""Shared parts of the benchmarks that run on the local services: private topics, a `spi-crrn worker`
subprocess, a model built in seconds, stored-row counts.

The model of `bench_bundle` is an UNTRAINED network calibrated by the deployed rule on normal boards
(`crrn.model_training.recalibrate`): speed does not depend on the weights, and the calibration gives the
alarm volume of a deployed model (about the board-level target), so rows and alarm messages are what a
line would see. Its alarms mean nothing; quality is measured by the experiments, not here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import text

from crrn.model_file import ModelBundle
from crrn.thresholds import Thresholds
from schemas.inspection import BoardInspection
from streams.kafka.admin import ensure_topics
from streams.settings import Settings


def private_settings(prefix: str) -> Settings:
    """Settings with fresh topic names and consumer group (created on the broker)."""
    run = f"{prefix}-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env().with_(
        topic_inspections=f"{run}.inspections",
        topic_alarms=f"{run}.alarms",
        topic_defects=f"{run}.defects",
        topic_dlq=f"{run}.dlq",
        worker_id=run,
    )
    ensure_topics(settings)
    return settings


def bench_bundle(
    boards: Sequence[BoardInspection],
    T: int = 10,
    hop: int = 1,
    config: str = "cpu",
    seed: int = 0,
    calibrate: bool = True,
) -> ModelBundle:
    """An untrained network of `config`, layouts and normalization from `boards`, limits calibrated on
    them with the deployed rule (see the module docstring); two-pass scoring at the default level.
    `calibrate=False`: placeholder limits (+-3), for timing the model alone."""
    import torch

    from crrn.model_training import TrainOptions, fit_recipe_models, recalibrate, segments_by_printer
    from crrn.nn.config import CRRNConfig
    from crrn.nn.crrn import CRRN

    cfg = CRRNConfig.cpu() if config == "cpu" else CRRNConfig.paper()
    segments = segments_by_printer(boards)
    recipes = fit_recipe_models(segments, segments, grid_multiple=cfg.grid_multiple)
    torch.manual_seed(seed)
    model = CRRN(cfg)
    bundle = ModelBundle(
        config=cfg.to_dict(),
        state_dict=model.state_dict(),
        recipes=recipes,
        thresholds={"crrn": Thresholds(3.0, -3.0)},
        window_length=T,
        window_hop=hop,
        hide_suspects_above=TrainOptions().hide_level if cfg.mask_channel else None,
        metrics={"note": "benchmark model: untrained network, calibrated limits"},
    )
    if not calibrate:
        return bundle
    return recalibrate(bundle, boards, seed=seed, max_windows=4, device="cpu", methods=("crrn",))


class Worker:
    """One `spi-crrn worker` subprocess on `settings`' topics; its log in a temp dir."""

    def __init__(
        self, settings: Settings, model_path: str | Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "DATABASE_URL": settings.database_url,
            "TOPIC_PARTITIONS": str(settings.topic_partitions),
            "TOPIC_INSPECTIONS": settings.topic_inspections,
            "TOPIC_ALARMS": settings.topic_alarms,
            "TOPIC_DEFECTS": settings.topic_defects,
            "TOPIC_DLQ": settings.topic_dlq,
            "WORKER_ID": settings.worker_id,
            **(env or {}),
        }
        self.log_path = Path(tempfile.mkdtemp(prefix="bench-worker-")) / "worker.log"
        cmd = [
            sys.executable, "-c", "from streams.cli.main import main; main()",
            "worker", "--model", str(model_path), *args,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_assigned(self, timeout_s: float = 180.0) -> float:
        """Block until the worker has joined its group; returns time.monotonic() then."""
        deadline = time.monotonic() + timeout_s
        while "partitions assigned" not in self.log_text():
            self.check_alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"worker not assigned after {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(0.1)
        return time.monotonic()

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise SystemExit(f"worker exited with {self.proc.returncode}; see {self.log_path}")

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_text()[-chars:]

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def stored_count(conn: object, ids: Sequence[str]) -> int:
    """Boards of `ids` in board_inspections (conn: a SQLAlchemy connection)."""
    q = text("SELECT count(*) FROM board_inspections WHERE event_id = ANY(:ids)")
    return int(conn.execute(q, {"ids": list(ids)}).scalar_one())  # type: ignore[attr-defined]
