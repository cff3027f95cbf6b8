"""writer.py's row builders on a hand-made 3-pad board: summary, anomaly map and one row per alarmed pad."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from schemas.inspection import BoardInspection
from schemas.messages import alarm_id
from streams.db.writer import (
    anomaly_map_params,
    board_params,
    layout_key,
    layout_params,
    measurement_params,
    pad_alarm_params,
    pad_context,
)
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, alarm_message
from tests.unit.streams.hand_board import board, scores


def test_scored_board_gives_summary_map_and_alarm_rows() -> None:
    b = board()
    record = BoardRecord(b, SourceRef("t", 2, 41), "scored", scores(b))
    row = board_params(record)
    assert (row["status"], row["n_excessive"], row["n_insufficient"], row["max_abs_score"]) == (
        "scored", 1, 1, 4.0,
    )  # fmt: skip
    assert (row["source_topic"], row["source_partition"], row["source_offset"], row["model_version"]) == (
        "t", 2, 41, "m1",
    )  # fmt: skip
    assert (row["event_id"], row["board_id"], row["print_index"], row["n_pads"]) == ("e1", "B1", 7, 3)
    amap = anomaly_map_params(record)
    assert amap is not None
    assert (amap["pad_ids"], amap["scores"].values.tolist()) == (["A", "B", "C"], [3.0, 0.5, -4.0])
    msg = alarm_message(scores(b))
    assert msg is not None
    rows = pad_alarm_params(msg)
    got = {(r["pad_id"], r["kind"], r["threshold"], r["measured_volume_pct"], r["x_mm"]) for r in rows}
    assert got == {("A", "excessive", 2.0, 150.0, 1.0), ("C", "insufficient", -2.5, 40.0, 3.0)}
    assert {r["alarm_id"] for r in rows} == {alarm_id("e1", "m1")}


def test_unscored_board_names_no_model_and_has_no_map() -> None:
    record = BoardRecord(board(), SourceRef("t", 0, 0), "late")
    row = board_params(record)
    got = (row["status"], row["model_version"], row["max_abs_score"], row["n_excessive"])
    assert got == ("late", None, None, 0)
    assert anomaly_map_params(record) is None


def test_measurements_are_float32_in_the_boards_pad_order() -> None:
    b = board()
    b = replace(b, pads=replace(b.pads, height_um=np.array([101.123456789, 99.5, 0.1])))
    row = measurement_params(BoardRecord(b, SourceRef("t", 0, 0), "scored", scores(b)), "k")
    assert row["volume_pct"].values.tolist() == [150.0, 100.0, 40.0]
    height = row["height_um"].values
    assert height.dtype == np.float32  # what a real[] holds
    assert height.tolist() == [float(np.float32(101.123456789)), 99.5, float(np.float32(0.1))]
    assert (row["threshold_excessive"], row["threshold_insufficient"]) == (2.0, -2.5)
    unscored = measurement_params(BoardRecord(b, SourceRef("t", 0, 0), "late"), "k")
    assert (unscored["threshold_excessive"], unscored["threshold_insufficient"]) == (None, None)


def test_layout_key_follows_the_geometry() -> None:
    b = board()
    key = layout_key(b)
    assert key.startswith("R1:")
    same = replace(b, event_id="e2", pads=replace(b.pads, volume_pct=np.array([1.0, 2.0, 3.0])))
    assert layout_key(same) == key  # measurements are not geometry
    moved = replace(b, pads=replace(b.pads, x_mm=np.array([1.0, 2.0, 3.5])))
    renamed = replace(b, pads=replace(b.pads, pad_id=np.array(["A", "B", "D"])))
    other_recipe = replace(b, recipe_id="R2")
    assert len({key, layout_key(moved), layout_key(renamed), layout_key(other_recipe)}) == 4
    row = layout_params(b)
    assert (row["n_pads"], row["pad_ids"], row["y_mm"].values.tolist(), row["size_x_mm"].values.tolist()) == (
        3, ["A", "B", "C"], [4.0, 5.0, 6.0], [1.0, 1.0, 1.0],
    )  # fmt: skip


def _real_line_board() -> BoardInspection:
    b = board()
    pads = replace(
        b.pads, component_ref=np.array(["R1", "R1", "U7"]), spi_result=np.array(["warning", "pass", "fail"])
    )
    return replace(b, pads=pads, barcode="SN9", panel_position=2, stencil_id="ST1", prints_since_cleaning=4)


def test_real_line_fields_fill_their_columns() -> None:
    b = _real_line_board()
    row = board_params(BoardRecord(b, SourceRef("t", 0, 0), "scored", scores(b)))
    got = tuple(row[k] for k in ("barcode", "panel_position", "stencil_id", "prints_since_cleaning"))
    assert got == ("SN9", 2, "ST1", 4)
    assert (row["spi_fail_pads"], row["spi_warning_pads"]) == (1, 1)
    plain = board_params(BoardRecord(board(), SourceRef("t", 0, 0), "late"))
    assert all(plain[k] is None for k in ("barcode", "panel_position", "spi_fail_pads", "spi_warning_pads"))


def test_alarm_rows_name_component_and_spi_verdict() -> None:
    b = _real_line_board()
    msg = alarm_message(scores(b))
    assert msg is not None
    rows = pad_context(pad_alarm_params(msg), {b.event_id: b})
    assert {(r["pad_id"], r["component_ref"], r["spi_result"]) for r in rows} == {
        ("A", "R1", "warning"), ("C", "U7", "fail"),
    }  # fmt: skip
    plain = pad_context(pad_alarm_params(msg), {b.event_id: board()})
    assert {(r["component_ref"], r["spi_result"]) for r in plain} == {(None, None)}
