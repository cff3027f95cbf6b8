"""The CSV parser on small hand-written files of both built-in formats and a TOML mapping: values, units,
board grouping, stable event ids, and rejections that name line, column and fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from crrn.ingest.csv_format import KOHYOUNG, PHM2022, format_from_mapping, load_mapping
from crrn.ingest.csv_parse import CsvRejectedError, IngestContext, board_event_id, parse_csv, sha256_hex

DATA = Path(__file__).parent / "data"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ctx(data: bytes, **kw: object) -> IngestContext:
    base: dict[str, object] = {"content_sha256": sha256_hex(data), "fallback_time": T0, "timezone": UTC}
    base.update(kw)
    return IngestContext(**base)  # type: ignore[arg-type]


def test_phm2022_groups_boards_by_panel_and_figure() -> None:
    data = (DATA / "phm2022_two_boards.csv").read_bytes()
    parsed = parse_csv(data, PHM2022, ctx(data, printer_id="P7", line_id="L2"))
    assert parsed.n_rows == 5
    assert parsed.board_keys == ["17\x1f1", "17\x1f2"]  # file order of the first row
    one, two = parsed.boards
    assert one.pads.pad_id.tolist() == ["1001", "1002", "1003"]
    assert two.pads.pad_id.tolist() == ["1001", "1002"]
    assert (one.panel_position, two.panel_position, one.board_id, one.printer_id, one.line_id) == (
        1, 2, "17-1", "P7", "L2",
    )  # fmt: skip
    assert one.inspector_id == "SPI-L2"
    assert one.inspected_at == datetime(2021, 10, 5, 8, 30, tzinfo=UTC)
    # OffsetX(%) is % of the pad size: 2 % of 0.5 mm = 10 um; -1 % of 0.55 mm = -5.5 um
    assert one.pads.offset_x_um is not None
    assert one.pads.offset_y_um is not None
    assert np.allclose(one.pads.offset_x_um, [10.0, 0.0, 0.0])
    assert np.allclose(one.pads.offset_y_um, [-5.5, 22.0, 0.0])
    assert one.pads.component_ref is not None
    assert one.pads.component_ref.tolist() == ["R1", "R1", "U3"]
    assert two.pads.spi_result is not None
    assert two.pads.spi_result.tolist() == ["fail", "pass"]
    assert np.allclose(one.pads.volume_pct, [98.5, 101.2, 87.0])
    # print order from the time: both boards of the panel share the print time, the position tells them apart
    assert two.print_index - one.print_index == 1
    assert one.recipe_id.startswith("auto-")
    assert one.recipe_id != two.recipe_id


def test_event_ids_are_stable_and_depend_on_content() -> None:
    data = (DATA / "phm2022_two_boards.csv").read_bytes()
    a = parse_csv(data, PHM2022, ctx(data, printer_id="P7"))
    b = parse_csv(data, PHM2022, ctx(data, printer_id="P7"))
    assert [x.event_id for x in a.boards] == [x.event_id for x in b.boards]
    assert a.boards[0].event_id == board_event_id(sha256_hex(data), "17\x1f1")
    changed = data.replace(b"98.5", b"98.6")
    c = parse_csv(changed, PHM2022, ctx(changed, printer_id="P7"))
    assert c.boards[0].event_id != a.boards[0].event_id


def test_kohyoung_names_pads_by_component_and_pin() -> None:
    data = (DATA / "kohyoung_one_board.csv").read_bytes()
    zone = timezone(timedelta(hours=2))
    (board,) = parse_csv(data, KOHYOUNG, ctx(data, printer_id="P1", recipe_id="R9", timezone=zone)).boards
    assert board.pads.pad_id.tolist() == ["C1-1", "C1-2", "U1-1"]
    assert (board.barcode, board.board_id, board.panel_position, board.recipe_id) == (
        "SN0001",
        "SN0001",
        1,
        "R9",
    )
    assert board.inspected_at == datetime(2024, 5, 1, 6, 30, tzinfo=UTC)  # local +02:00
    assert board.pads.spi_result is not None
    assert board.pads.spi_result.tolist() == ["pass", "warning", "fail"]
    assert board.pads.offset_x_um is not None
    assert board.pads.offset_x_um.tolist() == [1.5, -2.0, 0.0]
    assert board.pads.shape.tolist() == ["chip-0402", "chip-0402", "QFP-0.5"]


def test_mapping_file_reads_another_vendor() -> None:
    fmt = load_mapping(DATA / "acme.toml")
    data = (DATA / "acme.csv").read_bytes()
    (board,) = parse_csv(data, fmt, ctx(data, stencil_id="ST-3")).boards
    assert (board.printer_id, board.barcode, board.prints_since_cleaning, board.stencil_id) == (
        "PR7",
        "A-9",
        3,
        "ST-3",
    )
    assert board.pads.x_mm.tolist() == [10.0, 11.0]  # um * 0.001
    assert board.pads.size_x_mm.tolist() == [0.5, 0.5]  # decimal comma
    assert board.pads.offset_x_um is not None
    assert board.pads.offset_x_um.tolist() == [2.0, -1.0]
    assert board.pads.spi_result is not None
    assert board.pads.spi_result.tolist() == ["pass", "fail"]
    assert board.inspected_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert board.pads.shape.tolist() == ["pad", "pad"]  # no shape column


def _reject(data: bytes, fmt: object = PHM2022, **kw: object) -> CsvRejectedError:
    with pytest.raises(CsvRejectedError) as err:
        parse_csv(data, fmt, ctx(data, **({"printer_id": "P1"} | kw)))  # type: ignore[arg-type]
    return err.value


PHM = (DATA / "phm2022_two_boards.csv").read_bytes()


@pytest.mark.parametrize(
    ("data", "line", "column", "words"),
    [
        (PHM.replace(b",101.2,", b",abc,"), 3, "Volume(%)", "not a number"),
        (PHM.replace(b",101.2,", b",-3,"), 3, "Volume(%)", "send a value in [0, 1000]"),
        (PHM.replace(b",BAD\n", b",MAYBE\n"), 4, "Result", "unknown verdict"),
        (PHM.replace(b"Height(um)", b"Hoehe"), 1, "Height(um)", "not in the header"),
        (PHM.replace(b"17,2,R1,2,1002", b"17,2,R1,2,1001"), 6, "PadID", "repeats"),
        (
            PHM.replace(b"2021-10-05,08:30:00,60.0", b"2021-10-05,08:31:00,60.0"),
            6,
            "Time",
            "one board has one",
        ),
        (PHM.replace(b"2021-10-05", b"5th Oct"), 2, "Date", "not a time"),
        (PHM.split(b"\n")[0] + b"\n", 2, None, "no rows"),
        (b"", 1, None, "empty"),
    ],
)
def test_rejections_name_line_column_and_fix(data: bytes, line: int, column: str | None, words: str) -> None:
    err = _reject(data)
    assert (err.line, err.column) == (line, column)
    assert words in err.problem


def test_rejection_without_printer() -> None:
    err = _reject(PHM, printer_id=None)
    assert "--printer" in err.problem


def test_bad_mapping_documents_are_refused() -> None:
    with pytest.raises(ValueError, match="map a column to"):
        format_from_mapping({"columns": {"x_mm": "X"}, "board_key": ["B"]})
    with pytest.raises(ValueError, match="unknown fields"):
        format_from_mapping({"columns": dict(PHM2022.columns) | {"colour": "C"}, "board_key": ["B"]})
    with pytest.raises(ValueError, match="pass, warning or fail"):
        format_from_mapping({"columns": dict(PHM2022.columns), "board_key": ["B"], "results": {"OK": "fine"}})
    with pytest.raises(ValueError, match="unknown keys"):
        format_from_mapping({"columns": dict(PHM2022.columns), "board_key": ["B"], "sheet": 1})
