"""inspection_to_json is the inverse of parse_inspection."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from schemas.codec import inspection_to_dict, inspection_to_json
from schemas.validation import parse_inspection


def test_round_trip_is_exact(event: dict[str, Any]) -> None:
    event["pads"]["volume_pct"] = [0.1 + 0.2, 1e-9, 999.999999999]  # floats that need full precision
    board = parse_inspection(event)
    again = parse_inspection(inspection_to_json(board))
    assert inspection_to_dict(again) == inspection_to_dict(board)
    assert np.array_equal(again.pads.volume_pct, board.pads.volume_pct)
    assert again.inspected_at == board.inspected_at


def test_json_is_one_line_and_omits_unset_optionals(event: dict[str, Any]) -> None:
    del event["squeegee_direction"], event["pads"]["offset_x_um"], event["pads"]["offset_y_um"]
    text = inspection_to_json(parse_inspection(event))
    assert b"\n" not in text
    decoded = json.loads(text)
    assert "squeegee_direction" not in decoded
    assert "offset_x_um" not in decoded["pads"]
    assert decoded["pads"]["pad_id"] == event["pads"]["pad_id"]
