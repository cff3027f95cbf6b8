"""The dashboard's database reads: reporting views only (role spi_reporter), indexed, bounded rows.

Every function takes an open SQLAlchemy connection and returns typed values; pad arrays come back as
numpy arrays `(P,)` in the board's pad order. Row bounds (the LIMITs below) are listed in
docs/dashboard.md; each query filters on an indexed column (board_inspections(printer_id, print_index),
(inspected_at), pad_alarms' primary key (event_id, pad_id), defect_classifications(created_at),
printer_hourly(hour)).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, Row, text

MAX_PRINTERS = 500
MAX_BOARDS = 12  # board maps per printer page
MAX_TREND_BOARDS = 1000  # points of one pad's trend
MAX_DEFECT_ROWS = 500
MAX_RATE_ROWS = 20_000  # (printer, bucket) rows of the alarm-rate charts

Status = Literal["healthy", "board outliers", "process alarm", "defect"]


@dataclass(frozen=True)
class PrinterRow:
    """One printer on the overview: last hour's boards and alarms, active defects, derived status."""

    printer_id: str
    line_id: str
    last_board_at: datetime | None
    boards: int  # in the last hour
    boards_with_alarms: int
    pad_alarms: int
    pads_scored: int
    process_alarms: int  # pad alarms of alarm_type 'process' (evidence over boards), last hour
    active_defects: tuple[str, ...]
    status: Status

    @property
    def board_alarm_share(self) -> float:
        return self.boards_with_alarms / self.boards if self.boards else 0.0

    @property
    def pad_alarm_share(self) -> float:
        return self.pad_alarms / self.pads_scored if self.pads_scored else 0.0


@dataclass(frozen=True)
class StatusRule:
    """When a printer's last hour is not healthy (the dashboard's options; docs/dashboard.md).

    The limits are calibrated so that about 1 % of a healthy printer's boards carry any alarm (the
    board false-alarm target R). A share of boards with alarms at `outlier_board_share` (5 R) over at
    least `min_boards` boards is not chance; a single process alarm is, by its calibration, rare on a
    healthy printer, so one is enough."""

    outlier_board_share: float = 0.05
    min_boards: int = 20


def printer_status(
    active_defects: tuple[str, ...],
    process_alarms: int,
    boards: int,
    boards_with_alarms: int,
    rule: StatusRule,
) -> Status:
    """A named defect wins; then any process alarm; then a share of boards with (board-outlier) alarms
    at or above the rule's share, over enough boards; else healthy."""
    if active_defects:
        return "defect"
    if process_alarms > 0:
        return "process alarm"
    if boards >= rule.min_boards and boards_with_alarms >= rule.outlier_board_share * boards:
        return "board outliers"
    return "healthy"


_PRINTERS = text(
    """
    WITH recent AS (
        SELECT printer_id, count(*) AS boards,
               count(*) FILTER (WHERE n_excessive + n_insufficient > 0) AS boards_with_alarms,
               coalesce(sum(n_excessive + n_insufficient), 0) AS pad_alarms,
               coalesce(sum(n_pads) FILTER (WHERE status = 'scored'), 0) AS pads_scored
        FROM v_board_scores WHERE inspected_at >= :since AND inspected_at <= :now
        GROUP BY printer_id
    ), process AS (
        SELECT a.printer_id, count(*) AS process_alarms
        FROM v_pad_alarms a
        WHERE a.alarm_type = 'process' AND a.event_id IN (
            SELECT event_id FROM v_board_scores WHERE inspected_at >= :since AND inspected_at <= :now)
        GROUP BY a.printer_id
    ), latest_defect AS (
        SELECT DISTINCT ON (printer_id, defect) printer_id, defect, state
        FROM v_defects
        ORDER BY printer_id, defect, created_at DESC, last_print_index DESC NULLS LAST
    )
    SELECT p.printer_id, p.line_id,
           (SELECT max(b.inspected_at) FROM v_board_scores b
            WHERE b.printer_id = p.printer_id) AS last_board_at,
           coalesce(r.boards, 0) AS boards, coalesce(r.boards_with_alarms, 0) AS boards_with_alarms,
           coalesce(r.pad_alarms, 0) AS pad_alarms, coalesce(r.pads_scored, 0) AS pads_scored,
           coalesce(k.process_alarms, 0) AS process_alarms,
           ARRAY(SELECT d.defect FROM latest_defect d WHERE d.printer_id = p.printer_id AND d.state = 'raised'
                 ORDER BY d.defect) AS active_defects
    FROM v_printers p LEFT JOIN recent r ON r.printer_id = p.printer_id
         LEFT JOIN process k ON k.printer_id = p.printer_id
    ORDER BY p.printer_id
    LIMIT :limit
    """
)


