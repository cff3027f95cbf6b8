"""Faults on the real services while boards stream, each compared with the undisturbed run of the same
events (`assert_as_undisturbed`: every board once, the same alarms stored and on the topic, the same
defect events and diagnosis states):

- PostgreSQL stopped for 20 s and started again (a private server: the shared one serves other tests);
- the Kafka broker restarted (a private broker);
- `kill -9` of the worker at random moments, three times in one run;
- two workers, one killed with -9 while the group rebalances for the second one.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.inspection import BoardInspection
from streams.settings import Settings
from tests.integration.pipeline.conftest import (
    Pipeline,
    assert_as_undisturbed,
    fleet,
    pipeline_on,
    wait_for,
    with_excess_episode,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 20.0


def episode_stream(first_print_index: int = 1) -> list[BoardInspection]:
    """Two printers, 60 boards each, a defect episode on each (so diagnosis state is exercised too)."""
    f = first_print_index
    boards = fleet(printers=2, boards=60, first_print_index=f)
    return with_excess_episode(boards, {"P01": (f + 19, f + 39), "P02": (f + 24, f + 44)})


def in_chunks(boards: list[BoardInspection], n: int) -> list[list[BoardInspection]]:
    """`boards` in print order, cut into n consecutive chunks (every printer in every chunk)."""
    ordered = sorted(boards, key=lambda b: (b.print_index, b.printer_id))
    size = -(-len(ordered) // n)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


# ---------------------------------------------------------------------------------------- private services
@pytest.fixture(scope="module")
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str, str]]:
    """A PostgreSQL server of its own (stopped and started by the test), migrated; (server, writer URL,
    admin URL)."""
    from streams.db.migrations import upgrade
    from streams.services.paths import StatePaths
    from streams.services.postgres_local import LocalPostgres

    server = LocalPostgres(StatePaths(tmp_path_factory.mktemp("pg-fault")))
    port = server.start()
    urls = server.urls(port)
    upgrade(urls["DATABASE_ADMIN_URL"], "head")
    try:
        yield server, urls["DATABASE_URL"], urls["DATABASE_ADMIN_URL"]
    finally:
        server.stop()


@pytest.fixture(scope="module")
def private_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A Kafka broker of its own (restarted by the test), reusing the shared broker's downloaded jars."""
    from streams.services.kafka_local import LocalKafka
    from streams.services.paths import StatePaths

    paths = StatePaths(tmp_path_factory.mktemp("kafka-fault"))
    shared_libs = StatePaths.default().kafka_libs
    if shared_libs.is_dir():
        paths.kafka.mkdir(parents=True, exist_ok=True)
        paths.kafka_libs.symlink_to(shared_libs, target_is_directory=True)
    broker = LocalKafka(paths)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# ---------------------------------------------------------------------------------------- the faults
def test_database_stopped_for_20_s_while_boards_stream(
    settings: Settings, private_postgres: tuple[object, str, str], diagnosed_model: Path, tmp_path: Path
) -> None:
    server, writer_url, _ = private_postgres
    with pipeline_on(settings, writer_url, diagnosed_model, tmp_path) as p:
        boards = episode_stream()
        first, during, after = in_chunks(boards, 3)
        p.publish(first)
        worker = p.start_worker("w")
        p.wait_rows(20)
        server.stop()  # type: ignore[attr-defined]
        t0 = time.monotonic()
        p.publish(during)  # boards keep coming while the database is down
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t0)))
        assert worker.poll() is None, "the worker died while the database was down"
        server.start()  # type: ignore[attr-defined]
        p.publish(after)
        p.wait_rows(len(boards), timeout_s=240)
        assert worker.poll() is None
        log = p.log_text("w")
        assert "retrying" in log or "not stored" in log  # the outage was seen, and ridden out
        assert_as_undisturbed(p, boards)


def test_broker_restarted_while_boards_stream(
    settings: Settings, private_kafka: object, own_database: object, diagnosed_model: Path, tmp_path: Path
) -> None:
    servers = private_kafka.bootstrap_servers()  # type: ignore[attr-defined]
    on_private = settings.with_(kafka_bootstrap_servers=servers)
    with pipeline_on(on_private, own_database.writer, diagnosed_model, tmp_path) as p:  # type: ignore[attr-defined]
        boards = episode_stream(first_print_index=1001)
        first, after = in_chunks(boards, 2)
        p.publish(first)
        worker = p.start_worker("w")
        p.wait_rows(20)
        private_kafka.stop()  # type: ignore[attr-defined]
        time.sleep(3)
        private_kafka.start()  # type: ignore[attr-defined]
        p.publish(after)
        wait_for(lambda: len(p.stored()) >= len(boards) or worker.poll() is not None, 240, "boards stored")
        if worker.poll() is not None:  # a worker may exit on a lost broker; the restarted one must recover
            p.start_worker("w2")
        p.wait_rows(len(boards), timeout_s=240)
        assert_as_undisturbed(p, boards)


@pytest.fixture
def pipeline(
    settings: Settings, own_database: object, diagnosed_model: Path, tmp_path: Path
) -> Iterator[Pipeline]:
    """A pipeline with a database of its own: each test compares whole tables with its undisturbed run."""
    with pipeline_on(settings, own_database.writer, diagnosed_model, tmp_path) as p:  # type: ignore[attr-defined]
        yield p


def test_kill_9_at_random_moments_three_times(pipeline: Pipeline) -> None:
    rng = random.Random(20261202)
    boards = episode_stream(first_print_index=2001)
    chunks = in_chunks(boards, 4)
    pipeline.publish(chunks[0])
    worker = pipeline.start_worker("w0")
    for k, chunk in enumerate(chunks[1:], start=1):
        pipeline.wait_rows(min(len(boards), 10 * k))
        time.sleep(rng.uniform(0.0, 3.0))  # a random moment: mid-batch, mid-commit, or idle
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        pipeline.publish(chunk)
        worker = pipeline.start_worker(f"w{k}")
    pipeline.wait_rows(len(boards), timeout_s=240)
    assert worker.poll() is None
    assert_as_undisturbed(pipeline, boards)


def test_a_worker_killed_during_the_rebalance(pipeline: Pipeline) -> None:
    boards = episode_stream(first_print_index=3001)
    first, after = in_chunks(boards, 2)
    pipeline.publish(first)
    a = pipeline.start_worker("a")
    pipeline.wait_assigned("a")
    pipeline.wait_rows(10)
    pipeline.start_worker("b")
    # the group rebalances when b joins: kill a while that is under way (b not yet assigned)
    wait_for(lambda: "partitions revoked" in pipeline.log_text("a"), 60, "no rebalance began in a")
    a.send_signal(signal.SIGKILL)
    a.wait(10)
    pipeline.publish(after)
    pipeline.wait_rows(len(boards), timeout_s=240)
    assert_as_undisturbed(pipeline, boards)
