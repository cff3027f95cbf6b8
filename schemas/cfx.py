"""IPC-CFX (IPC-2591) messages in and out: `UnitsInspected` with solder paste measurements -> board events,
printer defects -> `FaultOccurred` / `FaultCleared`, `FaultAcknowledged` read back. Pure (no AMQP here).

A CFX message is a JSON envelope (`MessageName`, `Version`, `TimeStamp`, `UniqueID`, `Source`, `Target`,
`RequestID`, `MessageBody`). Inspection results arrive as `CFX.Production.TestAndInspection.UnitsInspected`;
each inspected unit (board) lists `Inspections`, each with `Measurements`; solder paste measurements are
`CFX.Structures.SolderPasteInspection.SolderPasteMeasurement` (the `$type` names it). Mapping onto
`spi.board_inspection.v1` (CFX lengths are mm, volumes mm3, areas mm2):

    pads.pad_id         MeasurementName (else "<CRDs>-<Sequence>")
    pads.component_ref  CRDs (first designator) or the inspection's ComponentOfInterest.ReferenceDesignator
    pads.x_mm, y_mm     PX, PY
    pads.size_x/y_mm    EX, EY (the expected deposit = the aperture)
    pads.shape          "EXxEY" in mm (pads with one aperture size form one group)
    pads.volume_pct     100 * Vol / EVol        pads.area_pct   100 * A / EA
    pads.height_um      1000 * Z                pads.offset_x/y_um  1000 * DX, 1000 * DY
    pads.spi_result     Result: Passed -> pass, Failed -> fail, anything else (Inconclusive, ...) -> warning
    board_id, barcode   UnitIdentifier          panel_position  UnitPositionNumber
    inspector_id        Source (the SPI's CFX handle)   recipe_id  RecipeName, else the context's
    inspected_at        the envelope's TimeStamp
    event_id            uuid5(UniqueID, UnitIdentifier, UnitPositionNumber): a redelivered message
                        gives the same ids
    print_index         as for CSV files: ms since the epoch x 10_000 + panel position
A message that cannot become valid boards raises `InvalidEvent` naming the CFX path (e.g.
`MessageBody.InspectedUnits[0].Inspections[3].Measurements[0].Vol`) and the fix.

Faults: `FaultOccurrenceId` is the event key of the defect's `raised` event (a uuid5, stable across
replays); the `cleared` event of the same episode computes the same id (`fault_occurrence_id`).
"""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from schemas.errors import InvalidEvent
from schemas.inspection import BoardInspection
from schemas.messages import ID_NAMESPACE, DefectEvent, PadAlarm, defect_event_key
from schemas.validation import parse_inspection, parse_timestamp

CFX_VERSION = "1.7"
UNITS_INSPECTED = "CFX.Production.TestAndInspection.UnitsInspected"
SOLDER_PASTE_MEASUREMENT = "CFX.Structures.SolderPasteInspection.SolderPasteMeasurement"
FAULT_OCCURRED = "CFX.ResourcePerformance.FaultOccurred"
FAULT_CLEARED = "CFX.ResourcePerformance.FaultCleared"
FAULT_ACKNOWLEDGED = "CFX.ResourcePerformance.FaultAcknowledged"
PAD_ALARMS = "SPICRRN.PadAlarmsRaised"  # a CFX-shaped extension message (outside the CFX namespace)
PRINT_INDEX_PER_MS = 10_000
_NUMBERS = ("PX", "PY", "EX", "EY", "Z", "Vol", "EVol", "A", "EA", "DX", "DY")
_RESULT = {"passed": "pass", "failed": "fail"}


@dataclass(frozen=True)
class CfxContext:
    """What a CFX message does not say: the printer (and line) whose boards the SPI inspects."""

    printer_id: str | None = None
    line_id: str | None = None
    recipe_id: str | None = None


def decode_body(body: Any, content_encoding: str | None = None) -> dict[str, Any]:
    """An AMQP body (Data bytes, an AmqpValue string, or an already decoded dict) -> the CFX envelope."""
    if isinstance(body, dict):
        return body
    if isinstance(body, memoryview | bytearray):
        body = bytes(body)  # now: proton's Data body is a view into a buffer that dies with the message
    if isinstance(body, bytes):
        if content_encoding == "gzip" or body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                raise InvalidEvent("message", f"is not valid gzip ({exc}); send UTF-8 JSON") from None
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidEvent("message", f"is not UTF-8 (byte {exc.start}); send UTF-8 JSON") from None
    if not isinstance(body, str):
        raise InvalidEvent(
            "message", f"has a {type(body).__name__} body; send the CFX JSON as bytes or a string"
        )
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            "message", f"is not JSON ({exc.msg} at line {exc.lineno}); send one CFX envelope"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidEvent("message", "is not a JSON object; send one CFX envelope")
    return doc


