"""Bulk, idempotent writes of the pipeline's results to PostgreSQL (one transaction per batch).

The pipeline core's `ResultStore` port on PostgreSQL. A `ResultBatch` (streams/pipeline/results.py) holds
the boards themselves, their scores and the alarm and defect messages; this module alone turns them into
rows (`board_params`, `anomaly_map_params`, `pad_alarm_params`, `defect_params`: pure functions, tested in
tests/unit/streams/db/test_writer_params.py).

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
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from schemas.inspection import BoardInspection
from schemas.messages import DefectEvent, PadAlarm
from streams.pipeline.results import BoardRecord, DiagnosisStateRow, ResultBatch

_PRINTERS = text(
    "INSERT INTO printers (printer_id, line_id) VALUES (:printer_id, :line_id) "
    "ON CONFLICT (printer_id) DO UPDATE SET last_seen_at = now(), line_id = EXCLUDED.line_id"
)
_BOARDS = text(
    "INSERT INTO board_inspections (event_id, printer_id, line_id, inspector_id, recipe_id, board_id, "
    "print_index, inspected_at, squeegee_direction, n_pads, status, model_version, n_excessive, "
    "n_insufficient, max_abs_score, source_topic, source_partition, source_offset, barcode, panel_position, "
    "stencil_id, prints_since_cleaning, spi_fail_pads, spi_warning_pads) VALUES (:event_id, "
    ":printer_id, :line_id, :inspector_id, :recipe_id, :board_id, :print_index, :inspected_at, "
    ":squeegee_direction, :n_pads, :status, :model_version, :n_excessive, :n_insufficient, :max_abs_score, "
    ":source_topic, :source_partition, :source_offset, :barcode, :panel_position, :stencil_id, "
    ":prints_since_cleaning, :spi_fail_pads, :spi_warning_pads) ON CONFLICT (event_id) DO NOTHING"
)
_MAPS = text(
    "INSERT INTO anomaly_maps (event_id, model_version, scores, pad_ids) "
    "VALUES (:event_id, :model_version, :scores, :pad_ids) ON CONFLICT (event_id) DO NOTHING"
)
_ALARMS = text(
    "INSERT INTO pad_alarms (alarm_id, event_id, pad_id, printer_id, board_id, inspected_at, kind, score, "
    "threshold, measured_volume_pct, x_mm, y_mm, model_version, component_ref, spi_result) VALUES ("
    ":alarm_id, :event_id, :pad_id, :printer_id, :board_id, :inspected_at, :kind, :score, :threshold, "
    ":measured_volume_pct, :x_mm, :y_mm, :model_version, :component_ref, :spi_result) "
    "ON CONFLICT (event_id, pad_id) DO NOTHING"
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


# ---------------------------------------------------------------------- rows (pure)
def board_params(record: BoardRecord) -> dict[str, Any]:
    """The board_inspections row: the board's identity, where it came from, its status and score summary."""
    b, s, src = record.board, record.scores, record.source
    n_exc = n_ins = 0
    max_abs: float | None = None
    if s is not None:
        n_exc = int(np.count_nonzero(s.alarm > 0))
        n_ins = int(np.count_nonzero(s.alarm < 0))
        max_abs = float(np.max(np.abs(s.score))) if s.score.size else 0.0
    return {
        "event_id": b.event_id,
        "printer_id": b.printer_id,
        "line_id": b.line_id,
        "inspector_id": b.inspector_id,
        "recipe_id": b.recipe_id,
        "board_id": b.board_id,
        "print_index": b.print_index,
        "inspected_at": b.inspected_at,
        "squeegee_direction": b.squeegee_direction,
        "n_pads": b.n_pads,
        "status": record.status,
        "model_version": None if s is None else s.model_version,
        "n_excessive": n_exc,
        "n_insufficient": n_ins,
        "max_abs_score": max_abs,
        "source_topic": src.topic,
        "source_partition": src.partition,
        "source_offset": src.offset,
        **real_line_params(b),
    }


