"""The dashboard's pure parts on hand-computed values: colors, SPC limits, status, board map, timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from streams.dashboard.queries import BoardMap, DefectRow, StatusRule, _alarm_codes, printer_status
from streams.dashboard.render import (
    _axis_ticks,
    board_map_svg,
    defect_timeline,
    individuals_limits,
    pad_colors,
)

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def test_pad_colors_reach_red_and_blue_at_the_limits() -> None:
    # +2 = the excessive limit: full red; 0: pale; -1.25 = half the insufficient limit (-2.5): halfway to
    # blue, (238 + 44) / 2 = 141, (238 + 123) / 2 = 180.5 -> 180 (round half to even), (238 + 182) / 2 = 210.
    got = pad_colors(np.array([2.0, 0.0, -1.25, 9.0, -9.0]), 2.0, -2.5)
    assert got == ["#d7191c", "#eeeeee", "#8db4d2", "#d7191c", "#2c7bb6"]


def test_individuals_limits_use_the_moving_range() -> None:
    # mean 2, moving ranges |3-1| = 2 and |2-3| = 1, mean 1.5, sigma = 1.5 / 1.128 = 1.32979
    center, lower, upper = individuals_limits(np.array([1.0, 3.0, 2.0, np.nan]))  # type: ignore[misc]
    assert center == pytest.approx(2.0)
    assert upper - center == pytest.approx(3 * 1.5 / 1.128)
    assert center - lower == pytest.approx(3 * 1.5 / 1.128)
    assert individuals_limits(np.array([5.0])) is None


@pytest.mark.parametrize(
    ("defects", "process", "boards", "with_alarms", "status"),
    [
        (("clamp",), 3, 60, 60, "defect"),  # a named defect wins
        ((), 1, 60, 1, "process alarm"),  # one process alarm is enough
        ((), 0, 60, 3, "board outliers"),  # 3 / 60 = 5 %: at the share
        ((), 0, 60, 2, "healthy"),  # 3.3 %: below it
        ((), 0, 19, 19, "healthy"),  # too few boards to judge a share
        ((), 0, 20, 1, "board outliers"),  # 1 / 20 = 5 % over the minimum of boards
    ],
)
def test_printer_status(
    defects: tuple[str, ...], process: int, boards: int, with_alarms: int, status: str
) -> None:
    assert printer_status(defects, process, boards, with_alarms, StatusRule(0.05, 20)) == status


def test_alarm_codes_by_pad_id() -> None:
    got = _alarm_codes(np.array(["A", "B", "C", "D"]), {"C": -1, "A": 1})
    assert got.tolist() == [1, 0, -1, 0]
    assert _alarm_codes(np.array(["A"]), {}).tolist() == [0]


def test_axis_ticks_are_round() -> None:
    assert _axis_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    # raw step 1 / 4 = 0.25 rounds up to 0.5 (steps are 1, 2 or 5 times a power of ten)
    assert _axis_ticks(0.0, 1.0, 4) == [0.0, 0.5, 1.0]


def _board(score: np.ndarray | None) -> BoardMap:
    f32 = np.float32
    return BoardMap(
        "e1", "B1", 7, T0, "scored" if score is not None else "late", "m1", 1, 1,
        np.array(["A", "B", "C"]), np.array([10, 20, 30], f32), np.array([5, 15, 25], f32),
        np.array([2, 2, 4], f32), np.array([1, 1, 2], f32), np.array([150, 100, 40], f32),
        score, np.array([1, 0, -1], np.int8), 2.0 if score is not None else None,
        -2.5 if score is not None else None,
    )  # fmt: skip


def test_board_map_draws_each_pad_at_its_place_and_size() -> None:
    svg = board_map_svg(_board(np.array([3.0, 0.0, -4.0], np.float32)), "P 1", "info-0")
    pattern = (
        r'<rect class="([^"]+)" x="([\d.-]+)" y="([\d.-]+)" width="([\d.]+)" height="([\d.]+)" '
        r'fill="(#\w+)" data-pad="(\w)"'
    )
    rects = re.findall(pattern, svg)
    assert [(r[0], r[6]) for r in rects] == [("pad excessive", "A"), ("pad", "B"), ("pad insufficient", "C")]
    # Board extent x 9..32, y 4.5..26; y flipped: A (y=5) is at the bottom, C (y=25) at the top.
    x, y, w, h = (np.array([float(r[i]) for r in rects]) for i in (1, 2, 3, 4))
    np.testing.assert_allclose(x, [0.0, 10.0, 19.0])  # x - size/2 - 9
    np.testing.assert_allclose(y, [20.5, 10.5, 0.0])  # 26 - y - size/2
    np.testing.assert_allclose(w, [2.0, 2.0, 4.0])
    np.testing.assert_allclose(h, [1.0, 1.0, 2.0])
    assert [r[5] for r in rects] == ["#d7191c", "#eeeeee", "#2c7bb6"]
    assert 'data-pad-url="/printers/P%201/pads/"' in svg


def test_unscored_board_is_grey() -> None:
    svg = board_map_svg(_board(None), "P1", "i")
    assert set(re.findall(r'fill="(#\w+)"', svg)) == {"#bdbdbd"}


def _defect(printer: str, defect: str, state: str, minutes: int) -> DefectRow:
    return DefectRow(printer, defect, state, 0.9, 1, 5, T0 + timedelta(minutes=minutes))


def test_defect_timeline_spans_from_raise_to_clear() -> None:
    rows = [
        _defect("P2", "clamp", "raised", 50),
        _defect("P1", "support", "cleared", 40),
        _defect("P1", "support", "raised", 10),
    ]
    html = defect_timeline(rows, T0, T0 + timedelta(minutes=60))
    spans = re.findall(r'<rect class="(span[^"]*)" data-printer="(\w+)" data-defect="(\w+)" x="([\d.]+)" '
                       r'y="\d+" width="([\d.]+)"', html)  # fmt: skip
    assert [(s[0], s[1], s[2]) for s in spans] == [("span", "P1", "support"), ("span open", "P2", "clamp")]
    # Plot width 900 - 60 - 150 = 690 px for 60 minutes: 30 minutes = 345 px, 10 minutes = 115 px.
    assert float(spans[0][4]) == pytest.approx(345.0, abs=0.1)
    assert float(spans[1][4]) == pytest.approx(115.0, abs=0.1)