def _get(obj: Any, key: str, path: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(obj, dict) or obj.get(key) is None:
        raise InvalidEvent(f"{path}.{key}" if path else key, f"is missing; send {what}")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidEvent(f"{path}.{key}" if path else key, f"is a {type(value).__name__}; send {what}")
    return value


def message_name(doc: dict[str, Any]) -> str:
    return str(_get(doc, "MessageName", "", str, "the CFX message name"))


def _column(ms: list[dict[str, Any]], key: str, path: str) -> np.ndarray:
    """(P,) float64 of one SolderPasteMeasurement field; a missing or non-number value names its index."""
    values = [m.get(key) for m in ms]
    kinds = set(map(type, values))
    if kinds - {int, float}:
        i = next(i for i, v in enumerate(values) if type(v) not in (int, float))
        raise InvalidEvent(f"{path}[{i}].{key}", f"is {values[i]!r}; send a number")
    return np.asarray(values, dtype=np.float64)


def units_inspected_to_boards(doc: dict[str, Any], ctx: CfxContext = CfxContext()) -> list[BoardInspection]:
    """The boards of one `UnitsInspected` envelope, each validated by `parse_inspection`."""
    name = message_name(doc)
    if name != UNITS_INSPECTED:
        raise InvalidEvent("MessageName", f"is {name!r}; this endpoint reads {UNITS_INSPECTED}")
    unique = str(_get(doc, "UniqueID", "", str, "the message's UniqueID (a GUID)"))
    source = str(_get(doc, "Source", "", str, "the sender's CFX handle"))
    stamp = parse_timestamp(_get(doc, "TimeStamp", "", str, "the message time"), "TimeStamp")
    body = _get(doc, "MessageBody", "", dict, "the UnitsInspected body")
    units = _get(body, "InspectedUnits", "MessageBody", list, "a list of inspected units")
    if not units:
        raise InvalidEvent("MessageBody.InspectedUnits", "is empty; send at least one inspected unit")
    recipe = (
        body.get("RecipeName") if isinstance(body.get("RecipeName"), str) and body.get("RecipeName") else None
    )
    boards = []
    for u, unit in enumerate(units):
        path = f"MessageBody.InspectedUnits[{u}]"
        boards.append(_unit_board(unit, path, unique, source, stamp, recipe, ctx))
    return boards


def _unit_board(
    unit: Any, path: str, unique: str, source: str, stamp: datetime, recipe: str | None, ctx: CfxContext
) -> BoardInspection:
    ident = str(_get(unit, "UnitIdentifier", path, str, "the unit's barcode / serial"))
    position = unit.get("UnitPositionNumber")
    if position is not None and (not isinstance(position, int) or isinstance(position, bool)):
        raise InvalidEvent(f"{path}.UnitPositionNumber", f"is {position!r}; send an integer >= 1 or omit it")
    inspections = _get(unit, "Inspections", path, list, "the unit's inspections")
    ms: list[dict[str, Any]] = []
    refs: list[str] = []
    for i, insp in enumerate(inspections):
        if not isinstance(insp, dict):
            raise InvalidEvent(f"{path}.Inspections[{i}]", "is not an object; send Inspection objects")
        coi = insp.get("ComponentOfInterest") or {}
        coi_ref = coi.get("ReferenceDesignator") if isinstance(coi, dict) else None
        for m in insp.get("Measurements") or []:
            if isinstance(m, dict) and SOLDER_PASTE_MEASUREMENT in str(m.get("$type", "")):
                ms.append(m)
                crds = m.get("CRDs")
                ref = crds.split(",")[0].strip() if isinstance(crds, str) and crds.strip() else coi_ref
                refs.append(str(ref) if ref else "")
    if not ms:
        raise InvalidEvent(
            f"{path}.Inspections", f"hold no {SOLDER_PASTE_MEASUREMENT}; send SPI measurements"
        )
    mpath = f"{path}.SolderPasteMeasurements"  # index = the unit's n-th solder paste measurement
    col = {k: _column(ms, k, mpath) for k in _NUMBERS}
    for expected in ("EVol", "EA"):
        bad = col[expected] <= 0
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidEvent(f"{mpath}[{i}].{expected}", "is <= 0; send the expected (aperture) value > 0")
    names = [m.get("MeasurementName") for m in ms]
    pad_id = [
        n if isinstance(n, str) and n else f"{refs[i] or 'pad'}-{ms[i].get('Sequence', i)}"
        for i, n in enumerate(names)
    ]
    results = np.array([_RESULT.get(str(m.get("Result", "")).lower(), "warning") for m in ms])
    shape = np.char.add(
        np.char.add(np.round(col["EX"], 4).astype(str), "x"), np.round(col["EY"], 4).astype(str)
    )
    printer = ctx.printer_id or source
    ms_epoch = max(round(stamp.timestamp() * 1000), 0)
    raw: dict[str, Any] = {
        "schema": "spi.board_inspection.v1",
        "event_id": str(uuid.uuid5(ID_NAMESPACE, f"cfx\x1f{unique}\x1f{ident}\x1f{position}")),
        "line_id": ctx.line_id or printer,
        "printer_id": printer,
        "inspector_id": source,
        "recipe_id": recipe or ctx.recipe_id or "cfx-unknown-recipe",
        "board_id": ident,
        "print_index": ms_epoch * PRINT_INDEX_PER_MS + (position or 0),
        "inspected_at": stamp,
        "barcode": ident,
        "panel_position": position,
        "pads": {
            "pad_id": pad_id,
            "x_mm": col["PX"],
            "y_mm": col["PY"],
            "size_x_mm": col["EX"],
            "size_y_mm": col["EY"],
            "shape": shape,
            "volume_pct": 100.0 * col["Vol"] / col["EVol"],
            "height_um": 1000.0 * col["Z"],
            "area_pct": 100.0 * col["A"] / col["EA"],
            "offset_x_um": 1000.0 * col["DX"],
            "offset_y_um": 1000.0 * col["DY"],
            "spi_result": results,
        },
    }
    if all(refs):
        raw["pads"]["component_ref"] = refs
    try:
        return parse_inspection(raw)
    except InvalidEvent as exc:  # name the CFX field, not the board event's
        raise InvalidEvent(f"{path}: {exc.field}", exc.problem) from None


# ------------------------------------------------------------------------------------------ out
def envelope(name: str, body: dict[str, Any], source: str, at: datetime, unique_id: str) -> dict[str, Any]:
    """A CFX envelope around `body` (the `$type` of the body is the message name, as CFX JSON writes it)."""
    return {
        "MessageName": name,
        "Version": CFX_VERSION,
        "TimeStamp": at.astimezone(UTC).isoformat(),
        "UniqueID": unique_id,
        "Source": source,
        "Target": None,
        "RequestID": None,
        "MessageBody": {"$type": f"{name}, CFX", **body},
    }


def fault_occurrence_id(event: DefectEvent) -> str:
    """The raised event's key: the same id for the FaultOccurred and FaultCleared of one episode."""
    return defect_event_key(
        event.printer_id, event.defect, "raised", event.first_event_id, event.model_version
    )


def defect_to_cfx(event: DefectEvent, source: str) -> dict[str, Any]:
    """`FaultOccurred` for a raised printer defect, `FaultCleared` for a cleared one."""
    occurrence = fault_occurrence_id(event)
    unique = str(uuid.uuid5(ID_NAMESPACE, f"cfx-fault\x1f{event.event_key}"))
    if event.state == "cleared":
        return envelope(FAULT_CLEARED, {"FaultOccurrenceId": occurrence, "Operator": None}, source,
                        event.emitted_at, unique)  # fmt: skip
    fault: dict[str, Any] = {
        "Cause": "MechanicalFailure",
        "Severity": "Error",
        "FaultCode": f"SPICRRN.{event.defect}",
        "FaultOccurrenceId": occurrence,
        "Lane": None,
        "Stage": None,
        "SideLocation": "Unknown",
        "AccessType": "Unknown",
        "Description": (
            f"printer {event.printer_id}: {event.defect.replace('_', ' ')} defect (probability "
            f"{event.probability:.2f}, prints {event.first_print_index}..{event.last_print_index}, "
            f"model {event.model_version})"
        ),
        "DescriptionTranslations": {},
        "OccurredAt": event.emitted_at.astimezone(UTC).isoformat(),
        "DueDateTime": None,
        "PrinterId": event.printer_id,  # not CFX: which printer, for MES systems that route by it
    }
    return envelope(FAULT_OCCURRED, {"Fault": fault}, source, event.emitted_at, unique)


def pad_alarm_to_cfx(alarm: PadAlarm, source: str) -> dict[str, Any]:
    """A CFX-shaped message for one board's alarmed pads (an extension: CFX has no model-alarm message)."""
    body = {
        "UnitIdentifier": alarm.board_id,
        "PrinterId": alarm.printer_id,
        "LineId": alarm.line_id,
        "PrintIndex": alarm.print_index,
        "InspectedAt": alarm.inspected_at.astimezone(UTC).isoformat(),
        "ModelVersion": alarm.model_version,
        "AlarmId": alarm.alarm_id,
        "Pads": [
            {
                "PadId": p.pad_id,
                "Kind": p.kind,
                "Score": p.score,
                "VolumePct": p.volume_pct,
                "PX": p.x_mm,
                "PY": p.y_mm,
            }
            for p in alarm.pads
        ],
    }
    return envelope(PAD_ALARMS, body, source, alarm.inspected_at, alarm.alarm_id)


@dataclass(frozen=True)
class FaultAck:
    fault_occurrence_id: str
    acknowledged_by: str | None
    acknowledged_at: datetime
    source: str | None


def parse_fault_acknowledged(doc: dict[str, Any]) -> FaultAck:
    """The FaultOccurrenceId, operator and time of a `FaultAcknowledged` envelope."""
    name = message_name(doc)
    if name != FAULT_ACKNOWLEDGED:
        raise InvalidEvent("MessageName", f"is {name!r}; this endpoint reads {FAULT_ACKNOWLEDGED}")
    body = _get(doc, "MessageBody", "", dict, "the FaultAcknowledged body")
    occurrence = str(_get(body, "FaultOccurrenceId", "MessageBody", str, "the FaultOccurrenceId (a GUID)"))
    operator = body.get("Operator") if isinstance(body.get("Operator"), dict) else {}
    who = None
    for key in ("OperatorIdentifier", "LoginName", "LastName"):
        if isinstance(operator.get(key), str) and operator[key]:
            who = operator[key]
            break
    at = parse_timestamp(_get(doc, "TimeStamp", "", str, "the message time"), "TimeStamp")
    source = doc.get("Source") if isinstance(doc.get("Source"), str) else None
    return FaultAck(occurrence, who, at, source)


def board_to_units_inspected(
    board: BoardInspection, source: str, unique_id: str | None = None
) -> dict[str, Any]:
    """A `UnitsInspected` envelope for one board (the inverse of the mapping above, with a 0.12 mm stencil
    for the expected height and volume): what `spi-crrn simulate --format cfx` publishes and tests send."""
    p = board.pads
    n = board.n_pads
    ea = p.size_x_mm * p.size_y_mm  # (P,) mm2
    evol = ea * 0.12  # (P,) mm3
    zeros = np.zeros(n)
    dx = (p.offset_x_um if p.offset_x_um is not None else zeros) / 1000.0
    dy = (p.offset_y_um if p.offset_y_um is not None else zeros) / 1000.0
    verdict = p.spi_result if p.spi_result is not None else np.full(n, "pass")
    words = np.where(verdict == "pass", "Passed", np.where(verdict == "fail", "Failed", "Inconclusive"))
    refs = p.component_ref if p.component_ref is not None else p.pad_id
    cols = {
        "MeasurementName": p.pad_id.tolist(), "CRDs": refs.tolist(), "Result": words.tolist(),
        "PX": p.x_mm.tolist(), "PY": p.y_mm.tolist(), "X": p.size_x_mm.tolist(), "Y": p.size_y_mm.tolist(),
        "Z": (p.height_um / 1000.0).tolist(), "EX": p.size_x_mm.tolist(), "EY": p.size_y_mm.tolist(),
        "EZ": [0.12] * n, "DX": dx.tolist(), "DY": dy.tolist(), "Vol": (p.volume_pct / 100.0 * evol).tolist(),
        "EVol": evol.tolist(), "A": (p.area_pct / 100.0 * ea).tolist(), "EA": ea.tolist(),
    }  # fmt: skip
    keys = list(cols)
    rows = zip(*(cols[k] for k in keys), strict=True)
    measurements = [
        {"$type": f"{SOLDER_PASTE_MEASUREMENT}, CFX", "Sequence": i + 1, **dict(zip(keys, row, strict=True))}
        for i, row in enumerate(rows)
    ]
    unit = {
        "UnitIdentifier": board.barcode or board.board_id,
        "UnitPositionNumber": board.panel_position or 1,
        "OverallResult": "Failed" if (verdict == "fail").any() else "Passed",
        "Inspections": [{"InspectionName": "SPI", "Result": "Passed", "Measurements": measurements}],
    }
    body = {
        "TransactionId": str(uuid.uuid5(ID_NAMESPACE, f"cfx-tx\x1f{board.event_id}")),
        "InspectionMethod": "SPI",
        "RecipeName": board.recipe_id,
        "InspectedUnits": [unit],
    }
    unique = unique_id or str(uuid.uuid5(ID_NAMESPACE, f"cfx-msg\x1f{board.event_id}"))
    return envelope(UNITS_INSPECTED, body, source, board.inspected_at, unique)