def real_line_params(b: BoardInspection) -> dict[str, Any]:
    """The board_inspections columns of migration 0006 (issue 13): context copied, SPI verdicts counted."""
    verdict = b.pads.spi_result
    return {
        "barcode": b.barcode,
        "panel_position": b.panel_position,
        "stencil_id": b.stencil_id,
        "prints_since_cleaning": b.prints_since_cleaning,
        "spi_fail_pads": None if verdict is None else int(np.count_nonzero(verdict == "fail")),
        "spi_warning_pads": None if verdict is None else int(np.count_nonzero(verdict == "warning")),
    }


def pad_context(rows: list[dict[str, Any]], boards: dict[str, BoardInspection]) -> list[dict[str, Any]]:
    """Add each alarm row's `component_ref` / `spi_result` from its board (None when the board has none).

    Alarmed pads are few per board, so the per-row lookup is over alarms, not over pads."""
    index: dict[str, dict[str, int]] = {}
    for row in rows:
        board = boards.get(row["event_id"])
        ref = None if board is None else board.pads.component_ref
        verdict = None if board is None else board.pads.spi_result
        if board is not None and (ref is not None or verdict is not None):
            positions = index.get(board.event_id)
            if positions is None:
                positions = index[board.event_id] = {p: i for i, p in enumerate(board.pads.pad_id.tolist())}
            i = positions[row["pad_id"]]
            row["component_ref"] = None if ref is None else str(ref[i])
            row["spi_result"] = None if verdict is None else str(verdict[i])
        else:
            row["component_ref"] = row["spi_result"] = None
    return rows


def anomaly_map_params(record: BoardRecord) -> dict[str, Any] | None:
    """The anomaly_maps row of a scored board (pads in the board's own order); None when not scored."""
    s = record.scores
    if s is None:
        return None
    return {
        "event_id": record.board.event_id,
        "model_version": s.model_version,
        "scores": s.score.astype(float).tolist(),
        "pad_ids": s.pad_id.tolist(),
    }


def pad_alarm_params(alarm: PadAlarm) -> list[dict[str, Any]]:
    """One pad_alarms row per alarmed pad of the message, with the limit of its side."""
    th = alarm.thresholds
    return [
        {
            "alarm_id": alarm.alarm_id,
            "event_id": alarm.event_id,
            "pad_id": p.pad_id,
            "printer_id": alarm.printer_id,
            "board_id": alarm.board_id,
            "inspected_at": alarm.inspected_at,
            "kind": p.kind,
            "score": p.score,
            "threshold": th.excessive if p.kind == "excessive" else th.insufficient,
            "measured_volume_pct": p.volume_pct,
            "x_mm": p.x_mm,
            "y_mm": p.y_mm,
            "model_version": alarm.model_version,
        }
        for p in alarm.pads
    ]


def defect_params(event: DefectEvent) -> dict[str, Any]:
    """The defect_classifications row of a raised or cleared defect."""
    return {
        "event_key": event.event_key,
        "printer_id": event.printer_id,
        "defect": event.defect,
        "state": event.state,
        "probability": event.probability,
        "first_event_id": event.first_event_id,
        "last_event_id": event.last_event_id,
        "first_print_index": event.first_print_index,
        "last_print_index": event.last_print_index,
        "model_version": event.model_version,
    }


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
        printers = {(r.board.printer_id, r.board.line_id) for r in batch.boards}
        maps = [m for m in map(anomaly_map_params, batch.boards) if m is not None]
        alarms = pad_context(
            [row for a in batch.alarms for row in pad_alarm_params(a)],
            {r.board.event_id: r.board for r in batch.boards},
        )
        with self.engine.begin() as conn:
            if printers:
                conn.execute(_PRINTERS, [{"printer_id": p, "line_id": line} for p, line in sorted(printers)])
            if batch.boards:
                conn.execute(_BOARDS, [board_params(r) for r in batch.boards])
            if maps:
                conn.execute(_MAPS, maps)
            if alarms:
                conn.execute(_ALARMS, alarms)
            if batch.defects:
                conn.execute(_DEFECTS, [defect_params(e) for e in batch.defects])
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
