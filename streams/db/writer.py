"""Bulk, idempotent writes of the pipeline's results to PostgreSQL (one transaction per batch).

The pipeline core's `ResultStore` port on PostgreSQL. A `ResultBatch` (streams/pipeline/results.py) holds
the boards themselves, their scores and the alarm and defect messages; this module alone turns them into
rows (`board_params`, `anomaly_map_params`, `pad_alarm_params`, `defect_params`: pure functions, tested in
tests/unit/streams/db/test_writer_params.py).

Every insert is `ON CONFLICT DO NOTHING` on the table's natural key (event_id, (event_id, pad_id),
event_key), so a replayed batch after a crash or a rebalance changes nothing: each board ends in
`board_inspections` exactly once, with its anomaly map and pad alarms. Rows are sent with executemany
(psycopg 3 pipelines the statements), never one round trip per pad; float arrays travel in PostgreSQL's
binary array format, encoded by numpy (`streams/db/arrays.py`).

The per-printer stages' states -- the defect policy's (`diagnosis_state`, migration 0003) and the
process-alarm evidence (`alarm_evidence_state`, migration 0007) -- are upserted in the same transaction as
the boards they have seen, and only move forward (a row is replaced only by a state at a higher
`last_print_index`), so a stale worker cannot move them back; `printer_states` reads them back.
Measurements (migration 0005): every board's volume, height and area go to `board_measurements` (float32
arrays in the board's pad order), its pad geometry once per distinct layout to `pad_layouts` (keyed by a
hash of the geometry, `layout_key`), and the boards this transaction inserted are added to their
printer-hour in `printer_hourly` by one INSERT ... SELECT over the batch's event ids. Only rows with
`stored_at = now()` count there: `now()` is the transaction's start time and `stored_at` defaults to it,
so a board that was already stored (a replay, or another worker's overlapping batch) adds nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from schemas.inspection import BoardInspection
from schemas.messages import DefectEvent, PadAlarm
from streams.db.arrays import Float4Array
from streams.pipeline.errors import PermanentStoreError
from streams.pipeline.results import STATE_KINDS, BoardRecord, PrinterStateRow, ResultBatch, StateKind

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
    "threshold, measured_volume_pct, x_mm, y_mm, model_version, alarm_type, evidence, evidence_boards, "
    "evidence_limit, component_ref, spi_result) VALUES (:alarm_id, :event_id, :pad_id, :printer_id, "
    ":board_id, :inspected_at, :kind, :score, :threshold, :measured_volume_pct, :x_mm, :y_mm, "
    ":model_version, :alarm_type, :evidence, :evidence_boards, :evidence_limit, :component_ref, "
    ":spi_result) ON CONFLICT (event_id, pad_id) DO NOTHING"
)
_DEFECTS = text(
    "INSERT INTO defect_classifications (event_key, printer_id, defect, state, probability, first_event_id, "
    "last_event_id, first_print_index, last_print_index, model_version) VALUES (:event_key, :printer_id, "
    ":defect, :state, :probability, :first_event_id, :last_event_id, :first_print_index, :last_print_index, "
    ":model_version) ON CONFLICT (event_key) DO NOTHING"
)
# One table per per-printer stage, same columns (migrations 0003 and 0007); rows only move forward.
# (Written out, not formatted from the table name: every statement here is a constant.)
_UPSERT_STATES: dict[StateKind, Any] = {
    "diagnosis": text(
        "INSERT INTO diagnosis_state (printer_id, model_version, last_print_index, state) VALUES "
        "(:printer_id, :model_version, :last_print_index, CAST(:state AS jsonb)) ON CONFLICT (printer_id) DO "
        "UPDATE "
        "SET model_version = EXCLUDED.model_version, last_print_index = EXCLUDED.last_print_index, "
        "state = EXCLUDED.state, updated_at = now() "
        "WHERE diagnosis_state.last_print_index < EXCLUDED.last_print_index"
    ),
    "evidence": text(
        "INSERT INTO alarm_evidence_state (printer_id, model_version, last_print_index, state) VALUES "
        "(:printer_id, :model_version, :last_print_index, CAST(:state AS jsonb)) ON CONFLICT (printer_id) DO "
        "UPDATE SET model_version = EXCLUDED.model_version, last_print_index = EXCLUDED.last_print_index, "
        "state = EXCLUDED.state, updated_at = now() "
        "WHERE alarm_evidence_state.last_print_index < EXCLUDED.last_print_index"
    ),
}
_SELECT_STATES: dict[StateKind, Any] = {
    "diagnosis": text(
        "SELECT printer_id, model_version, last_print_index, state FROM diagnosis_state "
        "WHERE printer_id = ANY(:ids)"
    ),
    "evidence": text(
        "SELECT printer_id, model_version, last_print_index, state FROM alarm_evidence_state "
        "WHERE printer_id = ANY(:ids)"
    ),
}
_LAYOUTS = text(
    "INSERT INTO pad_layouts (layout_key, recipe_id, n_pads, pad_ids, x_mm, y_mm, size_x_mm, size_y_mm) "
    "VALUES (:layout_key, :recipe_id, :n_pads, :pad_ids, :x_mm, :y_mm, :size_x_mm, :size_y_mm) "
    "ON CONFLICT (layout_key) DO NOTHING"
)
_MEASUREMENTS = text(
    "INSERT INTO board_measurements (event_id, layout_key, volume_pct, height_um, area_pct, "
    "threshold_excessive, threshold_insufficient) VALUES (:event_id, :layout_key, :volume_pct, :height_um, "
    ":area_pct, :threshold_excessive, :threshold_insufficient) ON CONFLICT (event_id) DO NOTHING"
)
# The boards this transaction inserted (stored_at = now(), see the module docstring), per printer-hour.
# ORDER BY: concurrent writers lock the hour rows in one order, so they cannot deadlock on them.
_HOURLY = text(
    "INSERT INTO printer_hourly (printer_id, hour, boards, boards_scored, boards_with_alarms, pads, "
    "pads_scored, n_excessive, n_insufficient, max_abs_score) "
    "SELECT printer_id, date_trunc('hour', inspected_at, 'UTC'), count(*), "
    "count(*) FILTER (WHERE status = 'scored'), count(*) FILTER (WHERE n_excessive + n_insufficient > 0), "
    "sum(n_pads), coalesce(sum(n_pads) FILTER (WHERE status = 'scored'), 0), sum(n_excessive), "
    "sum(n_insufficient), max(max_abs_score) "
    "FROM board_inspections WHERE event_id = ANY(:ids) AND stored_at = now() "
    "GROUP BY 1, 2 ORDER BY 1, 2 "
    "ON CONFLICT (printer_id, hour) DO UPDATE SET boards = printer_hourly.boards + EXCLUDED.boards, "
    "boards_scored = printer_hourly.boards_scored + EXCLUDED.boards_scored, "
    "boards_with_alarms = printer_hourly.boards_with_alarms + EXCLUDED.boards_with_alarms, "
    "pads = printer_hourly.pads + EXCLUDED.pads, "
    "pads_scored = printer_hourly.pads_scored + EXCLUDED.pads_scored, "
    "n_excessive = printer_hourly.n_excessive + EXCLUDED.n_excessive, "
    "n_insufficient = printer_hourly.n_insufficient + EXCLUDED.n_insufficient, "
    "max_abs_score = GREATEST(printer_hourly.max_abs_score, EXCLUDED.max_abs_score)"
)


# ---------------------------------------------------------------------- rows (pure)
def layout_key(board: BoardInspection) -> str:
    """Key of the board's pad geometry: recipe id + a hash of pad ids, centres and aperture sizes.

    Two boards share a key exactly when their pads (in order) and geometry at float32 agree, so a
    recipe change that moves a pad gets a new layout instead of drawing the old one."""
    p = board.pads
    h = hashlib.blake2b(digest_size=12)
    h.update("\x1f".join(p.pad_id.tolist()).encode())
    h.update(np.stack([p.x_mm, p.y_mm, p.size_x_mm, p.size_y_mm]).astype("<f4").tobytes())
    return f"{board.recipe_id}:{h.hexdigest()}"


def layout_params(board: BoardInspection) -> dict[str, Any]:
    """The pad_layouts row of the board's geometry (stored once per distinct layout)."""
    p = board.pads
    return {
        "layout_key": layout_key(board),
        "recipe_id": board.recipe_id,
        "n_pads": board.n_pads,
        "pad_ids": p.pad_id.tolist(),
        "x_mm": _reals(p.x_mm),
        "y_mm": _reals(p.y_mm),
        "size_x_mm": _reals(p.size_x_mm),
        "size_y_mm": _reals(p.size_y_mm),
    }


