"""Fixtures of the pipeline tests: a tiny model (seconds to train), a hand-set defect classifier beside a
copy of it, private topics, worker subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from crrn.board_scores import BoardScores
from crrn.sim.fleet import FleetSpec, simulate_fleet
from crrn.sim.truth import GroundTruth
from schemas.inspection import BoardInspection
from streams.settings import Settings

RECIPE_SEED = 1  # the simulator's recipe depends on the seed: train and stream with the same one
PADS = 200
WINDOW = 5


def fleet_with_truth(
    printers: int, boards: int, first_print_index: int, inject_ratio: float = 0.0
) -> list[tuple[BoardInspection, GroundTruth]]:
    """Boards of the tiny recipe and their ground truth; `first_print_index` keeps event ids apart."""
    spec = FleetSpec(
        printers=printers,
        pads=PADS,
        boards_per_printer=boards,
        first_print_index=first_print_index,
        inject_ratio=inject_ratio,
    )
    return list(simulate_fleet(spec, seed=RECIPE_SEED))


def fleet(printers: int, boards: int, first_print_index: int) -> list[BoardInspection]:
    return [b for b, _ in fleet_with_truth(printers, boards, first_print_index)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CPU model of the 200-pad recipe, T=5, trained for 2 epochs (a few seconds)."""
    import torch

    from crrn.model_training import TrainOptions, train_bundle

    torch.set_num_threads(1)
    bundle = train_bundle(
        fleet(2, 60, 1), TrainOptions(window=WINDOW, epochs=2, max_minutes=1.0, device="cpu")
    )
    return bundle.save(tmp_path_factory.mktemp("model") / "tiny.pt")


def with_excess_episode(
    boards: list[BoardInspection], episodes: dict[str, tuple[int, int]]
) -> list[BoardInspection]:
    """Boards of printer p with print_index in `episodes[p]` (inclusive) get twice their paste volume:
    the tiny model flags every pad of them as excessive."""

    def doubled(b: BoardInspection) -> BoardInspection:
        return dataclasses.replace(b, pads=dataclasses.replace(b.pads, volume_pct=b.pads.volume_pct * 2.0))

    out = []
    for b in boards:
        first, last = episodes.get(b.printer_id, (0, -1))
        out.append(doubled(b) if first <= b.print_index <= last else b)
    return out


CLASSIFIER_WINDOW = 3


def write_excess_classifier(model_path: Path) -> Path:
    """A DefectClassifier with hand-set weights beside `model_path`: P(squeegee_blade) =
    sigmoid(20 * (mean excessive fraction of the window - 0.5)), every other defect ~0. Deterministic, so
    defect episodes follow the boards `with_excess_episode` doubles."""
    import torch

    from crrn.diagnosis.classifier import (
        ClassifierConfig,
        DefectClassifier,
        classifier_path_for,
        save_classifier,
    )
    from crrn.model_file import ModelBundle

    model = DefectClassifier(ClassifierConfig(input_size=8, width=1, n_stages=1))
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):  # identity in eval mode
                module.weight.fill_(1.0)
        stem = model.stem[0]
        assert isinstance(stem, torch.nn.Conv2d)
        stem.weight[0, 0, 1, 1] = 1.0  # the excessive channel, passed through the residual shortcut
        model.head.weight[0, 0] = 20.0  # on the average-pooled feature
        model.head.bias.fill_(-20.0)
        model.head.bias[0] = -10.0
    version = ModelBundle.load(model_path).version
    metadata = {"crrn_model_version": version, "window_length": CLASSIFIER_WINDOW}
    return save_classifier(classifier_path_for(model_path), model, metadata)


def offline_defect_events(boards: list[BoardInspection], model: Path) -> list[tuple[str, str, str, int, int]]:
    """(event_key, printer_id, state, first_print_index, last_print_index) of the defect events that
    offline scoring and one uninterrupted policy give, ordered by printer and last board."""
    from crrn.diagnosis.policy import DefectPolicy
    from crrn.model_file import ModelBundle
    from crrn.scoring import Scorer, score_boards

    bundle = ModelBundle.load(model)
    scores = score_boards(boards, Scorer(bundle, device="cpu"), bundle.window_length, bundle.window_hop)
    policy = DefectPolicy.from_model(model, bundle)
    by_printer: dict[str, list[BoardScores]] = {}
    for s in scores:
        by_printer.setdefault(s.printer_id, []).append(s)
    events = [
        e
        for printer in sorted(by_printer)
        for e in policy(sorted(by_printer[printer], key=lambda s: s.print_index))
    ]
    return sorted(
        ((e.event_key, e.printer_id, e.state, e.first_print_index, e.last_print_index) for e in events),
        key=lambda e: (e[1], e[4]),
    )