def printers(conn: Connection, now: datetime, rule: StatusRule) -> list[PrinterRow]:
    """Every printer (at most MAX_PRINTERS) with its last hour before `now`."""
    rows = conn.execute(_PRINTERS, {"since": now - timedelta(hours=1), "now": now, "limit": MAX_PRINTERS})
    out = []
    for r in rows:
        active = tuple(r.active_defects or ())
        boards, with_alarms, process = int(r.boards), int(r.boards_with_alarms), int(r.process_alarms)
        out.append(
            PrinterRow(
                r.printer_id,
                r.line_id,
                r.last_board_at,
                boards,
                with_alarms,
                int(r.pad_alarms),
                int(r.pads_scored),
                process,
                active,
                printer_status(active, process, boards, with_alarms, rule),
            )
        )
    return out


@dataclass(frozen=True, eq=False)
class BoardMap:
    """One stored board with its geometry, measurements, scores and alarm codes, arrays (P,)."""

    event_id: str
    board_id: str
    print_index: int
    inspected_at: datetime
    status: str
    model_version: str | None
    n_excessive: int
    n_insufficient: int
    pad_id: np.ndarray  # (P,) str
    x_mm: np.ndarray  # (P,) float32
    y_mm: np.ndarray
    size_x_mm: np.ndarray
    size_y_mm: np.ndarray
    volume_pct: np.ndarray
    score: np.ndarray | None  # (P,) float32 signed; None when not scored
    alarm: np.ndarray  # (P,) int8: +1 excessive, -1 insufficient, 0 none (from the stored pad alarms)
    threshold_excessive: float | None
    threshold_insufficient: float | None


@dataclass(frozen=True)
class DefectRow:
    """One raised or cleared printer defect."""

    printer_id: str
    defect: str
    state: str
    probability: float | None
    first_print_index: int | None
    last_print_index: int | None
    created_at: datetime


_BOARDS = text(
    """
    SELECT event_id, board_id, print_index, inspected_at, status, model_version, n_excessive, n_insufficient,
           layout_key, volume_pct, scores, threshold_excessive, threshold_insufficient
    FROM v_board_measurements WHERE printer_id = :printer ORDER BY print_index DESC LIMIT :limit
    """
)
_LAYOUTS = text(
    "SELECT layout_key, pad_ids, x_mm, y_mm, size_x_mm, size_y_mm FROM v_pad_layouts "
    "WHERE layout_key = ANY(:keys)"
)
_ALARMS = text("SELECT event_id, pad_id, kind FROM v_pad_alarms WHERE event_id = ANY(:ids)")


