"""Bulk, idempotent writes of the pipeline's results to PostgreSQL (one transaction per batch).

Every insert is `ON CONFLICT DO NOTHING` on the table's natural key (event_id, (event_id, pad_id),
event_key), so a replayed batch after a crash or a rebalance changes nothing: each board ends in
`board_inspections` exactly once, with its anomaly map and pad alarms. Rows are sent with executemany
(psycopg 3 pipelines the statements), never one round trip per pad.

The defect policy's per-printer state (`diagnosis_state`, migration 0003) is upserted in the same
transaction as the boards it has seen, and only moves forward (a row is replaced only by a state at a
higher `last_print_index`), so a stale worker cannot move it back; `diagnosis_states` reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class BoardRow:
    """One row of board_inspections (the board summary)."""

    event_id: str
    printer_id: str
    line_id: str
    inspector_id: str
    recipe_id: str
    board_id: str
    print_index: int
    inspected_at: datetime
    squeegee_direction: str | None
    n_pads: int
    status: str  # scored | late | duplicate | unscored
    model_version: str | None
    n_excessive: int
    n_insufficient: int
    max_abs_score: float | None
    source_topic: str
    source_partition: int
    source_offset: int


@dataclass(frozen=True)
class AnomalyMapRow:
    event_id: str
    model_version: str
    scores: list[float]  # (P,) in the board's pad order
    pad_ids: list[str]  # (P,)


@dataclass(frozen=True)
class PadAlarmRow:
    alarm_id: str
    event_id: str
    pad_id: str
    printer_id: str
    board_id: str
    inspected_at: datetime
    kind: str  # excessive | insufficient
    score: float
    threshold: float
    measured_volume_pct: float | None
    x_mm: float | None
    y_mm: float | None
    model_version: str


@dataclass(frozen=True)
class DefectRow:
    event_key: str
    printer_id: str
    defect: str
    state: str
    probability: float | None
    first_event_id: str
    last_event_id: str
    first_print_index: int
    last_print_index: int
    model_version: str


@dataclass(frozen=True)
class DiagnosisStateRow:
    """One row of diagnosis_state: a printer's `DefectPolicy.export_state()` after `last_print_index`."""

    printer_id: str
    model_version: str
    last_print_index: int
    state: dict[str, Any]


@dataclass
class ResultBatch:
    """Everything one inference batch stores; written in one transaction."""

    boards: list[BoardRow] = field(default_factory=list)
    anomaly_maps: list[AnomalyMapRow] = field(default_factory=list)
    pad_alarms: list[PadAlarmRow] = field(default_factory=list)
    defects: list[DefectRow] = field(default_factory=list)
    diagnosis_states: list[DiagnosisStateRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.boards) + len(self.defects) + len(self.diagnosis_states)


_PRINTERS = text(
    "INSERT INTO printers (printer_id, line_id) VALUES (:printer_id, :line_id) "
    "ON CONFLICT (printer_id) DO UPDATE SET last_seen_at = now(), line_id = EXCLUDED.line_id"
)
_BOARDS = text(
    "INSERT INTO board_inspections (event_id, printer_id, line_id, inspector_id, recipe_id, board_id, "
    "print_index, inspected_at, squeegee_direction, n_pads, status, model_version, n_excessive, "
    "n_insufficient, max_abs_score, source_topic, source_partition, source_offset) VALUES (:event_id, "
    ":printer_id, :line_id, :inspector_id, :recipe_id, :board_id, :print_index, :inspected_at, "
    ":squeegee_direction, :n_pads, :status, :model_version, :n_excessive, :n_insufficient, :max_abs_score, "
    ":source_topic, :source_partition, :source_offset) ON CONFLICT (event_id) DO NOTHING"
)
_MAPS = text(
    "INSERT INTO anomaly_maps (event_id, model_version, scores, pad_ids) "
    "VALUES (:event_id, :model_version, :scores, :pad_ids) ON CONFLICT (event_id) DO NOTHING"
)
_ALARMS = text(
    "INSERT INTO pad_alarms (alarm_id, event_id, pad_id, printer_id, board_id, inspected_at, kind, score, "
    "threshold, measured_volume_pct, x_mm, y_mm, model_version) VALUES (:alarm_id, :event_id, :pad_id, "
    ":printer_id, :board_id, :inspected_at, :kind, :score, :threshold, :measured_volume_pct, :x_mm, :y_mm, "
    ":model_version) ON CONFLICT (event_id, pad_id) DO NOTHING"
)
_DEFECTS = text(
    "INSERT INTO defect_classifications (event_key, printer_id, defect, state, probability, first_event_id, "
    "last_event_id, first_print_index, last_print_index, model_version) VALUES (:event_key, :printer_id, "
    ":defect, :state, :probability, :first_event_id, :last_event_id, :first_print_index, :last_print_index, "
    ":model_version) ON CONFLICT (event_key) DO NOTHING"
)