def measurement_params(record: BoardRecord, key: str) -> dict[str, Any]:
    """The board_measurements row: volume, height, area (board's pad order) and the score limits."""
    p, s = record.board.pads, record.scores
    return {
        "event_id": record.board.event_id,
        "layout_key": key,
        "volume_pct": _reals(p.volume_pct),
        "height_um": _reals(p.height_um),
        "area_pct": _reals(p.area_pct),
        "threshold_excessive": None if s is None else float(s.thresholds.excessive),
        "threshold_insufficient": None if s is None else float(s.thresholds.insufficient),
    }


def _reals(values: np.ndarray) -> Float4Array:
    """(P,) numbers as the float32 values a real[] stores, sent in binary (streams/db/arrays.py)."""
    return Float4Array(values)


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
        "scores": Float4Array(s.score),
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
            "alarm_type": p.alarm_type,
            "evidence": p.evidence,
            "evidence_boards": p.evidence_boards,
            "evidence_limit": p.evidence_limit,
        }
        for p in alarm.pads
    ]


def state_params(row: PrinterStateRow) -> dict[str, Any]:
    """A per-printer state row (the state as JSON text, cast to jsonb by the statement)."""
    return {
        "printer_id": row.printer_id,
        "model_version": row.model_version,
        "last_print_index": row.last_print_index,
        "state": json.dumps(row.state),
    }


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


