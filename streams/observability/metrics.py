"""Prometheus metrics of the worker (prometheus-client), the adapter side of streams/pipeline/observer.py.

Two kinds of series:
- pushed by the inference thread through the `PipelineObserver` port (`PrometheusObserver`): forward
  pass latency and size, boards per stored batch, boards stored by status, end-to-end latency, alarms and
  defect events per printer;
- read when scraped (`WorkerCollector`, from a `WorkerSnapshot` the Faust adapter builds on the event
  loop, the thread that owns that state): records in, valid boards, dead letters, boards held in windows,
  records read but not yet durable, executor in-flight, consumer lag per partition (records not read yet,
  and highwater minus the committed offset, which by the commit order includes the boards held in
  windows), the model version and
  the age of the last offset commit. Reading these costs nothing per record.

End-to-end latency is measured from the board's `inspected_at` (the SPI machine's clock, so clock skew
between it and the worker shows up here) to the moment its batch is stored, which is after its alarm and
defect messages were published and acknowledged by the broker (inside that transaction).

Every metric lives in the registry given (one per worker; tests make their own), never the global one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.pipeline.results import ResultBatch

PREFIX = "spi_crrn"

# seconds: a CPU forward pass of a small batch is ~10-100 ms, a big GPU batch of 2,000-pad boards < 1 s
INFERENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# seconds from inspection to stored: dominated by waiting in the window (a printer's next board) and lag
END_TO_END_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class PrometheusObserver:
    """`PipelineObserver` that updates Prometheus metrics (prometheus-client metrics are thread-safe)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.inference_seconds = Histogram(
            f"{PREFIX}_inference_seconds",
            "Duration of one forward pass (score_windows call) of the model",
            registry=registry,
            buckets=INFERENCE_BUCKETS,
        )
        self.windows_per_pass = Histogram(
            f"{PREFIX}_inference_batch_windows",
            "Windows scored per forward pass",
            registry=registry,
            buckets=SIZE_BUCKETS,
        )
        self.batch_boards = Histogram(
            f"{PREFIX}_batch_boards",
            "Boards per stored transaction (a batch, or a part of one the store refused)",
            registry=registry,
            buckets=SIZE_BUCKETS,
        )
        self.store_seconds = Histogram(
            f"{PREFIX}_store_seconds",
            "Duration of one stored transaction (publishing its alarms and defects included)",
            registry=registry,
            buckets=INFERENCE_BUCKETS,
        )
        self.end_to_end_seconds = Histogram(
            f"{PREFIX}_end_to_end_seconds",
            "Seconds from a board's inspected_at to its results stored (alarms published before)",
            registry=registry,
            buckets=END_TO_END_BUCKETS,
        )
        self.boards_stored = Counter(
            f"{PREFIX}_boards_stored",
            "Boards stored, by status (scored, unscored, late, duplicate)",
            ["status"],
            registry=registry,
        )
        self.alarms = Counter(
            f"{PREFIX}_alarms", "Pad-alarm messages published, by printer", ["printer_id"], registry=registry
        )
        self.alarmed_pads = Counter(
            f"{PREFIX}_alarmed_pads", "Alarmed pads in published alarms, by printer", ["printer_id"],
            registry=registry,
        )  # fmt: skip
        self.defect_events = Counter(
            f"{PREFIX}_defect_events",
            "Printer-defect events published, by printer, defect and state (raised/cleared)",
            ["printer_id", "defect", "state"],
            registry=registry,
        )

    def windows_scored(self, n_windows: int, seconds: float) -> None:
        self.inference_seconds.observe(seconds)
        self.windows_per_pass.observe(n_windows)

    def batch_stored(self, batch: ResultBatch, seconds: float, stored_at: datetime) -> None:
        if not batch.boards and not batch.defects:
            return
        self.store_seconds.observe(seconds)
        self.batch_boards.observe(len(batch.boards))
        by_status: dict[str, int] = {}
        for record in batch.boards:
            by_status[record.status] = by_status.get(record.status, 0) + 1
            if record.status == "scored":
                self.end_to_end_seconds.observe((stored_at - record.board.inspected_at).total_seconds())
        for status, n in by_status.items():
            self.boards_stored.labels(status).inc(n)
        for alarm in batch.alarms:
            self.alarms.labels(alarm.printer_id).inc()
            self.alarmed_pads.labels(alarm.printer_id).inc(len(alarm.pads))
        for event in batch.defects:
            self.defect_events.labels(event.printer_id, event.defect, event.state).inc()


