"""The simulator's ceiling: hand-computed expected volumes, exact N(0, 1) scores, any pad order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from crrn.layout import PadGrid
from crrn.sim.fleet import FleetSpec, build_printers, simulate_fleet
from crrn.sim.oracle import ORACLE_LIMIT, ExpectedVolumeOracle


def _hand_oracle() -> ExpectedVolumeOracle:
    return ExpectedVolumeOracle(
        pad_mean=np.array([100.0, 50.0]),
        sigma=np.array([10.0, 5.0]),
        blade=np.array([0.4, 0.1]),
        drift=np.array([0.6, -0.6]),
        residual_sd=np.array([2.0, 1.0]),
        phase0=1,
        layout=PadGrid.fit("R", np.array(["A", "B"]), np.array([0.0, 1.0]), np.array([0.0, 0.0])),
    )


def test_expected_volume_hand_computed() -> None:
    o = _hand_oracle()
    # print 1: phase (1 + 1) % 2 = 0 -> drift +0.6; odd print -> forward, +blade
    np.testing.assert_allclose(o.expected_volume(1), [100 + 10 * (0.6 + 0.4), 50 + 5 * (0.6 + 0.1)])
    # print 2: phase 1 -> drift -0.6; even print -> backward, -blade
    np.testing.assert_allclose(o.expected_volume(2), [100 + 10 * (-0.6 - 0.4), 50 + 5 * (-0.6 - 0.1)])


def test_score_follows_the_board_pad_order_and_rejects_unknown_pads() -> None:
    spec = FleetSpec(pads=200, boards_per_printer=3)
    board, _ = next(iter(simulate_fleet(spec, seed=3)))
    oracle = ExpectedVolumeOracle.of(build_printers(spec, seed=3)[0].process)
    straight = oracle.score(board)
    flip = np.arange(board.n_pads)[::-1]
    pads = replace(board.pads, **{f: getattr(board.pads, f)[flip] for f in ("pad_id", "volume_pct")})
    np.testing.assert_allclose(oracle.score(replace(board, pads=pads)), straight[flip])
    renamed = replace(board.pads, pad_id=np.array(["nope", *board.pads.pad_id[1:]]))
    with pytest.raises(ValueError, match=r"pad ids unknown to the layout of recipe R01, e.g. \['nope'\]"):
        oracle.score(replace(board, pads=renamed))


def test_scores_of_normal_prints_are_standard_normal_and_tighter_than_the_pad_std() -> None:
    spec = FleetSpec(pads=300, boards_per_printer=400)
    process = build_printers(spec, seed=5)[0].process
    oracle = ExpectedVolumeOracle.of(process)
    boards = [b for b, _ in simulate_fleet(spec, seed=5)]
    z = oracle.score_matrix(boards)  # (N, P)
    assert abs(float(z.mean())) < 0.1
    assert 0.93 < float(z.std()) < 1.07  # the residual std is exact, not fitted
    # the 0.1 % per-sign limit holds on normal prints (natural defects are 1e-4 of pads)
    assert float(np.mean(z >= ORACLE_LIMIT)) < 0.003
    # knowing the cleaning phase and blade removes part of the variance the pad std keeps
    assert float(np.mean(oracle.residual_sd / process.pad_std)) < 0.95