_STATES = text(
    "INSERT INTO diagnosis_state (printer_id, model_version, last_print_index, state) VALUES (:printer_id, "
    ":model_version, :last_print_index, CAST(:state AS jsonb)) ON CONFLICT (printer_id) DO UPDATE "
    "SET model_version = EXCLUDED.model_version, last_print_index = EXCLUDED.last_print_index, "
    "state = EXCLUDED.state, updated_at = now() "
    "WHERE diagnosis_state.last_print_index < EXCLUDED.last_print_index"
)


def _dicts(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [dict(r.__dict__) for r in rows]


class ResultWriter:
    """Idempotent bulk writer of `ResultBatch`es, plus the "already stored?" lookup used on replay."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """The subset of `event_ids` that board_inspections already holds."""
        if not event_ids:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT event_id FROM board_inspections WHERE event_id = ANY(:ids)"),
                {"ids": list(event_ids)},
            ).all()
        return {r.event_id for r in rows}

    def diagnosis_states(self, printer_ids: Sequence[str]) -> dict[str, DiagnosisStateRow]:
        """The stored diagnosis state of each of `printer_ids` that has one (one query)."""
        if not printer_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT printer_id, model_version, last_print_index, state FROM diagnosis_state "
                    "WHERE printer_id = ANY(:ids)"
                ),
                {"ids": list(printer_ids)},
            ).all()
        return {
            r.printer_id: DiagnosisStateRow(
                r.printer_id,
                r.model_version,
                int(r.last_print_index),
                r.state if isinstance(r.state, dict) else json.loads(r.state),
            )
            for r in rows
        }

    def write(self, batch: ResultBatch) -> None:
        """Insert the batch in one transaction; rows that exist already are left as they are, except a
        diagnosis state, which a state at a higher `last_print_index` replaces."""
        if not len(batch):
            return
        printers = {(b.printer_id, b.line_id) for b in batch.boards}
        with self.engine.begin() as conn:
            if printers:
                conn.execute(_PRINTERS, [{"printer_id": p, "line_id": line} for p, line in sorted(printers)])
            if batch.boards:
                conn.execute(_BOARDS, _dicts(batch.boards))
            if batch.anomaly_maps:
                conn.execute(_MAPS, _dicts(batch.anomaly_maps))
            if batch.pad_alarms:
                conn.execute(_ALARMS, _dicts(batch.pad_alarms))
            if batch.defects:
                conn.execute(_DEFECTS, _dicts(batch.defects))
            if batch.diagnosis_states:
                conn.execute(
                    _STATES,
                    [
                        {
                            "printer_id": r.printer_id,
                            "model_version": r.model_version,
                            "last_print_index": r.last_print_index,
                            "state": json.dumps(r.state),
                        }
                        for r in sorted(batch.diagnosis_states, key=lambda r: r.printer_id)
                    ],
                )