def refused_by_content(exc: BaseException) -> bool:
    """Did PostgreSQL (or the driver, before sending) refuse the VALUES themselves?

    Yes for data errors (a NUL character in text, a string too long, a number out of range: SQLSTATE
    class 22) and integrity errors (a violated constraint: class 23), and for values the driver cannot
    encode (e.g. a lone surrogate). Everything else -- the server down or restarting, a reset connection,
    a timeout, even a missing table (a deployment error, not the board's fault) -- is transient."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return isinstance(exc.orig, UnicodeError | ValueError)
    return isinstance(exc, UnicodeError)


@contextlib.contextmanager
def permanent_errors() -> Iterator[None]:
    """Re-raise content refusals as the core's PermanentStoreError (with the server's reason)."""
    try:
        yield
    except Exception as exc:
        if not refused_by_content(exc):
            raise
        orig = getattr(exc, "orig", None) or exc
        raise PermanentStoreError(f"{type(orig).__name__}: {str(orig).splitlines()[0]}") from exc


class ResultWriter:
    """Idempotent bulk writer of `ResultBatch`es, plus the "already stored?" lookup used on replay."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """The subset of `event_ids` that board_inspections already holds."""
        if not event_ids:
            return set()
        with permanent_errors(), self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT event_id FROM board_inspections WHERE event_id = ANY(:ids)"),
                {"ids": list(event_ids)},
            ).all()
        return {r.event_id for r in rows}

    def printer_states(self, kind: StateKind, printer_ids: Sequence[str]) -> dict[str, PrinterStateRow]:
        """The stored state of stage `kind` of each of `printer_ids` that has one (one query)."""
        if not printer_ids:
            return {}
        with permanent_errors(), self.engine.connect() as conn:
            rows = conn.execute(_SELECT_STATES[kind], {"ids": list(printer_ids)}).all()
        return {
            r.printer_id: PrinterStateRow(
                kind,
                r.printer_id,
                r.model_version,
                int(r.last_print_index),
                r.state if isinstance(r.state, dict) else json.loads(r.state),
            )
            for r in rows
        }

    def write(self, batch: ResultBatch, before_commit: Callable[[], None] | None = None) -> None:
        """Insert the batch in one transaction; rows that exist already are left as they are, except a
        printer state, which a state at a higher `last_print_index` replaces. `before_commit` runs after
        the last insert, inside the transaction (if it raises, the transaction is rolled back).

        Raises PermanentStoreError when PostgreSQL refuses the rows themselves (`refused_by_content`)."""
        if not len(batch):
            if before_commit is not None:
                before_commit()
            return
        with permanent_errors():
            self._write(batch, before_commit)

    def _write(self, batch: ResultBatch, before_commit: Callable[[], None] | None) -> None:
        printers = {(r.board.printer_id, r.board.line_id) for r in batch.boards}
        maps = [m for m in map(anomaly_map_params, batch.boards) if m is not None]
        alarms = pad_context(
            [row for a in batch.alarms for row in pad_alarm_params(a)],
            {r.board.event_id: r.board for r in batch.boards},
        )
        keys = [layout_key(r.board) for r in batch.boards]
        layouts = {k: r.board for k, r in zip(keys, batch.boards, strict=True)}  # one row per layout
        measurements = [measurement_params(r, k) for r, k in zip(batch.boards, keys, strict=True)]
        with self.engine.begin() as conn:
            if printers:
                conn.execute(_PRINTERS, [{"printer_id": p, "line_id": line} for p, line in sorted(printers)])
            if batch.boards:
                conn.execute(_BOARDS, [board_params(r) for r in batch.boards])
                conn.execute(_LAYOUTS, [layout_params(b) for _, b in sorted(layouts.items())])
                conn.execute(_MEASUREMENTS, measurements)
                conn.execute(_HOURLY, {"ids": [r.board.event_id for r in batch.boards]})
            if maps:
                conn.execute(_MAPS, maps)
            if alarms:
                conn.execute(_ALARMS, alarms)
            if batch.defects:
                conn.execute(_DEFECTS, [defect_params(e) for e in batch.defects])
            for kind in STATE_KINDS:
                rows = sorted((r for r in batch.printer_states if r.kind == kind), key=lambda r: r.printer_id)
                if rows:
                    conn.execute(_UPSERT_STATES[kind], [state_params(r) for r in rows])
            if before_commit is not None:
                before_commit()
