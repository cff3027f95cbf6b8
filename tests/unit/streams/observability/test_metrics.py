"""Prometheus adapter: the observer's metric updates and the scrape-time series, read back from a registry."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest

from streams.observability.metrics import (
    PartitionSnapshot,
    PrometheusObserver,
    WorkerCollector,
    WorkerSnapshot,
    worker_registry,
)
from streams.pipeline.processor import BatchProcessor, OutputTopics
from streams.pipeline.results import BoardRecord, ResultBatch
from tests.unit.streams.pipeline.fakes import T0, FakeModels, FakeScorer, FakeStore, board
from tests.unit.streams.pipeline.test_processor import jobs_for, printer_run


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_processed_batch_updates_boards_alarms_and_batch_size() -> None:
    from streams.pipeline.observer import ObservedModels, ObservedStore

    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    store = FakeStore()
    processor = BatchProcessor(
        ObservedModels(FakeModels(FakeScorer()), observer),
        ObservedStore(store, observer),
        lambda records: None,
        OutputTopics(alarms="a", defects="d"),
        is_current=lambda job: True,
    )
    processor.process(jobs_for(printer_run("P1", 5, hot={4, 5}) + printer_run("P2", 4)))
    assert value(registry, "spi_crrn_boards_stored_total", status="scored") == 9
    assert value(registry, "spi_crrn_alarms_total", printer_id="P1") == 2  # boards 4 and 5
    assert value(registry, "spi_crrn_alarms_total", printer_id="P2") is None  # no alarm, no series
    assert value(registry, "spi_crrn_alarmed_pads_total", printer_id="P1") == 2  # pad p0 of each
    assert value(registry, "spi_crrn_batch_boards_count") == 1
    assert value(registry, "spi_crrn_batch_boards_sum") == 9
    assert value(registry, "spi_crrn_inference_seconds_count") == 1
    assert value(registry, "spi_crrn_inference_batch_windows_sum") == 5
    assert value(registry, "spi_crrn_end_to_end_seconds_count") == 9


def test_end_to_end_latency_is_stored_at_minus_inspected_at_of_scored_boards_only() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    scored = FakeScorer().score_windows(
        [w for j in jobs_for(printer_run("P1", 3)) if (w := j.window) is not None]
    )
    batch = ResultBatch(
        boards=[BoardRecord(s.board, _source(), "scored", s) for s in scored]
        + [BoardRecord(board("P9", 1), _source(), "late")]
    )
    observer.batch_stored(batch, 0.01, T0 + timedelta(seconds=2))  # fakes' boards: inspected at T0
    assert value(registry, "spi_crrn_end_to_end_seconds_count") == 3
    assert value(registry, "spi_crrn_end_to_end_seconds_sum") == 6.0
    assert value(registry, "spi_crrn_end_to_end_seconds_bucket", le="1.0") == 0
    assert value(registry, "spi_crrn_end_to_end_seconds_bucket", le="2.5") == 3
    assert value(registry, "spi_crrn_boards_stored_total", status="late") == 1
    assert value(registry, "spi_crrn_store_seconds_sum") == 0.01


def test_an_empty_batch_is_not_a_batch() -> None:
    registry = CollectorRegistry()
    PrometheusObserver(registry).batch_stored(ResultBatch(), 0.0, T0)
    assert value(registry, "spi_crrn_batch_boards_count") == 0


def _source():  # type: ignore[no-untyped-def]
    from streams.pipeline.records import SourceRef

    return SourceRef("in", 0, 0)


SNAP = WorkerSnapshot(
    records_in=7,
    boards_valid=6,
    dead_letters=1,
    in_flight=3,
    boards_refused=2,
    model_version="m-abc",
    last_commit_age_s=1.5,
    partitions=(PartitionSnapshot(0, 4, 1, 12, 16), PartitionSnapshot(2, 0, 0, None)),
)


def test_scrape_time_series_come_from_the_snapshot() -> None:
    registry = CollectorRegistry()
    registry.register(WorkerCollector(lambda: SNAP, "spi.inspections"))
    assert value(registry, "spi_crrn_records_in_total") == 7
    assert value(registry, "spi_crrn_boards_valid_total") == 6
    assert value(registry, "spi_crrn_dead_letters_total") == 1
    assert value(registry, "spi_crrn_boards_refused_total") == 2
    assert value(registry, "spi_crrn_executor_in_flight") == 3
    assert value(registry, "spi_crrn_model_info", version="m-abc") == 1
    assert value(registry, "spi_crrn_last_commit_age_seconds") == 1.5
    assert value(registry, "spi_crrn_partitions_assigned") == 2
    tp0 = {"topic": "spi.inspections", "partition": "0"}
    assert value(registry, "spi_crrn_consumer_lag_records", **tp0) == 12
    assert value(registry, "spi_crrn_committed_lag_records", **tp0) == 16
    assert value(registry, "spi_crrn_window_boards", **tp0) == 4
    assert value(registry, "spi_crrn_pending_records", **tp0) == 1
    # unknown lag: no sample rather than a made-up 0
    assert value(registry, "spi_crrn_consumer_lag_records", topic="spi.inspections", partition="2") is None
    assert SNAP.total_lag == 12


def test_no_commit_yet_gives_no_age_sample_and_the_worker_registry_exposes_text() -> None:
    snap = WorkerSnapshot(0, 0, 0, 0, 0, "m", None)
    registry, observer = worker_registry(lambda: snap, "in")
    observer.windows_scored(2, 0.02)
    assert value(registry, "spi_crrn_last_commit_age_seconds") is None
    text = generate_latest(registry).decode()
    assert "spi_crrn_inference_seconds_bucket" in text
    assert "process_cpu_seconds_total" in text
    assert "spi_crrn_records_in_total 0.0" in text
