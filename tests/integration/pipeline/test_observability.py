"""A real worker scraped by a real Prometheus server (Debian's package), its /healthz and /readyz; a
worker whose database is unreachable reporting why it is not ready, and one whose database connection
is cut (a TCP forwarder, the shared server untouched) turning unready and ready again."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crrn.model_file import ModelBundle
from tests.integration.pipeline.conftest import Pipeline, fleet_with_truth, wait_for
from tests.integration.prometheus_server import free_port, prometheus_server
from tests.integration.tcp_forwarder import Forwarder

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, repr(exc)


def test_prometheus_scrapes_the_worker_series(pipeline: Pipeline, tmp_path: Path) -> None:
    boards = [b for b, _ in fleet_with_truth(printers=2, boards=12, first_print_index=1, inject_ratio=0.05)]
    port = free_port()
    worker = pipeline.start_worker("w1", {"METRICS_PORT": str(port), "LOG_FORMAT": "json"})
    with prometheus_server([f"127.0.0.1:{port}"], tmp_path) as prom:
        pipeline.wait_assigned("w1")
        pipeline.publish(boards)
        pipeline.publish_raw([b"\x00not json", b"{}"], key=b"P-bad")
        pipeline.wait_rows(len(boards))

        def scalar(promql: str) -> float | None:
            result = prom.query(promql)
            return float(result[0]["value"][1]) if result else None

        # Prometheus has scraped the worker after every board was stored and both letters acknowledged
        wait_for(
            lambda: (
                scalar("sum(spi_crrn_boards_stored_total)") == len(boards)
                and scalar("spi_crrn_dead_letters_total") == 2
            ),
            60,
            "Prometheus never saw every board stored and both dead letters",
        )
        assert scalar('up{job="spi-crrn-worker"}') == 1
        assert scalar("spi_crrn_records_in_total") == len(boards) + 2
        assert scalar("spi_crrn_boards_valid_total") == len(boards)
        assert scalar('spi_crrn_boards_stored_total{status="scored"}') == len(boards)
        assert scalar("spi_crrn_end_to_end_seconds_count") == len(boards)
        assert (scalar("spi_crrn_inference_seconds_count") or 0) >= 1
        assert scalar("spi_crrn_batch_boards_sum") == len(boards)
        [info] = prom.query("spi_crrn_model_info")
        assert info["metric"]["version"] == ModelBundle.load(pipeline.model).version
        with pipeline.engine.connect() as conn:
            alarm_messages = conn.execute(text("SELECT count(DISTINCT event_id) FROM pad_alarms")).scalar()
            alarmed_pads = conn.execute(text("SELECT count(*) FROM pad_alarms")).scalar()
        assert alarm_messages, "the injected anomalies should raise alarms"
        assert scalar("sum(spi_crrn_alarms_total)") == alarm_messages
        assert scalar("sum(spi_crrn_alarmed_pads_total)") == alarmed_pads
        by_printer = {r["metric"]["printer_id"] for r in prom.query("spi_crrn_alarms_total")}
        assert by_printer <= {b.printer_id for b in boards}
        # every record read: no lag; committed up to the boards the windows still hold (T - 1 per printer)
        wait_for(
            lambda: (
                scalar("sum(spi_crrn_consumer_lag_records)") == 0
                and scalar("spi_crrn_last_commit_age_seconds") is not None
                and scalar("sum(spi_crrn_committed_lag_records)") is not None
            ),
            30,
            "lag never reached 0, or no commit",
        )
        held = scalar("sum(spi_crrn_window_boards)")
        assert held == 2 * (ModelBundle.load(pipeline.model).window_length - 1)
        assert (scalar("sum(spi_crrn_committed_lag_records)") or 0) >= held
        assert scalar("spi_crrn_partitions_assigned") == pipeline.settings.topic_partitions
        assert scalar("spi_crrn_executor_in_flight") == 0

    assert get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
    assert get(f"http://127.0.0.1:{port}/readyz") == (200, "ready\n")
    assert worker.poll() is None
    # LOG_FORMAT=json: every line of the worker's output is one JSON object
    lines = [line for line in pipeline.log_text("w1").splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    assert any(e["message"].startswith("partitions assigned: ") for e in entries)
    letters = [e for e in entries if e["message"].startswith("dead letter ")]
    assert len(letters) == 2
    assert all({"partition", "offset", "topic"} <= e.keys() for e in letters)


def test_readyz_names_an_unreachable_database(pipeline: Pipeline) -> None:
    wrong = make_url(pipeline.settings.database_url).set(port=free_port())  # nothing listens there
    port = free_port()
    worker = pipeline.start_worker(
        "w-nodb",
        {"METRICS_PORT": str(port), "DATABASE_URL": wrong.render_as_string(hide_password=False)},
    )
    pipeline.wait_assigned("w-nodb")
    status, body = get(f"http://127.0.0.1:{port}/readyz")
    deadline = time.monotonic() + 30
    while "not consuming" in body and time.monotonic() < deadline:  # assignment logged before it's seen
        time.sleep(0.5)
        status, body = get(f"http://127.0.0.1:{port}/readyz")
    assert status == 503
    assert body.startswith("not ready\n- database unreachable: OperationalError: "), body
    assert "Connection refused" in body
    assert body.count("\n- ") == 1, body  # the only reason
    assert get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
    assert worker.poll() is None


def test_readyz_turns_unready_when_the_database_goes_and_ready_when_it_is_back(pipeline: Pipeline) -> None:
    db = make_url(pipeline.settings.database_url)
    forwarder = Forwarder(db.host or "127.0.0.1", db.port or 5432)
    forwarder.start()
    port = free_port()
    try:
        worker = pipeline.start_worker(
            "w-cut",
            {
                "METRICS_PORT": str(port),
                "DATABASE_URL": db.set(port=forwarder.port).render_as_string(hide_password=False),
            },
        )
        pipeline.wait_assigned("w-cut")
        readyz = f"http://127.0.0.1:{port}/readyz"
        wait_for(lambda: get(readyz) == (200, "ready\n"), 30, "never ready through the forwarder")
        forwarder.stop()  # the database is gone for this worker (the shared server keeps running)
        wait_for(lambda: get(readyz)[0] == 503, 30, "still ready without a database")
        status, body = get(readyz)
        assert status == 503
        assert "database unreachable" in body, body
        forwarder.start()
        wait_for(lambda: get(readyz) == (200, "ready\n"), 30, "not ready again after the database came back")
        assert worker.poll() is None
    finally:
        forwarder.stop()
