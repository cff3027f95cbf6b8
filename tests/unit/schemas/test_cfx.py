"""IPC-CFX mapping: a hand-written UnitsInspected with two units, the simulator's boards round-tripped,
malformed messages naming the CFX path, FaultOccurred / FaultCleared with one stable occurrence id, and
FaultAcknowledged read back."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.cfx import (
    FAULT_CLEARED,
    FAULT_OCCURRED,
    CfxContext,
    board_to_units_inspected,
    decode_body,
    defect_to_cfx,
    fault_occurrence_id,
    parse_fault_acknowledged,
    units_inspected_to_boards,
)
from schemas.errors import InvalidEvent
from schemas.messages import DefectEvent, defect_event_key

SPM = "CFX.Structures.SolderPasteInspection.SolderPasteMeasurement, CFX"


def _m(name: str, crd: str, result: str, px: float, vol: float, **kw: float) -> dict[str, Any]:
    m = {"$type": SPM, "MeasurementName": name, "CRDs": crd, "Result": result, "PX": px, "PY": 2.0,
         "X": 0.5, "Y": 0.4, "Z": 0.11, "EX": 0.5, "EY": 0.4, "EZ": 0.12, "DX": 0.01, "DY": -0.002,
         "Vol": vol, "EVol": 0.024, "A": 0.19, "EA": 0.2}  # fmt: skip
    m.update(kw)
    return m


MESSAGE: dict[str, Any] = {
    "MessageName": "CFX.Production.TestAndInspection.UnitsInspected",
    "Version": "1.7",
    "TimeStamp": "2024-05-01T08:30:00.1234567+02:00",
    "UniqueID": "3f0a8a1e-6a2b-4c8e-9d0e-1b2c3d4e5f60",
    "Source": "SPI-7",
    "Target": None,
    "RequestID": None,
    "MessageBody": {
        "$type": "CFX.Production.TestAndInspection.UnitsInspected, CFX",
        "InspectionMethod": "SPI",
        "RecipeName": "BOARD-A",
        "InspectedUnits": [
            {"UnitIdentifier": "SN1", "UnitPositionNumber": 1, "Inspections": [
                {"ComponentOfInterest": {"ReferenceDesignator": "R1"},
                 "Measurements": [_m("R1-1", "R1", "Passed", 1.0, 0.024),
                                  _m("R1-2", "", "Failed", 2.0, 0.012)]},
                {"Measurements": [{"$type": "CFX.Structures.Measurement, CFX", "MeasurementName": "other"}]},
            ]},
            {"UnitIdentifier": "SN2", "UnitPositionNumber": 2, "Inspections": [
                {"Measurements": [_m("R1-1", "R1", "Inconclusive", 1.0, 0.036)]}]},
        ],
    },
}  # fmt: skip


def test_units_become_boards_with_cfx_units_converted() -> None:
    one, two = units_inspected_to_boards(copy.deepcopy(MESSAGE), CfxContext(printer_id="P3"))
    assert (one.board_id, one.barcode, one.panel_position, two.panel_position) == ("SN1", "SN1", 1, 2)
    assert (one.printer_id, one.line_id, one.inspector_id, one.recipe_id) == ("P3", "P3", "SPI-7", "BOARD-A")
    assert one.inspected_at == datetime(2024, 5, 1, 6, 30, 0, 123456, tzinfo=UTC)
    assert one.pads.pad_id.tolist() == ["R1-1", "R1-2"]  # the non-SPI measurement is left out
    assert np.allclose(one.pads.volume_pct, [100.0, 50.0])  # 100 * Vol / EVol
    assert np.allclose(two.pads.volume_pct, [150.0])
    assert np.allclose(one.pads.height_um, [110.0, 110.0])  # Z mm -> um
    assert np.allclose(one.pads.area_pct, [95.0, 95.0])
    assert one.pads.offset_x_um is not None
    assert np.allclose(one.pads.offset_x_um, [10.0, 10.0])
    assert one.pads.offset_y_um is not None
    assert np.allclose(one.pads.offset_y_um, [-2.0, -2.0])
    assert one.pads.component_ref is not None
    assert one.pads.component_ref.tolist() == ["R1", "R1"]  # empty CRDs -> the inspection's component
    assert one.pads.spi_result is not None
    assert two.pads.spi_result is not None
    assert (one.pads.spi_result.tolist(), two.pads.spi_result.tolist()) == (["pass", "fail"], ["warning"])
    assert one.pads.shape.tolist() == ["0.5x0.4", "0.5x0.4"]
    assert two.print_index - one.print_index == 1
    again = units_inspected_to_boards(copy.deepcopy(MESSAGE), CfxContext(printer_id="P3"))
    assert [b.event_id for b in again] == [one.event_id, two.event_id]
    assert one.event_id != two.event_id


def test_printer_defaults_to_the_source_and_bodies_decode() -> None:
    raw = json.dumps(MESSAGE).encode()
    for body in (raw, raw.decode(), gzip.compress(raw), memoryview(raw)):
        (board, _) = units_inspected_to_boards(decode_body(body))
        assert board.printer_id == "SPI-7"


def test_simulated_boards_round_trip() -> None:
    boards = [b for b, _ in simulate_fleet(FleetSpec(pads=250, boards_per_printer=2), 3)]
    for b in boards:
        doc = json.loads(json.dumps(board_to_units_inspected(b, b.inspector_id)))
        (got,) = units_inspected_to_boards(doc, CfxContext(printer_id=b.printer_id, line_id=b.line_id))
        assert (got.recipe_id, got.barcode, got.inspected_at) == (b.recipe_id, b.barcode, b.inspected_at)
        for name in ("pad_id", "x_mm", "size_x_mm", "component_ref", "spi_result"):
            assert np.array_equal(getattr(got.pads, name), getattr(b.pads, name)), name
        for name in ("volume_pct", "height_um", "area_pct", "offset_x_um", "offset_y_um"):
            assert np.allclose(getattr(got.pads, name), getattr(b.pads, name), atol=1e-9), name


def _bad(change: Any) -> InvalidEvent:
    doc = copy.deepcopy(MESSAGE)
    change(doc)
    with pytest.raises(InvalidEvent) as err:
        units_inspected_to_boards(doc)
    return err.value


UNIT0 = "MessageBody.InspectedUnits[0]"


def _unit(doc: dict[str, Any], u: int) -> dict[str, Any]:
    unit: dict[str, Any] = doc["MessageBody"]["InspectedUnits"][u]
    return unit


def _meas(doc: dict[str, Any], m: int) -> dict[str, Any]:
    measurement: dict[str, Any] = _unit(doc, 0)["Inspections"][0]["Measurements"][m]
    return measurement


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.update(MessageName="CFX.Production.UnitsArrived"), "MessageName", "reads"),
        (lambda d: d.pop("UniqueID"), "UniqueID", "missing"),
        (lambda d: d.update(TimeStamp="yesterday"), "TimeStamp", "RFC 3339"),
        (lambda d: d["MessageBody"].update(InspectedUnits=[]), "MessageBody.InspectedUnits", "empty"),
        (lambda d: _unit(d, 0).pop("UnitIdentifier"), f"{UNIT0}.UnitIdentifier", "missing"),
        (lambda d: _meas(d, 1).update(Vol="x"), f"{UNIT0}.SolderPasteMeasurements[1].Vol", "send a number"),
        (lambda d: _meas(d, 0).update(EVol=0), f"{UNIT0}.SolderPasteMeasurements[0].EVol", "> 0"),
        (lambda d: _meas(d, 0).update(Vol=-1.0), f"{UNIT0}: pads.volume_pct[0]", "[0, 1000]"),
        (lambda d: d["MessageBody"]["InspectedUnits"][1]["Inspections"][0].update(Measurements=[]),
         "MessageBody.InspectedUnits[1].Inspections", "no CFX.Structures"),
    ],
)  # fmt: skip
def test_malformed_messages_name_the_cfx_path(change: Any, field: str, words: str) -> None:
    err = _bad(change)
    assert err.field == field
    assert words in err.problem


@pytest.mark.parametrize("body", [b"\xff\xfe", b"not json", b"[1]", gzip.compress(b"x")[:5]])
def test_undecodable_bodies(body: bytes) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_body(body)
    assert err.value.field == "message"


def _defect(state: str) -> DefectEvent:
    key = defect_event_key("P2", "clamp", state, "e-10", "m1")
    at = datetime(2024, 5, 1, 9, tzinfo=UTC)
    return DefectEvent(key, "P2", "clamp", state, 0.9, "e-10", "e-19", 10, 19, "m1", at)  # type: ignore[arg-type]


def test_fault_occurred_and_cleared_share_the_occurrence_id() -> None:
    raised, cleared = _defect("raised"), _defect("cleared")
    occurred = defect_to_cfx(raised, "spi-crrn.diagnosis")
    cleared_msg = defect_to_cfx(cleared, "spi-crrn.diagnosis")
    assert (occurred["MessageName"], cleared_msg["MessageName"]) == (FAULT_OCCURRED, FAULT_CLEARED)
    fault = occurred["MessageBody"]["Fault"]
    assert fault["FaultOccurrenceId"] == raised.event_key == fault_occurrence_id(cleared)
    assert cleared_msg["MessageBody"]["FaultOccurrenceId"] == raised.event_key
    assert (fault["FaultCode"], fault["Severity"], fault["PrinterId"]) == ("SPICRRN.clamp", "Error", "P2")
    assert occurred["UniqueID"] != cleared_msg["UniqueID"]
    assert defect_to_cfx(raised, "spi-crrn.diagnosis") == occurred  # stable across replays
    assert occurred["TimeStamp"] == "2024-05-01T09:00:00+00:00"


def test_fault_acknowledged_is_read() -> None:
    body = {"FaultOccurrenceId": "abc", "Operator": {"OperatorIdentifier": "op7"}}
    doc = {"MessageName": "CFX.ResourcePerformance.FaultAcknowledged", "TimeStamp": "2024-05-01T09:05:00Z",
           "Source": "MES-1", "MessageBody": body}  # fmt: skip
    ack = parse_fault_acknowledged(doc)
    assert (ack.fault_occurrence_id, ack.acknowledged_by, ack.source) == ("abc", "op7", "MES-1")
    assert ack.acknowledged_at == datetime(2024, 5, 1, 9, 5, tzinfo=UTC)
    with pytest.raises(InvalidEvent, match="FaultOccurrenceId"):
        parse_fault_acknowledged(doc | {"MessageBody": {}})
