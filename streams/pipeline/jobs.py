"""The unit of work handed from the event loop to the inference thread (typed, frozen)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from crrn.scoring import BoardScores
from crrn.windowing import Window
from schemas.messages import DefectEvent
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord

# The diagnosis hook: one printer's newly scored boards (print_index order) -> defect state changes
# (crrn.diagnosis.policy.DefectPolicy instances are such callables).
DefectPolicy = Callable[[Sequence[BoardScores]], Sequence[DefectEvent]]


@runtime_checkable
class StatefulStage(Protocol):
    """A per-printer stage whose state the worker stores with the boards it has seen (`__call__` takes one
    printer's newly scored boards in print order): the defect policy (crrn.diagnosis.policy.DefectPolicy,
    returning defect events) and the process-alarm tracker (crrn.evidence.EvidenceTracker, returning the
    boards with their process alarms). The state dict carries `model_version` and `last_print_index`."""

    def __call__(self, scores: Sequence[BoardScores], /) -> Sequence[Any]: ...

    def export_state(self, printer_id: str) -> dict[str, Any] | None: ...

    def import_state(self, printer_id: str, state: Mapping[str, Any] | None) -> bool: ...


@dataclass(frozen=True, eq=False)
class BoardJob:
    """What one pushed record asks for: score `window` (its `new_boards` come from `window_sources`, same
    order) and/or store `unscored` boards. The record at `record_offset` stays pending until the job is
    done: the checkpointed window state never passes a window that is not stored yet."""

    topic: str
    partition: int
    epoch: int  # assignment epoch of the partition when the job was made; stale jobs are dropped
    record_offset: int  # the record whose push made this job
    window: Window | None
    window_sources: tuple[SourceRef, ...]
    unscored: tuple[BoardRecord, ...] = ()  # stored without scores: late, duplicate, unscored

    def __post_init__(self) -> None:
        n_new = 0 if self.window is None else self.window.n_new
        if len(self.window_sources) != n_new:
            raise ValueError(f"BoardJob: {len(self.window_sources)} sources for {n_new} new boards")

    @property
    def offsets(self) -> list[int]:
        """Input offsets that become durable when the job is done."""
        return [self.record_offset]
