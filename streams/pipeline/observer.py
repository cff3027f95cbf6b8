"""The core's observer port: what happened per batch, for metrics, without any metrics library here.

The pipeline reports two moments of a batch through `PipelineObserver` (Prometheus in production,
streams/observability/metrics.py; a list in tests); everything else worth watching is state the core
keeps anyway (counters of PipelineCore, the windows' buffers, the executor's in-flight count) and is read
by the adapter when it is scraped, so the hot path pays nothing for it.

The hooks are port decorators, not calls inside the processor: `ObservedModels` times every
`score_windows` call of the model the processor uses, `ObservedStore` reports every batch after the store
wrote it (alarms and defects of a batch are published and acknowledged inside its transaction, before
the commit, see processor.py, so "stored" is also "published"). The processor is unchanged and unaware
of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from crrn.scoring import BoardScores
from crrn.windowing import Window
from streams.pipeline.jobs import DefectPolicy, StatefulStage
from streams.pipeline.ports import Models, ResultStore, WindowScorer
from streams.pipeline.results import PrinterStateRow, ResultBatch, StateKind


class PipelineObserver(Protocol):
    """Called from the inference thread; implementations must be thread-safe and cheap."""

    def windows_scored(self, n_windows: int, seconds: float) -> None:
        """One forward pass (`score_windows` call) of `n_windows` windows took `seconds`."""
        ...

    def batch_stored(self, batch: ResultBatch, seconds: float, stored_at: datetime) -> None:
        """`batch` was written in `seconds` and is durable (and published) since `stored_at`."""
        ...


class NullObserver:
    """Observes nothing (the default)."""

    def windows_scored(self, n_windows: int, seconds: float) -> None:
        pass

    def batch_stored(self, batch: ResultBatch, seconds: float, stored_at: datetime) -> None:
        pass


class _TimedScorer:
    def __init__(self, scorer: WindowScorer, observer: PipelineObserver) -> None:
        self._scorer = scorer
        self._observer = observer

    def score_windows(self, windows: Sequence[Window]) -> list[BoardScores]:
        start = time.perf_counter()
        scores = self._scorer.score_windows(windows)  # a failure is not a forward pass: not observed
        self._observer.windows_scored(len(windows), time.perf_counter() - start)
        return scores


class ObservedModels:
    """`Models` whose scorer reports each forward pass to `observer` (the model may still be swapped)."""

    def __init__(self, models: Models, observer: PipelineObserver) -> None:
        self._models = models
        self._observer = observer

    @property
    def scorer(self) -> WindowScorer:
        return _TimedScorer(self._models.scorer, self._observer)

    @property
    def defect_policy(self) -> DefectPolicy | None:
        return self._models.defect_policy

    @property
    def evidence(self) -> StatefulStage | None:
        return self._models.evidence


class ObservedStore:
    """`ResultStore` that reports each batch to `observer` after the wrapped store wrote it."""

    def __init__(self, store: ResultStore, observer: PipelineObserver) -> None:
        self._store = store
        self._observer = observer

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        return self._store.stored_event_ids(event_ids)

    def printer_states(self, kind: StateKind, printer_ids: Sequence[str]) -> dict[str, PrinterStateRow]:
        return self._store.printer_states(kind, printer_ids)

    def write(self, batch: ResultBatch, before_commit: Callable[[], None] | None = None) -> None:
        start = time.perf_counter()
        # raises: nothing durable, nothing observed (the executor retries, or the processor splits a
        # refused batch and writes its parts, each observed on its own)
        self._store.write(batch, before_commit)
        self._observer.batch_stored(batch, time.perf_counter() - start, datetime.now(UTC))
