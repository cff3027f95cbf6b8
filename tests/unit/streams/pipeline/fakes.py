"""In-memory implementations of the pipeline core's ports (streams/pipeline/ports.py) and seeded boards.

Every fake appends what it is asked to do to one shared `log`, so tests can check the ORDER of effects
(publish before store, checkpoint before offset commit) as well as their content.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from crrn.anomaly_map import alarms
from crrn.scoring import BoardScores
from crrn.windowing import Window
from schemas.codec import inspection_to_json
from schemas.inspection import BoardInspection, PadArrays
from schemas.messages import DefectEvent, Thresholds, defect_event_key
from streams.pipeline.checkpoint import Checkpoint
from streams.pipeline.errors import PermanentStoreError
from streams.pipeline.records import Record, TopicPartition
from streams.pipeline.results import DiagnosisStateRow, ResultBatch

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TH = Thresholds(2.0, -2.0)
N_PADS = 4


def board(
    printer: str, index: int, *, hot: bool = False, recipe: str = "R1", event_id: str = ""
) -> BoardInspection:
    """A 4-pad board; `hot` puts pad p0 at 150 % volume (score +5 with FakeScorer), the rest at 100 %."""
    n = N_PADS
    volume = np.full(n, 100.0)
    if hot:
        volume[0] = 150.0
    pads = PadArrays(
        pad_id=np.array([f"p{i}" for i in range(n)]), x_mm=np.arange(n, dtype=float), y_mm=np.zeros(n),
        size_x_mm=np.ones(n), size_y_mm=np.ones(n), shape=np.full(n, "0402"), volume_pct=volume,
        height_um=np.full(n, 120.0), area_pct=np.full(n, 100.0),
    )  # fmt: skip
    eid = event_id or f"{printer}-{index}"
    return BoardInspection(eid, "L1", printer, "SPI-1", recipe, f"B{index}", index, T0, pads)


def record(b: BoardInspection | bytes, offset: int, partition: int = 0, topic: str = "in") -> Record:
    value = b if isinstance(b, bytes) else inspection_to_json(b)
    key = None if isinstance(b, bytes) else b.printer_id.encode()
    return Record(topic, partition, offset, key, value)


class FakeScorer:
    """score = (volume_pct - 100) / 10 per pad; windows of a printer in `fail_printers` raise."""

    def __init__(self, fail_printers: Sequence[str] = (), log: list[Any] | None = None) -> None:
        self.fail_printers = set(fail_printers)
        self.calls: list[list[str]] = []
        self.log = log if log is not None else []

    def score_windows(self, windows: Sequence[Window]) -> list[BoardScores]:
        self.calls.append([w.printer_id for w in windows])
        self.log.append(("score", len(windows)))
        if any(w.printer_id in self.fail_printers for w in windows):
            raise RuntimeError("recipe unknown to the model")
        out = []
        for w in windows:
            for b in w.new_boards:
                s = ((b.pads.volume_pct - 100.0) / 10.0).astype(np.float32)
                out.append(BoardScores(b, s, alarms(s, TH), "m1", "crrn", TH))
        return out


class CountingPolicy:
    """A stateful defect policy: raises `squeegee_blade` once a printer has seen 2 boards with alarms.

    State per printer: {"model_version", "last_print_index", "hot": count}; import/export like
    crrn.diagnosis.policy.DefectPolicy."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.imported: list[tuple[str, Any]] = []

    def __call__(self, scores: Sequence[BoardScores], /) -> list[DefectEvent]:
        events = []
        for s in scores:
            fresh = {"model_version": "m1", "last_print_index": -1, "hot": 0}
            st = self.state.setdefault(s.printer_id, fresh)
            st["last_print_index"] = s.print_index
            st["hot"] += int(s.n_alarms > 0)
            if s.n_alarms > 0 and st["hot"] == 2:
                key = defect_event_key(s.printer_id, "squeegee_blade", "raised", s.event_id, "m1")
                args = (s.event_id, s.event_id, s.print_index, s.print_index, "m1", T0)
                events.append(DefectEvent(key, s.printer_id, "squeegee_blade", "raised", 0.9, *args))
        return events

    def export_state(self, printer_id: str) -> dict[str, Any] | None:
        st = self.state.get(printer_id)
        return None if st is None else dict(st)

    def import_state(self, printer_id: str, state: Mapping[str, Any] | None) -> bool:
        self.imported.append((printer_id, None if state is None else dict(state)))
        if state is None:
            self.state.pop(printer_id, None)
            return False
        self.state[printer_id] = dict(state)
        return True


@dataclass
class FakeModels:
    scorer: FakeScorer
    defect_policy: Any = None


@dataclass
class FakeStore:
    """ResultStore in memory, refusing like PostgreSQL text does any id with a NUL character (a
    PermanentStoreError, for the lookups too); `fail_writes` makes the next writes raise a transient
    error (a database that is down)."""

    log: list[Any] = field(default_factory=list)
    boards: dict[str, Any] = field(default_factory=dict)
    alarms: list[Any] = field(default_factory=list)
    defects: list[Any] = field(default_factory=list)
    states: dict[str, DiagnosisStateRow] = field(default_factory=dict)
    fail_writes: int = 0

    @staticmethod
    def _refuse(values: Sequence[str]) -> None:
        if any("\x00" in v for v in values):
            raise PermanentStoreError("DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes")

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        self._refuse(event_ids)
        return {e for e in event_ids if e in self.boards}

    def diagnosis_states(self, printer_ids: Sequence[str]) -> dict[str, DiagnosisStateRow]:
        self._refuse(printer_ids)
        return {p: self.states[p] for p in printer_ids if p in self.states}

    def write(self, batch: ResultBatch, before_commit: Callable[[], None] | None = None) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise ConnectionError("database is down")
        self._refuse([v for r in batch.boards for v in (r.board.event_id, r.board.board_id)])
        self.log.append(("try", len(batch.boards)))
        if before_commit is not None:
            before_commit()
        self.log.append(("write", [r.board.event_id for r in batch.boards]))
        for r in batch.boards:
            self.boards.setdefault(r.board.event_id, r)
        self.alarms += batch.alarms
        self.defects += batch.defects
        for st in batch.diagnosis_states:
            old = self.states.get(st.printer_id)
            if old is None or old.last_print_index < st.last_print_index:
                self.states[st.printer_id] = replace(st)


@dataclass
class FakeCheckpoints:
    """The checkpoint store and the offset committer of the commit order, in memory, sharing one log."""

    log: list[Any] = field(default_factory=list)
    stored: dict[TopicPartition, Checkpoint] = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    fail_saves: int = 0
    refuse_commits: int = 0

    async def save(self, tp: TopicPartition, checkpoint: Checkpoint) -> None:
        if self.fail_saves:
            self.fail_saves -= 1
            raise ConnectionError("database is down")
        self.log.append(("save", tp, checkpoint.position))
        old = self.stored.get(tp)
        if old is None or old.position < checkpoint.position:
            self.stored[tp] = checkpoint

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> bool:
        if self.refuse_commits:
            self.refuse_commits -= 1
            return False
        self.log.append(("commit", dict(offsets)))
        self.committed.update(offsets)
        return True