def latest_boards(conn: Connection, printer_id: str, n: int) -> list[BoardMap]:
    """The printer's newest `n` boards (by print_index, at most MAX_BOARDS), newest first."""
    rows = conn.execute(_BOARDS, {"printer": printer_id, "limit": max(1, min(n, MAX_BOARDS))}).all()
    if not rows:
        return []
    layouts = {
        r.layout_key: r for r in conn.execute(_LAYOUTS, {"keys": sorted({r.layout_key for r in rows})})
    }
    alarms: dict[str, dict[str, int]] = {}
    for a in conn.execute(_ALARMS, {"ids": [r.event_id for r in rows]}):
        alarms.setdefault(a.event_id, {})[a.pad_id] = 1 if a.kind == "excessive" else -1
    out = []
    for r in rows:
        lay = layouts[r.layout_key]
        pad_id = np.asarray(lay.pad_ids, dtype=str)
        alarm = _alarm_codes(pad_id, alarms.get(r.event_id, {}))
        out.append(
            BoardMap(
                r.event_id,
                r.board_id,
                int(r.print_index),
                r.inspected_at,
                r.status,
                r.model_version,
                int(r.n_excessive),
                int(r.n_insufficient),
                pad_id,
                np.asarray(lay.x_mm, dtype=np.float32),
                np.asarray(lay.y_mm, dtype=np.float32),
                np.asarray(lay.size_x_mm, dtype=np.float32),
                np.asarray(lay.size_y_mm, dtype=np.float32),
                np.asarray(r.volume_pct, dtype=np.float32),
                None if r.scores is None else np.asarray(r.scores, dtype=np.float32),
                alarm,
                r.threshold_excessive,
                r.threshold_insufficient,
            )
        )
    return out


def _alarm_codes(pad_id: np.ndarray, codes: dict[str, int]) -> np.ndarray:
    """(P,) int8 alarm codes of the board's pads from {pad_id: +1/-1} (pads not named get 0)."""
    alarm = np.zeros(pad_id.shape, dtype=np.int8)
    if not codes:
        return alarm
    keys = np.asarray(list(codes), dtype=str)
    values = np.asarray(list(codes.values()), dtype=np.int8)
    order = np.argsort(keys)
    hit = np.isin(pad_id, keys)
    alarm[hit] = values[order][np.searchsorted(keys[order], pad_id[hit])]
    return alarm


_ACTIVE = text(
    """
    SELECT * FROM (
        SELECT DISTINCT ON (defect) printer_id, defect, state, probability, first_print_index,
               last_print_index, created_at
        FROM v_defects WHERE printer_id = :printer
        ORDER BY defect, created_at DESC, last_print_index DESC NULLS LAST
    ) latest WHERE state = 'raised' ORDER BY created_at DESC
    """
)


def active_defects(conn: Connection, printer_id: str) -> list[DefectRow]:
    """The printer's defects whose latest classification is 'raised' (newest first)."""
    return [_defect(r) for r in conn.execute(_ACTIVE, {"printer": printer_id})]


_TIMELINE = text(
    "SELECT printer_id, defect, state, probability, first_print_index, last_print_index, created_at "
    "FROM v_defects WHERE created_at >= :since ORDER BY created_at DESC LIMIT :limit"
)


def defect_timeline(conn: Connection, since: datetime) -> list[DefectRow]:
    """Raised / cleared defects since `since`, newest first (at most MAX_DEFECT_ROWS)."""
    return [_defect(r) for r in conn.execute(_TIMELINE, {"since": since, "limit": MAX_DEFECT_ROWS})]


def _defect(r: Row[Any]) -> DefectRow:
    return DefectRow(
        r.printer_id,
        r.defect,
        r.state,
        r.probability,
        r.first_print_index,
        r.last_print_index,
        r.created_at,
    )


@dataclass(frozen=True)
class RatePoint:
    """Alarms of one printer in one time bucket."""

    printer_id: str
    start: datetime
    boards: int
    boards_with_alarms: int
    pads_scored: int
    pad_alarms: int

    @property
    def pad_alarm_share(self) -> float:
        return self.pad_alarms / self.pads_scored if self.pads_scored else 0.0


