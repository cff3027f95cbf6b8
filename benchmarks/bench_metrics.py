"""Cost of the worker's metrics hooks and of one scrape (prints numbers, asserts nothing).

    .venv/bin/python benchmarks/bench_metrics.py [--boards 32] [--printers 100] [--repeat 200]

Runs the inference thread's per-batch work (BatchProcessor.process with an in-memory scorer and store,
so only the pipeline's own Python code is timed) with and without the observer decorators, and times
`generate_latest` on a registry holding `--printers` printers' alarm series and 16 partitions. Compare
with the worker's ~13 ms per board end to end (README, "Measured").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from prometheus_client import generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the in-memory fakes live in tests/
from streams.observability.metrics import PartitionSnapshot, WorkerSnapshot, worker_registry
from streams.pipeline.observer import ObservedModels, ObservedStore
from streams.pipeline.processor import BatchProcessor, OutputTopics
from tests.unit.streams.pipeline.fakes import FakeModels, FakeScorer, FakeStore
from tests.unit.streams.pipeline.test_processor import jobs_for, printer_run


def per_batch_seconds(observed: bool, boards: int, repeat: int) -> float:
    snapshot = WorkerSnapshot(0, 0, 0, 0, 0, "m", None)
    _registry, observer = worker_registry(lambda: snapshot, "in")
    jobs = jobs_for(printer_run("P1", boards + 2, hot=set(range(0, boards + 2, 3))))
    best = float("inf")
    for _ in range(repeat):
        store = FakeStore()
        models = FakeModels(FakeScorer())
        processor = BatchProcessor(
            ObservedModels(models, observer) if observed else models,
            ObservedStore(store, observer) if observed else store,
            lambda records: None,
            OutputTopics("a", "d"),
            is_current=lambda job: True,
        )
        start = time.perf_counter()
        processor.process(jobs)
        best = min(best, time.perf_counter() - start)
    return best


def scrape_seconds(printers: int, repeat: int) -> tuple[float, int]:
    parts = tuple(PartitionSnapshot(p, 9, 1, 0, 9) for p in range(16))
    snapshot = WorkerSnapshot(10**6, 10**6, 3, 5, 0, "m", 0.4, parts)
    registry, observer = worker_registry(lambda: snapshot, "spi.inspections")
    for p in range(printers):
        observer.alarms.labels(f"P{p:03d}").inc()
        observer.alarmed_pads.labels(f"P{p:03d}").inc(3)
        observer.defect_events.labels(f"P{p:03d}", "squeegee_blade", "raised").inc()
    best = float("inf")
    size = 0
    for _ in range(repeat):
        start = time.perf_counter()
        body = generate_latest(registry)
        best = min(best, time.perf_counter() - start)
        size = len(body)
    return best, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=32, help="boards per batch")
    parser.add_argument("--printers", type=int, default=100, help="printers with alarm series (scrape)")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    plain = per_batch_seconds(False, args.boards, args.repeat)
    observed = per_batch_seconds(True, args.boards, args.repeat)
    n = args.boards
    print(f"batch of {n} boards (4 pads, fake scorer and store, best of {args.repeat}):")
    print(f"  without hooks {plain * 1e3:.3f} ms, with hooks {observed * 1e3:.3f} ms")
    print(f"  hooks cost {(observed - plain) / n * 1e6:.1f} us per board")
    scrape, size = scrape_seconds(args.printers, args.repeat)
    print(f"one scrape, {args.printers} printers, 16 partitions: {scrape * 1e3:.2f} ms, {size} bytes")


if __name__ == "__main__":
    main()