def stored_defect_events(engine: Engine) -> list[tuple[str, str, str, int, int]]:
    """The same tuples from defect_classifications, in the same order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT event_key, printer_id, state, first_print_index, last_print_index "
                "FROM defect_classifications ORDER BY printer_id, last_print_index"
            )
        ).all()
    return [(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]


@pytest.fixture(scope="session")
def diagnosed_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model with `write_excess_classifier` beside it (the worker then diagnoses)."""
    path = tmp_path_factory.mktemp("diagnosed") / "tiny.pt"
    shutil.copy(tiny_model, path)
    write_excess_classifier(path)
    return path


@dataclass
class Pipeline:
    """Private topics and consumer group on the shared broker, one migrated database."""

    settings: Settings
    engine: Engine
    model: Path
    logs: Path
    workers: list[subprocess.Popen[bytes]]

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
            "DATABASE_URL": s.database_url,
            "TOPIC_INSPECTIONS": s.topic_inspections,
            "TOPIC_ALARMS": s.topic_alarms,
            "TOPIC_DEFECTS": s.topic_defects,
            "TOPIC_DLQ": s.topic_dlq,
            "TOPIC_PARTITIONS": str(s.topic_partitions),
            "WORKER_ID": s.worker_id,
            "METRICS_PORT": "0",  # no HTTP server unless a test asks (parallel workers, one host)
        }

    def start_worker(self, name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A worker subprocess; `env` is added to (and overrides) `self.env()`."""
        log = (self.logs / f"{name}.log").open("ab")
        cmd = [
            sys.executable, "-c", "from streams.cli.main import main; main()",
            "worker", "--model", str(self.model), "--threads", "1", "--device", "cpu", "--max-batch", "8",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env={**self.env(), **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_assigned(self, name: str, timeout_s: float = 90.0) -> None:
        wait_for(lambda: "partitions assigned: " in self.log_text(name), timeout_s, f"{name} never joined")

    def publish(self, boards: list[BoardInspection]) -> None:
        from streams.kafka.publish import publish_boards

        asyncio.run(publish_boards(self.settings, boards))

    def publish_raw(self, values: list[bytes], key: bytes) -> None:
        from aiokafka import AIOKafkaProducer

        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all")
            await producer.start()
            try:
                for value in values:
                    await producer.send_and_wait(self.settings.topic_inspections, value, key=key)
            finally:
                await producer.stop()

        asyncio.run(send())

    def stored(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [
                (r.event_id, r.status)
                for r in conn.execute(text("SELECT event_id, status FROM board_inspections"))
            ]

    def wait_rows(self, n: int, timeout_s: float = 180.0) -> None:
        wait_for(lambda: len(self.stored()) >= n, timeout_s, f"fewer than {n} boards in PostgreSQL")


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s: {what}")


def read_topic(settings: Settings, topic: str) -> list[tuple[int, int, bytes | None, bytes]]:
    """Every record of `topic`: (partition, offset, key, value)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> list[tuple[int, int, bytes | None, bytes]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
            consumer.assign(parts)
            start = await consumer.beginning_offsets(parts)
            end = await consumer.end_offsets(parts)
            # Explicit seeks: seek_to_beginning() is lazy, and position() could see the "latest" reset.
            for tp in parts:
                consumer.seek(tp, start[tp])
            out: list[tuple[int, int, bytes | None, bytes]] = []
            while any([await consumer.position(tp) < end[tp] for tp in parts]):
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    out.extend((r.partition, r.offset, r.key, r.value) for r in records)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(read())


def open_pipeline(settings: Settings, database_url: str, model: Path, logs: Path) -> Pipeline:
    """Private topics and consumer group on `settings`' broker, the database at `database_url`."""
    from streams.db.engine import make_engine
    from streams.kafka.admin import ensure_topics

    run = uuid.uuid4().hex[:8]
    s = settings.with_(
        database_url=database_url,
        topic_inspections=f"t-{run}.inspections",
        topic_alarms=f"t-{run}.alarms",
        topic_defects=f"t-{run}.defects",
        topic_dlq=f"t-{run}.dlq",
        topic_partitions=4,
        worker_id=f"t-{run}-workers",
    )
    ensure_topics(s)
    return Pipeline(s, make_engine(s.database_url), model, logs, [])


@contextlib.contextmanager
def pipeline_on(settings: Settings, database_url: str, model: Path, logs: Path) -> Iterator[Pipeline]:
    """`open_pipeline`, and its workers killed and engine closed afterwards."""
    p = open_pipeline(settings, database_url, model, logs)
    try:
        yield p
    finally:
        for proc in p.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        p.engine.dispose()


@pytest.fixture
def pipeline(
    settings: Settings, fresh_database: object, tiny_model: Path, tmp_path: Path
) -> Iterator[Pipeline]:
    with pipeline_on(settings, fresh_database.writer, tiny_model, tmp_path) as p:  # type: ignore[attr-defined]
        yield p


AlarmedPad = tuple[str, str, str, str]  # (event_id, pad_id, kind, alarm_type)


def offline_alarms(boards: list[BoardInspection], model: Path) -> tuple[list[BoardScores], set[AlarmedPad]]:
    """The undisturbed run: `boards` scored offline in one go with the code behind `spi-crrn score`, and
    the alarmed pads it gives (board outliers and process alarms)."""
    from crrn.board_scores import ALARM_TYPE_NAMES
    from crrn.model_file import ModelBundle
    from crrn.scoring import Scorer, score_boards

    bundle = ModelBundle.load(model)
    scorer = Scorer(bundle, device="cpu")
    offline = list(score_boards(boards, scorer, bundle.window_length, bundle.window_hop))
    pads: set[AlarmedPad] = set()
    for s in offline:
        hit = s.alarm != 0
        for pad, a, t in zip(s.pad_id[hit], s.alarm[hit], s.alarm_type[hit], strict=True):
            kind = "excessive" if a > 0 else "insufficient"
            pads.add((s.event_id, str(pad), kind, ALARM_TYPE_NAMES[int(t)]))
    return offline, pads


def stored_alarms(engine: Engine) -> set[AlarmedPad]:
    """The same tuples from pad_alarms."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_id, pad_id, kind, alarm_type FROM pad_alarms")).all()
    return {(r[0], r[1], r[2], r[3]) for r in rows}


def assert_as_undisturbed(p: Pipeline, boards: list[BoardInspection]) -> None:
    """What a run with faults must end with, compared with the same events scored offline in one go
    (the undisturbed run): every board exactly once and scored; the stored pad alarms and the alarm
    topic's alarm ids those of offline scoring (repeats only with the same id and content); with a
    classifier beside the model, the same defect events and every printer's diagnosis state at its
    last board."""
    from crrn.diagnosis.classifier import classifier_path_for
    from schemas.messages import alarm_id

    with p.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT event_id, status FROM board_inspections"))]
        maps = conn.execute(text("SELECT count(*) FROM anomaly_maps")).scalar_one()
        states = dict(conn.execute(text("SELECT printer_id, last_print_index FROM diagnosis_state")).all())
    ids = [e for e, _ in rows]
    assert len(ids) == len(set(ids)), "a board was stored twice"
    assert set(ids) == {b.event_id for b in boards}, "a board was lost (or an unknown one stored)"
    assert {st for _, st in rows} == {"scored"}
    assert maps == len(boards)

    offline, expected = offline_alarms(boards, p.model)
    assert stored_alarms(p.engine) == expected, "the stored alarms differ from the undisturbed run"

    messages: dict[str, set[bytes]] = {}
    for _, _, _, value in read_topic(p.settings, p.settings.topic_alarms):
        msg = json.loads(value)
        messages.setdefault(msg["alarm_id"], set()).add(json.dumps(msg["pads"], sort_keys=True).encode())
    expected_ids = {alarm_id(s.event_id, s.model_version) for s in offline if s.n_alarms}
    assert set(messages) == expected_ids, "an alarm is missing from the topic (or one is extra)"
    assert all(len(v) == 1 for v in messages.values()), "a repeated alarm id with other content"

    if classifier_path_for(p.model).is_file():
        assert stored_defect_events(p.engine) == offline_defect_events(boards, p.model)
        last = {b.printer_id: b.print_index for b in sorted(boards, key=lambda b: b.print_index)}
        assert states == last, "a printer's diagnosis state did not reach its last board"
