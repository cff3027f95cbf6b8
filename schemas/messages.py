"""Outgoing messages: pad alarms, printer-defect events and dead letters (frozen dataclasses).

Each class has `to_dict()` / `to_json()` (the wire form described by `schemas/json/<schema>.json`) and
`from_dict()` (checks the fields and raises `InvalidEvent` naming the bad one). Ids are stable: the
same input and model version always give the same id, so a replay produces duplicates that
downstream stores can drop by id.

Score convention (spi.pad_alarm.v1): scores are signed, in per-pad normalized volume units (input
minus reconstruction). A board outlier is `excessive` when score >= thresholds.excessive (> 0) and
`insufficient` when score <= thresholds.insufficient (< 0). Since issue 16 a pad may also be alarmed as a
PROCESS alarm (evidence accumulated over the printer's boards, crrn/evidence.py), with a score inside the
thresholds: its optional fields say so (`alarm_type`, `evidence`, `evidence_boards`, `evidence_limit`,
docs/alarms.md). They are optional, so v1 consumers and producers that do not know them keep working.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import numpy as np

from schemas.errors import InvalidEvent
from schemas.inspection import BoardInspection
from schemas.validation import parse_timestamp

PAD_ALARM_V1 = "spi.pad_alarm.v1"
PRINTER_DEFECT_V1 = "spi.printer_defect.v1"
DEAD_LETTER_V1 = "spi.dead_letter.v1"

DEFECT_TYPES = ("squeegee_blade", "support", "removed_paste", "no_kneading", "clamp")
DefectType = Literal["squeegee_blade", "support", "removed_paste", "no_kneading", "clamp"]
AlarmKind = Literal["excessive", "insufficient"]
AlarmType = Literal["board_outlier", "process"]
ALARM_TYPES = ("board_outlier", "process")
DefectState = Literal["raised", "cleared"]

# Fixed namespace for the uuid5 ids of this project (any constant uuid works; never change it).
ID_NAMESPACE = uuid.UUID("6f1d9a52-3c1e-5b7e-9d3a-5c0e2b1f4a77")


def alarm_id(event_id: str, model_version: str) -> str:
    """Stable id of the alarm for one board event and one model version (uuid5)."""
    return str(uuid.uuid5(ID_NAMESPACE, f"pad_alarm\x1f{event_id}\x1f{model_version}"))


def defect_event_key(
    printer_id: str, defect: str, state: str, first_event_id: str, model_version: str
) -> str:
    """Stable id of one printer-defect state change: one episode (first event) and its state."""
    text = f"printer_defect\x1f{printer_id}\x1f{defect}\x1f{state}\x1f{first_event_id}\x1f{model_version}"
    return str(uuid.uuid5(ID_NAMESPACE, text))


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _get(d: dict[str, Any], name: str, kind: type | tuple[type, ...], prefix: str = "") -> Any:
    field = f"{prefix}{name}"
    if name not in d or d[name] is None:
        raise InvalidEvent(field, "is missing; send it")
    value = d[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise InvalidEvent(field, "is a boolean; send the documented type")
    if not isinstance(value, kind):
        raise InvalidEvent(field, f"is a {type(value).__name__}; send a {getattr(kind, '__name__', kind)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEvent(field, "is not finite; send a finite number")
    return value


def _number(d: dict[str, Any], name: str, prefix: str = "") -> float:
    return float(_get(d, name, (int, float), prefix))


def _choice(d: dict[str, Any], name: str, choices: Sequence[str], prefix: str = "") -> str:
    value = _get(d, name, str, prefix)
    if value not in choices:
        raise InvalidEvent(f"{prefix}{name}", f"is {value!r}; send one of {', '.join(choices)}")
    return cast(str, value)


def _schema(d: dict[str, Any], expected: str) -> None:
    if d.get("schema") != expected:
        raise InvalidEvent("schema", f"is {d.get('schema')!r}; expected {expected!r}")


@dataclass(frozen=True)
class Thresholds:
    """Signed score thresholds: excessive > 0, insufficient < 0 (per-pad normalized units).

    The one thresholds type: calibration (crrn/thresholds.py) makes it, the model file stores it, scoring
    applies it and the alarm message carries it."""

    excessive: float
    insufficient: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.excessive) and self.excessive > 0):
            raise InvalidEvent("thresholds.excessive", f"is {self.excessive}; send a finite number > 0")
        if not (math.isfinite(self.insufficient) and self.insufficient < 0):
            raise InvalidEvent("thresholds.insufficient", f"is {self.insufficient}; send a finite number < 0")

    def to_dict(self) -> dict[str, float]:
        return {"excessive": float(self.excessive), "insufficient": float(self.insufficient)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        return cls(excessive=float(data["excessive"]), insufficient=float(data["insufficient"]))


@dataclass(frozen=True)
class AlarmedPad:
    """One alarmed pad. The last four fields are optional on the wire (absent = not known, as from a
    producer before issue 16): `alarm_type` "board_outlier" (score beyond the thresholds on this board, or
    a member of a cluster of neighbouring pads moved together on it, crrn/clusters.py) or "process"
    (evidence over boards beyond its limit; a pad that is both is a board outlier),
    `evidence` the signed process statistic (+ excessive side, - insufficient side, standardized units),
    `evidence_boards` the boards it has accumulated over, and `evidence_limit` its limit (> 0)."""

    pad_id: str
    x_mm: float
    y_mm: float
    kind: AlarmKind
    score: float
    volume_pct: float
    alarm_type: AlarmType | None = None
    evidence: float | None = None
    evidence_boards: int | None = None
    evidence_limit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pad_id": self.pad_id,
            "x_mm": self.x_mm,
            "y_mm": self.y_mm,
            "kind": self.kind,
            "score": self.score,
            "volume_pct": self.volume_pct,
        }
        optional = {
            "alarm_type": self.alarm_type,
            "evidence": self.evidence,
            "evidence_boards": self.evidence_boards,
            "evidence_limit": self.evidence_limit,
        }
        return out | {k: v for k, v in optional.items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any], prefix: str = "") -> AlarmedPad:
        boards = None if d.get("evidence_boards") is None else _get(d, "evidence_boards", int, prefix)
        if boards is not None and boards < 0:
            raise InvalidEvent(f"{prefix}evidence_boards", f"is {boards}; send an integer >= 0")
        limit = None if d.get("evidence_limit") is None else _number(d, "evidence_limit", prefix)
        if limit is not None and limit <= 0:
            raise InvalidEvent(f"{prefix}evidence_limit", f"is {limit}; send a number > 0")
        return cls(
            pad_id=_get(d, "pad_id", str, prefix),
            x_mm=_number(d, "x_mm", prefix),
            y_mm=_number(d, "y_mm", prefix),
            kind=cast(AlarmKind, _choice(d, "kind", ("excessive", "insufficient"), prefix)),
            score=_number(d, "score", prefix),
            volume_pct=_number(d, "volume_pct", prefix),
            alarm_type=(
                None
                if d.get("alarm_type") is None
                else cast(AlarmType, _choice(d, "alarm_type", ALARM_TYPES, prefix))
            ),
            evidence=None if d.get("evidence") is None else _number(d, "evidence", prefix),
            evidence_boards=boards,
            evidence_limit=limit,
        )


@dataclass(frozen=True)
class PadAlarm:
    """All alarmed pads of one board (one message per board that has any)."""

    alarm_id: str
    event_id: str
    printer_id: str
    line_id: str
    board_id: str
    print_index: int
    inspected_at: datetime
    model_version: str
    thresholds: Thresholds
    pads: tuple[AlarmedPad, ...]
    schema: str = PAD_ALARM_V1

    @classmethod
    def for_board(
        cls,
        board: BoardInspection,
        scores: np.ndarray,
        thresholds: Thresholds,
        model_version: str,
        alarm: np.ndarray | None = None,
        *,
        process: np.ndarray | None = None,
        evidence: np.ndarray | None = None,
        evidence_boards: np.ndarray | None = None,
        evidence_limit: float | None = None,
        outlier: np.ndarray | None = None,
    ) -> PadAlarm | None:
        """The alarm of a board given its signed per-pad scores `(P,)`; None when no pad passes.

        `alarm` (P,) int8 codes (+1 excessive, -1 insufficient, 0 none), when the scorer already decided
        them, are used as they are; otherwise the thresholds decide (score >= excessive, <= insufficient).
        `process` (P,) int8 process-alarm codes (crrn.scoring.BoardScores.process), when given, mark each
        alarmed pad's `alarm_type` (board_outlier where the score passes the thresholds, else process);
        `evidence` (P,) float, `evidence_boards` (P,) int and `evidence_limit` fill the evidence fields.
        `outlier` (P,) int8 board-outlier codes (crrn.board_scores.BoardScores.outlier: single pads and
        cluster members), when given, decide `board_outlier` instead of the thresholds alone: a member of
        a cluster outlier may score inside them.
        """
        if alarm is not None:
            excessive, insufficient = alarm > 0, alarm < 0  # (P,) bool each
        else:
            excessive = scores >= thresholds.excessive
            insufficient = scores <= thresholds.insufficient
        hit = np.flatnonzero(excessive | insufficient)
        if hit.size == 0:
            return None
        p = board.pads
        kinds = np.where(excessive[hit], "excessive", "insufficient")
        n = hit.size
        types: list[Any] = [None] * n
        if process is not None:
            if outlier is not None:
                is_outlier = np.asarray(outlier)[hit] != 0
            else:
                is_outlier = (scores[hit] >= thresholds.excessive) | (scores[hit] <= thresholds.insufficient)
            types = np.where(is_outlier, "board_outlier", "process").tolist()
        ev: list[Any] = [None] * n if evidence is None else np.asarray(evidence)[hit].astype(float).tolist()
        ev_boards: list[Any] = (
            [None] * n if evidence_boards is None else np.asarray(evidence_boards)[hit].astype(int).tolist()
        )
        limit = None if evidence_limit is None else float(evidence_limit)
        pads = tuple(
            AlarmedPad(str(i), float(x), float(y), k, float(s), float(v), t, e, nb, limit)
            for i, x, y, k, s, v, t, e, nb in zip(
                p.pad_id[hit], p.x_mm[hit], p.y_mm[hit], kinds, scores[hit], p.volume_pct[hit],
                types, ev, ev_boards, strict=True,
            )
        )  # fmt: skip
        return cls(
            alarm_id=alarm_id(board.event_id, model_version),
            event_id=board.event_id,
            printer_id=board.printer_id,
            line_id=board.line_id,
            board_id=board.board_id,
            print_index=board.print_index,
            inspected_at=board.inspected_at,
            model_version=model_version,
            thresholds=thresholds,
            pads=pads,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "alarm_id": self.alarm_id,
            "event_id": self.event_id,
            "printer_id": self.printer_id,
            "line_id": self.line_id,
            "board_id": self.board_id,
            "print_index": self.print_index,
            "inspected_at": self.inspected_at.isoformat(),
            "model_version": self.model_version,
            "thresholds": {
                "excessive": self.thresholds.excessive,
                "insufficient": self.thresholds.insufficient,
            },
            "pads": [pad.to_dict() for pad in self.pads],
        }

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PadAlarm:
        _schema(d, PAD_ALARM_V1)
        th = _get(d, "thresholds", dict)
        pads = _get(d, "pads", list)
        print_index = _get(d, "print_index", int)
        if print_index < 0:
            raise InvalidEvent("print_index", f"is {print_index}; send an integer >= 0")
        return cls(
            alarm_id=_get(d, "alarm_id", str),
            event_id=_get(d, "event_id", str),
            printer_id=_get(d, "printer_id", str),
            line_id=_get(d, "line_id", str),
            board_id=_get(d, "board_id", str),
            print_index=print_index,
            inspected_at=parse_timestamp(_get(d, "inspected_at", str), "inspected_at"),
            model_version=_get(d, "model_version", str),
            thresholds=Thresholds(
                _number(th, "excessive", "thresholds."), _number(th, "insufficient", "thresholds.")
            ),
            pads=tuple(AlarmedPad.from_dict(p, f"pads[{i}].") for i, p in enumerate(pads)),
        )


@dataclass(frozen=True)
class DefectEvent:
    """A printer defect raised or cleared by the diagnosis policy."""

    event_key: str
    printer_id: str
    defect: DefectType
    state: DefectState
    probability: float
    first_event_id: str
    last_event_id: str
    first_print_index: int
    last_print_index: int
    model_version: str
    emitted_at: datetime
    schema: str = PRINTER_DEFECT_V1

    def __post_init__(self) -> None:
        if self.defect not in DEFECT_TYPES:
            raise InvalidEvent("defect", f"is {self.defect!r}; send one of {', '.join(DEFECT_TYPES)}")
        if self.state not in ("raised", "cleared"):
            raise InvalidEvent("state", f"is {self.state!r}; send raised or cleared")
        if not (0.0 <= self.probability <= 1.0):
            raise InvalidEvent("probability", f"is {self.probability}; send a number in [0, 1]")
        if not 0 <= self.first_print_index <= self.last_print_index:
            raise InvalidEvent(
                "first_print_index", "must satisfy 0 <= first_print_index <= last_print_index; fix the order"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "event_key": self.event_key,
            "printer_id": self.printer_id,
            "defect": self.defect,
            "state": self.state,
            "probability": self.probability,
            "first_event_id": self.first_event_id,
            "last_event_id": self.last_event_id,
            "first_print_index": self.first_print_index,
            "last_print_index": self.last_print_index,
            "model_version": self.model_version,
            "emitted_at": self.emitted_at.isoformat(),
        }

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DefectEvent:
        _schema(d, PRINTER_DEFECT_V1)
        return cls(
            event_key=_get(d, "event_key", str),
            printer_id=_get(d, "printer_id", str),
            defect=cast(DefectType, _choice(d, "defect", DEFECT_TYPES)),
            state=cast(DefectState, _choice(d, "state", ("raised", "cleared"))),
            probability=_number(d, "probability"),
            first_event_id=_get(d, "first_event_id", str),
            last_event_id=_get(d, "last_event_id", str),
            first_print_index=_get(d, "first_print_index", int),
            last_print_index=_get(d, "last_print_index", int),
            model_version=_get(d, "model_version", str),
            emitted_at=parse_timestamp(_get(d, "emitted_at", str), "emitted_at"),
        )


# The dead-letter topic has the broker's 16 MiB message limit and base64 grows bytes by 4/3: originals up
# to 8 MiB (10.7 MiB of base64, more than a 100,000-pad board) are kept verbatim, longer ones truncated.
MAX_DEAD_LETTER_ORIGINAL_BYTES = 8 * 2**20


@dataclass(frozen=True)
class DeadLetter:
    """A rejected input message kept verbatim (base64) with the reason and where it came from."""

    original_b64: str
    error_field: str
    problem: str
    source_topic: str
    source_partition: int
    source_offset: int
    received_at: datetime
    schema: str = DEAD_LETTER_V1

    @classmethod
    def from_error(
        cls, raw: bytes, error: InvalidEvent, topic: str, partition: int, offset: int, received_at: datetime
    ) -> DeadLetter:
        """The letter of a rejected record. An original over `MAX_DEAD_LETTER_ORIGINAL_BYTES` is kept
        truncated (the problem says so): in full its base64 would not fit the broker's message limit, and
        a letter the broker refuses would stall its partition."""
        problem = error.problem
        if len(raw) > MAX_DEAD_LETTER_ORIGINAL_BYTES:
            problem += (
                f" (original truncated to its first {MAX_DEAD_LETTER_ORIGINAL_BYTES} of {len(raw)} bytes"
                " for the dead-letter topic)"
            )
            raw = raw[:MAX_DEAD_LETTER_ORIGINAL_BYTES]
        return cls(
            original_b64=base64.b64encode(raw).decode("ascii"),
            error_field=error.field,
            problem=problem,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            received_at=received_at,
        )

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.original_b64, validate=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "original_b64": self.original_b64,
            "error_field": self.error_field,
            "problem": self.problem,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "received_at": self.received_at.isoformat(),
        }

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeadLetter:
        _schema(d, DEAD_LETTER_V1)
        original_b64 = _get(d, "original_b64", str)
        try:
            base64.b64decode(original_b64, validate=True)
        except ValueError:
            raise InvalidEvent(
                "original_b64", "is not base64; send the original bytes base64-encoded"
            ) from None
        return cls(
            original_b64=original_b64,
            error_field=_get(d, "error_field", str),
            problem=_get(d, "problem", str),
            source_topic=_get(d, "source_topic", str),
            source_partition=_get(d, "source_partition", int),
            source_offset=_get(d, "source_offset", int),
            received_at=parse_timestamp(_get(d, "received_at", str), "received_at"),
        )
