"""Cluster outliers: nearest pads, the window statistic by hand, the member rule, calibration, the tracker."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from crrn.board_scores import ALARM_TYPE_OUTLIER, BoardScores
from crrn.clusters import ClusterRule, calibrate_clusters, cluster_scores, nearest_pads
from crrn.evidence import EvidenceModel, EvidenceTracker, ResidualScale, calibrate_evidence
from crrn.layout import PadGrid
from schemas.inspection import BoardInspection
from schemas.messages import PadAlarm, Thresholds

Make = Callable[..., BoardInspection]


def grid(rows: list[int], cols: list[int], height: int, width: int) -> PadGrid:
    n = len(rows)
    return PadGrid(
        recipe_id="R1",
        pad_id=np.array([f"p{i}" for i in range(n)]),
        row=np.array(rows, dtype=np.int64),
        col=np.array(cols, dtype=np.int64),
        height=height,
        width=width,
        pitch_mm=1.0,
        origin_mm=(0.0, 0.0),
        max_displacement=0,
    )


def test_nearest_pads_by_hand() -> None:
    g = grid([r for r in range(3) for _ in range(3)], [c for _ in range(3) for c in range(3)], 3, 3)
    nn = nearest_pads(g, 5)
    # centre pad 4: itself, then the four at distance 1 by row, then column offset: up, left, right, down
    assert nn[4].tolist() == [4, 1, 3, 5, 7]
    # corner pad 0: itself, right (0, +1), below (+1, 0), then the diagonal (sqrt 2), then (0, +2)
    assert nn[0].tolist() == [0, 1, 3, 4, 2]


def test_nearest_pads_searches_farther_on_a_sparse_grid() -> None:
    g = grid([0, 0, 0], [0, 9, 19], 1, 20)
    assert nearest_pads(g, 2).tolist() == [[0, 1], [1, 0], [2, 1]]  # 9 < 10 cells away
    assert nearest_pads(g, 8).shape == (3, 3)  # never more neighbours than pads


def test_nearest_pads_matches_all_pairs_distances() -> None:
    rng = np.random.default_rng(5)
    cells = rng.choice(40 * 30, size=150, replace=False)
    g = grid((cells // 30).tolist(), (cells % 30).tolist(), 40, 30)
    nn = nearest_pads(g, 8)
    d = np.hypot(g.row[:, None] - g.row[None, :], g.col[:, None] - g.col[None, :])  # (P, P)
    assert (nn[:, 0] == np.arange(g.n_pads)).all()
    chosen = np.sort(np.take_along_axis(d, nn, axis=1), axis=1)
    np.testing.assert_allclose(chosen, np.sort(d, axis=1)[:, :8])  # the 8 smallest distances, exactly


def line() -> tuple[PadGrid, np.ndarray]:
    g = grid([0] * 6, list(range(6)), 1, 6)
    return g, nearest_pads(g, 6)


Z_LINE = np.array([3.0, 3.0, 0.0, 0.0, 0.0, 0.0], dtype=np.float32)


def test_cluster_scores_by_hand() -> None:
    _, nn = line()
    assert nn[2].tolist() == [2, 1, 3, 0, 4, 5]  # left neighbour first on a tie
    assert nn[4].tolist() == [4, 3, 5, 2, 1, 0]
    hi, lo = cluster_scores(Z_LINE, nn, sizes=(2,), ring_factor=2)
    # window of 2, ring of the next 4, divisor sqrt(1/2 + 1/4) = 0.8660:
    # pads 0, 1: (3 - 0) / 0.866; pad 2: window {2, 1} 1.5, ring {3, 0, 4, 5} 0.75 -> 0.75 / 0.866;
    # pads 3, 4, 5: window 0, ring mean 1.5 -> -1.5 / 0.866
    d = math.sqrt(0.75)
    np.testing.assert_allclose(hi, [3 / d, 3 / d, 0.75 / d, -1.5 / d, -1.5 / d, -1.5 / d], rtol=1e-6)
    np.testing.assert_allclose(lo, hi)
    plain, _ = cluster_scores(Z_LINE, nn, sizes=(2,), ring_factor=0)  # no ring: sum / sqrt(k)
    r2 = math.sqrt(2.0)
    np.testing.assert_allclose(plain, [6 / r2, 6 / r2, 3 / r2, 0, 0, 0], atol=1e-6)
    hi2, _ = cluster_scores(Z_LINE, nn, sizes=(2, 4), ring_factor=2)  # k = 4: ring clipped to 2 pads
    # k = 4 for pad 0: window {0, 1, 2, 3} mean 1.5, ring {4, 5} 0 -> 1.5 / sqrt(1/4 + 1/2) = 1.732 < 3.46
    assert hi2[0] == pytest.approx(3 / d)
    _, lo_b = cluster_scores(np.stack([Z_LINE, -Z_LINE]), nn, sizes=(2,))  # leading board axis
    np.testing.assert_allclose(lo_b[1], -hi, rtol=1e-6)


def test_a_shared_level_is_no_cluster() -> None:
    _, nn = line()
    hi, _ = cluster_scores(Z_LINE + 2.5, nn, sizes=(2,))  # every pad up by 2.5: the contrast is unchanged
    np.testing.assert_allclose(hi, cluster_scores(Z_LINE, nn, sizes=(2,))[0], rtol=1e-5)


def test_members_must_have_moved_themselves() -> None:
    _, nn = line()
    rule = ClusterRule(excessive=0.5, insufficient=-3.0, sizes=(2,))
    # c = 3.46, 3.46, 0.87, -1.73 x 3: pad 2's window passes 0.5 but pad 2 itself sits at z = 0
    assert rule.codes(Z_LINE, nn).tolist() == [1, 1, 0, 0, 0, 0]
    assert ClusterRule(excessive=4.0, insufficient=-3.0, sizes=(2,)).codes(Z_LINE, nn).tolist() == [0] * 6
    assert ClusterRule(excessive=3.0, insufficient=-3.0, sizes=(2,)).codes(-Z_LINE, nn).tolist() == [
        -1, -1, 0, 0, 0, 0,
    ]  # fmt: skip


def test_rule_round_trip_and_bad_limits() -> None:
    rule = ClusterRule(excessive=4.5, insufficient=-4.2, details={"a": 1})
    back = ClusterRule.from_dict(json.loads(json.dumps(rule.to_dict())))
    assert (back.excessive, back.insufficient, back.sizes, back.member_level) == (4.5, -4.2, (4, 8), 1.0)
    assert (back.ring_factor, back.width) == (2, 24)
    with pytest.raises(ValueError, match="insufficient"):
        ClusterRule(excessive=4.0, insufficient=1.0)


def test_calibration_holds_its_rate_on_fresh_healthy_boards() -> None:
    rows, cols = np.divmod(np.arange(900), 30)
    g = grid(rows.tolist(), cols.tolist(), 30, 30)
    nn = nearest_pads(g, 24)
    rng = np.random.default_rng(11)
    held = rng.standard_normal((4000, 900)).astype(np.float32)
    rule = calibrate_clusters([("R1", held)], {"R1": nn}, rate=0.02)
    assert rule.details["excessive"]["method"] == "empirical"  # 4,000 boards: 80 beyond the limit
    fresh = rng.standard_normal((4000, 900)).astype(np.float32)
    hi, lo = cluster_scores(fresh, nn)
    for side in (hi.max(axis=1) >= rule.excessive, lo.min(axis=1) <= rule.insufficient):
        assert 0.012 < side.mean() < 0.03  # asked 0.02 per sign (binomial sd 0.0022)
    # a maximum over 900 correlated windows, well above one N(0, 1) window's 2.05
    assert 3.3 < rule.excessive < 4.5
    # whole windows are called, yet a board carries codes only where the calibrated statistic passed
    called = np.array([(rule.codes(z, nn) != 0).any() for z in fresh[:1000]])
    passed = (hi.max(axis=1) >= rule.excessive) | (lo.min(axis=1) <= rule.insufficient)
    assert called.any()
    assert not (called & ~passed[:1000]).any()


def test_a_single_huge_pad_is_no_cluster() -> None:
    rows, cols = np.divmod(np.arange(100), 10)
    nn = nearest_pads(grid(rows.tolist(), cols.tolist(), 10, 10), 24)
    z = np.zeros(100, dtype=np.float32)
    z[55] = 4.0  # the tracker winsorizes |z| at 4: a 9-std natural defect arrives as 4
    hi, _ = cluster_scores(z, nn)
    assert hi.max() == pytest.approx(1.633, abs=1e-3)  # (4/4 - 0) / sqrt(1/4 + 1/8): below any limit


def test_evidence_model_carries_the_rule() -> None:
    rng = np.random.default_rng(3)
    rows, cols = np.divmod(np.arange(60), 10)
    g = grid(rows.tolist(), cols.tolist(), 6, 10)
    seqs = [("R1", rng.standard_normal((40, 60)).astype(np.float32)) for _ in range(3)]
    model = calibrate_evidence(seqs, 0.005, bootstrap_boards=500, cluster_rate=0.00125, layouts={"R1": g})
    assert model.cluster is not None
    assert model.cluster.excessive > 2.0
    back = EvidenceModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert back.cluster is not None
    assert back.cluster.excessive == model.cluster.excessive
    old = {k: v for k, v in model.to_dict().items() if k != "cluster"}  # a file from before the rule
    assert EvidenceModel.from_dict(old).cluster is None
    with pytest.raises(ValueError, match="layouts"):
        calibrate_evidence(seqs, 0.005, bootstrap_boards=0, cluster_rate=0.001)


def test_tracker_calls_a_cluster_inside_the_single_pad_limits(board_factory: Make) -> None:
    # make_board: 12 pads on 3 columns x 4 rows (pad k at row k // 3, column k % 3)
    board = board_factory(0, n_pads=12)
    layout = PadGrid.from_board(board)
    scale = ResidualScale(np.zeros(12, np.float32), np.ones(12, np.float32))
    rule = ClusterRule(excessive=4.0, insufficient=-4.0, sizes=(4,))
    model = EvidenceModel(limit=10.0, recipes={"R1": scale}, cluster=rule)
    th = Thresholds(4.0, -4.0)
    values = {"pad001": 3.0, "pad003": 3.0, "pad004": 3.0, "pad005": 3.0, "pad011": 3.0}
    # a plus of four pads and a lone pad
    score = np.array([values.get(str(p), 0.0) for p in board.pads.pad_id], dtype=np.float32)
    scored = BoardScores(board, score, np.zeros(12, np.int8), "v1", "crrn", th)
    tracker = EvidenceTracker(model, {"R1": layout}, "v1", "crrn")
    (out,) = tracker([scored])
    hit = {str(p) for p in board.pads.pad_id[out.alarm != 0]}
    # 12 pads: window of 4, ring of the other 8, divisor sqrt(1/4 + 1/8) = 0.6124. pad004's window
    # {4, 1, 3, 5} mean 3, ring 3 / 8 (pad011) -> 4.29 >= 4; pad001's {1, 0, 2, 4} mean 1.5, ring 9 / 8
    # -> 0.61, pad003 and pad005 likewise; the lone pad011's {11, 8, 10, 7} 0.75 - 1.5 < 0: no cluster.
    # pad004's window passes, so every pad in it that moved by >= 1 is called: the whole plus
    assert hit == {"pad001", "pad003", "pad004", "pad005"}
    i = int(np.flatnonzero(board.pads.pad_id == "pad004")[0])
    assert out.alarm_type[i] == ALARM_TYPE_OUTLIER
    assert out.process is not None
    assert out.process[i] == 0
    assert out.outlier[i] == 1
    assert score[i] < th.excessive
    msg = PadAlarm.for_board(board, out.score, th, "v1", out.alarm, process=out.process, outlier=out.outlier)
    assert msg is not None
    assert [p.alarm_type for p in msg.pads] == ["board_outlier"] * 4
    (again,) = tracker([scored])  # a replay: no process evidence, the cluster alarm still stands
    assert again.process is None
    assert int(again.alarm[i]) == 1