@dataclass(frozen=True)
class PartitionSnapshot:
    """One input partition as the worker sees it now."""

    partition: int
    buffered_boards: int  # boards held in its printers' windows
    pending_records: int  # records read, not yet durable
    lag: int | None  # highwater - next offset to read: records not read yet (None: unknown)
    committed_lag: int | None = None  # highwater - committed offset (what Kafka's group tools show)


@dataclass(frozen=True)
class WorkerSnapshot:
    """What the collector reports at a scrape (built by streams/app.py on the event loop)."""

    records_in: int
    boards_valid: int
    dead_letters: int
    in_flight: int
    boards_refused: int  # valid boards the result store refused (dead-lettered by the processor)
    model_version: str
    last_commit_age_s: float | None  # None: no offset committed yet
    partitions: tuple[PartitionSnapshot, ...] = field(default_factory=tuple)

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions if p.lag is not None)


class WorkerCollector(Collector):
    """Series read from the worker's state at each scrape."""

    def __init__(self, snapshot: Callable[[], WorkerSnapshot], topic: str) -> None:
        self._snapshot = snapshot
        self._topic = topic

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        yield _counter(
            "records_in", "Input records handed to the pipeline core (re-reads included)", s.records_in
        )
        yield _counter("boards_valid", "Input records that were valid board events", s.boards_valid)
        yield _counter("dead_letters", "Input records dead-lettered (invalid), acknowledged", s.dead_letters)
        refused_doc = "Boards the result store refused (dead-lettered with the reason)"
        yield _counter("boards_refused", refused_doc, s.boards_refused)
        yield _gauge("executor_in_flight", "Jobs queued for or in the inference thread", s.in_flight)
        info = InfoMetricFamily(f"{PREFIX}_model", "The model the worker scores with")
        info.add_metric([], {"version": s.model_version})
        yield info
        age = GaugeMetricFamily(
            f"{PREFIX}_last_commit_age_seconds",
            "Seconds since the consumer group last accepted an offset commit (grows while idle too)",
        )
        if s.last_commit_age_s is not None:
            age.add_metric([], s.last_commit_age_s)
        yield age
        yield _gauge("partitions_assigned", "Input partitions assigned to this worker", len(s.partitions))
        per_partition: Mapping[str, tuple[str, Callable[[PartitionSnapshot], int | None]]] = {
            "window_boards": (
                "Boards held in the printers' windows, per partition",
                lambda p: p.buffered_boards,
            ),
            "pending_records": (
                "Records read but not yet durable, per partition",
                lambda p: p.pending_records,
            ),
            "consumer_lag_records": (
                "Records not read yet: highwater minus the next offset to read, per partition",
                lambda p: p.lag,
            ),
            "committed_lag_records": (
                "Highwater minus committed offset (includes boards held in windows: the commit order keeps "
                "them in the log until scored)",
                lambda p: p.committed_lag,
            ),
        }
        for name, (doc, value) in per_partition.items():
            family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["topic", "partition"])
            for p in s.partitions:
                v = value(p)
                if v is not None:
                    family.add_metric([self._topic, str(p.partition)], v)
            yield family


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def worker_registry(
    snapshot: Callable[[], WorkerSnapshot], topic: str
) -> tuple[CollectorRegistry, PrometheusObserver]:
    """A fresh registry with the worker's collector and observer metrics (and no process/GC defaults
    beyond prometheus-client's process collector, which reads /proc at scrape time)."""
    from prometheus_client import ProcessCollector

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(WorkerCollector(snapshot, topic))
    return registry, PrometheusObserver(registry)
