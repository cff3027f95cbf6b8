"""Fleet: interleaved time order, determinism, every board a valid event."""

from __future__ import annotations

import numpy as np

from crrn.sim.defects import DefectSpec
from crrn.sim.fleet import FleetSpec, simulate_fleet
from crrn.sim.truth import SOURCE_INJECTED
from schemas.codec import inspection_to_json
from schemas.validation import parse_inspection


def test_time_order_printers_and_lines() -> None:
    spec = FleetSpec(printers=3, lines=2, recipes=2, pads=250, boards_per_printer=12)
    pairs = list(simulate_fleet(spec, 0))
    assert len(pairs) == 36
    times = [b.inspected_at for b, _ in pairs]
    assert times == sorted(times)
    assert {b.printer_id for b, _ in pairs} == {"P01", "P02", "P03"}
    assert {(b.printer_id, b.line_id, b.recipe_id) for b, _ in pairs} == {
        ("P01", "L01", "R01"), ("P02", "L02", "R02"), ("P03", "L01", "R01"),
    }  # fmt: skip
    for printer in ("P01", "P02"):
        idx = [b.print_index for b, _ in pairs if b.printer_id == printer]
        assert idx == list(range(1, 13))
    b = pairs[0][0]
    assert b.squeegee_direction == ("forward" if b.print_index % 2 else "backward")
    assert len({b.event_id for b, _ in pairs}) == 36
    parse_inspection(inspection_to_json(b))


def test_same_seed_same_data_different_seed_different() -> None:
    spec = FleetSpec(pads=250, boards_per_printer=5, defects=(DefectSpec("clamp", duration=5),))
    a = [inspection_to_json(b) for b, _ in simulate_fleet(spec, 7)]
    b = [inspection_to_json(b) for b, _ in simulate_fleet(spec, 7)]
    c = [inspection_to_json(b) for b, _ in simulate_fleet(spec, 8)]
    assert a == b
    assert a != c


def test_injected_pads_are_labelled() -> None:
    spec = FleetSpec(pads=400, boards_per_printer=3, inject_ratio=0.1, inject_mu=-5.0)
    for _, truth in simulate_fleet(spec, 3):
        injected = (truth.sources & SOURCE_INJECTED) != 0
        assert injected.sum() == 40
        assert (truth.labels[injected] == -1).all()
        assert np.count_nonzero(truth.labels) >= 40


def test_defect_on_one_printer_only() -> None:
    spec = FleetSpec(
        printers=2,
        pads=250,
        boards_per_printer=6,
        defects=(DefectSpec("support", printer_id="P02", duration=6),),
    )
    for board, truth in simulate_fleet(spec, 1):
        assert bool(truth.defects) == (board.printer_id == "P02")