_RATE_RECENT = text(
    """
    SELECT printer_id,
           date_bin(CAST(:bucket AS interval), inspected_at, TIMESTAMPTZ '2000-01-01 00:00Z') AS start,
           count(*) AS boards, count(*) FILTER (WHERE n_excessive + n_insufficient > 0) AS boards_with_alarms,
           coalesce(sum(n_pads) FILTER (WHERE status = 'scored'), 0) AS pads_scored,
           coalesce(sum(n_excessive + n_insufficient), 0) AS pad_alarms
    FROM v_board_scores WHERE inspected_at >= :since AND inspected_at <= :now
    GROUP BY 1, 2 ORDER BY 2, 1 LIMIT :limit
    """
)
_RATE_HOURLY = text(
    "SELECT printer_id, hour AS start, boards, boards_with_alarms, pads_scored, "
    "n_excessive + n_insufficient AS pad_alarms FROM v_printer_hourly "
    "WHERE hour >= :since AND hour <= :now ORDER BY hour, printer_id LIMIT :limit"
)


def alarm_rate_recent(conn: Connection, now: datetime, hours: float, bucket_minutes: int) -> list[RatePoint]:
    """Alarm rate per printer in `bucket_minutes` buckets over the last `hours`, from the boards."""
    params = {
        "bucket": f"{int(bucket_minutes)} minutes",
        "since": now - timedelta(hours=hours),
        "now": now,
        "limit": MAX_RATE_ROWS,
    }
    return [_rate(r) for r in conn.execute(_RATE_RECENT, params)]


def alarm_rate_hourly(conn: Connection, now: datetime, days: float) -> list[RatePoint]:
    """Alarm rate per printer and hour over the last `days`, from the printer-hour aggregates."""
    params = {"since": now - timedelta(days=days), "now": now, "limit": MAX_RATE_ROWS}
    return [_rate(r) for r in conn.execute(_RATE_HOURLY, params)]


def _rate(r: Row[Any]) -> RatePoint:
    return RatePoint(
        r.printer_id,
        r.start,
        int(r.boards),
        int(r.boards_with_alarms),
        int(r.pads_scored),
        int(r.pad_alarms),
    )


@dataclass(frozen=True)
class PadPoint:
    """One board's value of one pad: measured volume, signed score and the limits it was judged by."""

    event_id: str
    print_index: int
    inspected_at: datetime
    volume_pct: float | None
    score: float | None
    threshold_excessive: float | None
    threshold_insufficient: float | None
    alarm: str | None  # 'excessive' | 'insufficient' | None


_PAD_TREND = text(
    """
    WITH recent AS MATERIALIZED (
        SELECT event_id, print_index, inspected_at, layout_key, volume_pct, scores,
               threshold_excessive, threshold_insufficient
        FROM v_board_measurements WHERE printer_id = :printer ORDER BY print_index DESC LIMIT :limit
    ), idx AS MATERIALIZED (
        SELECT layout_key, array_position(pad_ids, :pad) AS k
        FROM v_pad_layouts WHERE layout_key IN (SELECT DISTINCT layout_key FROM recent)
    )
    SELECT r.event_id, r.print_index, r.inspected_at, r.volume_pct[i.k] AS volume_pct, r.scores[i.k] AS score,
           r.threshold_excessive, r.threshold_insufficient
    FROM recent r JOIN idx i ON i.layout_key = r.layout_key
    WHERE i.k IS NOT NULL
    ORDER BY r.print_index
    """
)
_PAD_ALARMS = text("SELECT event_id, kind FROM v_pad_alarms WHERE event_id = ANY(:ids) AND pad_id = :pad")


def pad_trend(conn: Connection, printer_id: str, pad_id: str, n: int) -> list[PadPoint]:
    """The pad's values on the printer's last `n` boards (at most MAX_TREND_BOARDS), oldest first."""
    params = {"printer": printer_id, "pad": pad_id, "limit": max(1, min(n, MAX_TREND_BOARDS))}
    rows = conn.execute(_PAD_TREND, params).all()
    if not rows:
        return []
    ids = [r.event_id for r in rows]
    kinds: dict[str, str] = dict(conn.execute(_PAD_ALARMS, {"ids": ids, "pad": pad_id}).tuples().all())
    return [
        PadPoint(
            r.event_id,
            int(r.print_index),
            r.inspected_at,
            r.volume_pct,
            r.score,
            r.threshold_excessive,
            r.threshold_insufficient,
            kinds.get(r.event_id),
        )
        for r in rows
    ]
