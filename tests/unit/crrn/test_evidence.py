"""Process alarms: the CUSUM by hand, the residual scale, calibration, the tracker and its stored state."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import numpy as np
import pytest

from crrn.board_scores import ALARM_TYPE_NONE, ALARM_TYPE_OUTLIER, ALARM_TYPE_PROCESS, BoardScores
from crrn.evidence import (
    EvidenceModel,
    EvidenceTracker,
    ResidualScale,
    board_maxima,
    bootstrap_index,
    calibrate_evidence,
    cusum_path,
)
from crrn.layout import PadGrid
from crrn.thresholds import Thresholds
from schemas.inspection import BoardInspection

Make = Callable[..., BoardInspection]
P = 12


def test_cusum_pair_by_hand() -> None:
    z = np.array([[2.0, -3.0], [2.0, -1.0], [-1.0, 0.0], [0.5, 2.0]], dtype=np.float32)  # (N=4, P=2)
    pos, neg = cusum_path(z, reference=1.0)
    # pad 0: S+ = 1, 2, 2-1-1 = 0, max(0, 0.5-1) = 0; S- stays 0 (0-2-1 < 0 ...; 0+1-1 = 0)
    # pad 1: S- = 3-1 = 2, 2+1-1 = 2, 2-0-1 = 1, max(0, 1-2-1) = 0; S+ = 0, 0, 0, 2-1 = 1
    np.testing.assert_array_equal(pos, [[1, 0], [2, 0], [0, 0], [0, 1]])
    np.testing.assert_array_equal(neg, [[0, 2], [0, 2], [0, 1], [0, 0]])


def test_cusum_cap() -> None:
    pos, _ = cusum_path(np.array([[5.0], [5.0], [5.0]]), reference=1.0, cap=6.0)
    np.testing.assert_array_equal(pos[:, 0], [4.0, 6.0, 6.0])  # 4, min(8, 6), min(10, 6)


def test_residual_scale_by_hand() -> None:
    s = np.array([[0.0, 10.0], [1.0, 12.0], [2.0, 20.0]])
    r = ResidualScale.fit(s)
    np.testing.assert_allclose(r.center, [1.0, 12.0])
    # |s - median| = [[1, 2], [0, 0], [1, 8]] -> MAD [1, 2]; floor 0.2 x median scale is below both
    np.testing.assert_allclose(r.scale, [1.4826, 2.9652], rtol=1e-6)
    np.testing.assert_allclose(r.standardize(np.array([2.4826, 12.0])), [1.0, 0.0], rtol=1e-5)
    back = ResidualScale.from_dict(json.loads(json.dumps(r.to_dict())))
    np.testing.assert_array_equal(back.scale, r.scale)


def test_residual_scale_floor() -> None:
    s = np.array([[0.0, 0.0, 5.0], [1.0, 0.0, 5.0], [2.0, 0.0, 5.0], [3.0, 0.0, 5.0]])
    r = ResidualScale.fit(s)  # MAD: 1, 0, 0 -> scales 1.4826, 0, 0; median 0 -> absolute floor 1e-3
    np.testing.assert_allclose(r.scale, [1.4826, 1e-3, 1e-3], rtol=1e-6)


def test_calibrate_evidence_uses_the_per_board_maximum() -> None:
    s = np.array([[2.0], [0.0], [2.0], [0.0], [8.0], [0.0]], dtype=np.float32)  # one pad, 6 boards
    model = calibrate_evidence([("R1", s)], rate=0.5, bootstrap_boards=0)
    # median 1, |s - 1| = 1, 1, 1, 1, 7, 1 -> MAD 1 -> scale 1.4826; z = +-0.6745 (S stays 0 with k = 1)
    # until board 5: z = 7 / 1.4826 = 4.72, winsorized to 4 -> S+ = 3, then 3 - 0.6745 - 1 = 1.3255.
    # n = 6 < MIN_BOARDS: the limit is the largest per-board maximum
    np.testing.assert_allclose(model.recipes["R1"].center, [1.0])
    np.testing.assert_allclose(model.recipes["R1"].scale, [1.4826], rtol=1e-6)
    assert model.limit == pytest.approx(3.0)
    assert calibrate_evidence([("R1", s)], rate=0.5, clip=np.inf, bootstrap_boards=0).limit == pytest.approx(
        7 / 1.4826 - 1, rel=1e-5
    )
    assert model.details["method"] == "max"
    assert model.cap == pytest.approx(2 * model.limit)
    assert EvidenceModel.from_dict(json.loads(json.dumps(model.to_dict()))).limit == model.limit


@pytest.fixture
def layout(board_factory: Make) -> PadGrid:
    return PadGrid.from_board(board_factory(0, n_pads=P))


def scores_of(board: BoardInspection, values: dict[str, float], th: Thresholds) -> BoardScores:
    score = np.array([values.get(str(pid), 0.0) for pid in board.pads.pad_id], dtype=np.float32)
    alarm = np.where(score >= th.excessive, 1, np.where(score <= th.insufficient, -1, 0)).astype(np.int8)
    return BoardScores(board, score, alarm, "v1", "crrn", th)


def tracker_for(layout: PadGrid, version: str = "v1") -> EvidenceTracker:
    scale = ResidualScale(np.zeros(P, np.float32), np.ones(P, np.float32))
    return EvidenceTracker(EvidenceModel(limit=3.0, recipes={"R1": scale}), {"R1": layout}, version, "crrn")


def test_tracker_raises_a_persistent_shift_and_keeps_outliers(layout: PadGrid, board_factory: Make) -> None:
    th = Thresholds(4.0, -4.0)
    perm = np.random.default_rng(1).permutation(P)  # the boards' own pad order differs from the layout's
    boards = [board_factory(i, n_pads=P, order=perm if i % 2 else None) for i in range(4)]
    # pad003 +2.5 every board: S+ = 1.5, 3.0, 4.5 (> 3 from the 3rd board); pad007 -5 on board 1 only
    values = [{"pad003": 2.5} | ({"pad007": -5.0} if b.print_index == 1 else {}) for b in boards]
    out = tracker_for(layout)([scores_of(b, v, th) for b, v in zip(boards, values, strict=True)])
    i3 = [int(np.flatnonzero(s.pad_id == "pad003")[0]) for s in out]
    assert [float(s.evidence[i]) for s, i in zip(out, i3, strict=True)] == [1.5, 3.0, 4.5, 6.0]
    assert [int(s.evidence_boards[i]) for s, i in zip(out, i3, strict=True)] == [1, 2, 3, 4]
    assert [int(s.process[i]) for s, i in zip(out, i3, strict=True)] == [0, 0, 1, 1]
    assert [int(s.alarm[i]) for s, i in zip(out, i3, strict=True)] == [0, 0, 1, 1]
    assert out[2].alarm_type[i3[2]] == ALARM_TYPE_PROCESS
    i7 = int(np.flatnonzero(out[1].pad_id == "pad007")[0])
    assert out[1].alarm[i7] == -1
    assert out[1].alarm_type[i7] == ALARM_TYPE_OUTLIER  # the board outlier is kept
    assert float(out[1].evidence[i7]) == -3.0  # z = -5 winsorized to -4: S- = 4 - 1
    assert out[0].n_alarms == 0
    assert (out[0].alarm_type == ALARM_TYPE_NONE).all()
    assert all(s.evidence_limit == 3.0 for s in out)


def test_state_round_trip_equals_an_uninterrupted_run(layout: PadGrid, board_factory: Make) -> None:
    th = Thresholds(4.0, -4.0)
    rng = np.random.default_rng(2)
    boards = [board_factory(i, n_pads=P) for i in range(6)]
    scored = [
        scores_of(b, {f"pad{k:03d}": float(v) for k, v in enumerate(rng.normal(0.8, 1, P))}, th)
        for b in boards
    ]
    straight = tracker_for(layout)(scored)
    first = tracker_for(layout)
    first(scored[:3])
    state = json.loads(json.dumps(first.export_state("P1")))  # through JSON, as PostgreSQL stores it
    assert (state["last_print_index"], state["recipe_id"], state["model_version"]) == (2, "R1", "v1")
    second = tracker_for(layout)
    assert second.import_state("P1", state) is True
    resumed = second(scored[3:])
    for a, b in zip(straight[3:], resumed, strict=True):
        np.testing.assert_array_equal(a.evidence, b.evidence)
        np.testing.assert_array_equal(a.evidence_boards, b.evidence_boards)
        np.testing.assert_array_equal(a.alarm, b.alarm)
    # a replayed board (print_index not newer) does not count twice and comes back as scored
    again = second(scored[5:])
    assert again[0].process is None
    assert tracker_for(layout).export_state("P1") is None


def test_import_refuses_states_it_cannot_use(layout: PadGrid, board_factory: Make) -> None:
    t = tracker_for(layout)
    t([scores_of(board_factory(0, n_pads=P), {}, Thresholds(4.0, -4.0))])
    state = t.export_state("P1")
    assert state is not None
    other = tracker_for(layout, version="v2")
    assert other.import_state("P1", state) is False  # another model version
    assert other.export_state("P1") is None  # starts fresh
    assert tracker_for(layout).import_state("P1", {**state, "recipe_id": "R9"}) is False
    assert tracker_for(layout).import_state("P1", {**state, "n_pads": 5}) is False
    assert tracker_for(layout).import_state("P1", None) is False
    with pytest.raises(ValueError, match="malformed"):
        tracker_for(layout).import_state("P1", {**state, "pos": "AAAA"})


def test_recipe_change_starts_afresh(board_factory: Make) -> None:
    la = PadGrid.from_board(board_factory(0, n_pads=P, recipe_id="R1"))
    lb = PadGrid.from_board(board_factory(0, n_pads=P, recipe_id="R2"))
    unit = ResidualScale(np.zeros(P, np.float32), np.ones(P, np.float32))
    t = EvidenceTracker(EvidenceModel(3.0, {"R1": unit, "R2": unit}), {"R1": la, "R2": lb}, "v1", "crrn")
    th = Thresholds(4.0, -4.0)
    b0 = board_factory(0, n_pads=P, recipe_id="R1")
    b1 = dataclasses.replace(board_factory(1, n_pads=P, recipe_id="R2"), printer_id="P1")
    out = t([scores_of(b0, {"pad000": 3.0}, th), scores_of(b1, {"pad000": 3.0}, th)])
    assert [float(out[0].evidence[0]), float(out[1].evidence[0])] == [2.0, 2.0]  # not 4: reset
    assert t.export_state("P1")["recipe_id"] == "R2"  # type: ignore[index]


def test_one_printer_per_call(layout: PadGrid, board_factory: Make) -> None:
    th = Thresholds(4.0, -4.0)
    a = scores_of(board_factory(0, n_pads=P, printer_id="P1"), {}, th)
    b = scores_of(board_factory(0, n_pads=P, printer_id="P2"), {}, th)
    with pytest.raises(ValueError, match="one printer"):
        tracker_for(layout)([a, b])


def test_bootstrap_blocks_stay_inside_one_sequence() -> None:
    idx = bootstrap_index([3, 5], 200, block=4, rng=np.random.default_rng(0))
    assert len(idx) == 200
    # blocks: the 3-board sequence is one block [0, 1, 2]; the 5-board one gives [3..6] and [4..7]
    allowed = {(0, 1, 2), (3, 4, 5, 6), (4, 5, 6, 7)}
    i, seen = 0, set()
    while i < 200 - 4:
        block = (0, 1, 2) if idx[i] == 0 else tuple(idx[i : i + 4])
        assert block in allowed
        seen.add(block)
        i += len(block)
    assert seen == allowed


def test_the_bootstrap_limit_matches_a_long_healthy_run() -> None:
    rng = np.random.default_rng(4)
    held = [("R1", rng.normal(size=(45, 200)).astype(np.float32)) for _ in range(3)]  # 135 boards
    model = calibrate_evidence(held, rate=0.005)
    assert model.details["method"] == "empirical"  # 4000 bootstrap boards >= 10 / 0.005
    long = ResidualScale(model.recipes["R1"].center, model.recipes["R1"].scale)
    z = long.standardize(rng.normal(size=(20000, 200)), model.clip)
    realized = float((board_maxima(z, np.arange(len(z)), 1.0)[50:] > model.limit).mean())
    assert 0.001 < realized < 0.015  # asked 0.5 %


def test_too_few_heldout_boards_warn(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(8)
    few = [("R1", rng.normal(size=(45, 20)).astype(np.float32)) for _ in range(3)]  # 135 boards
    with caplog.at_level("WARNING", logger="crrn.evidence"):
        calibrate_evidence(few, rate=0.005, bootstrap_boards=200)
    assert "135 held-out normal boards (< 400)" in caplog.text
    assert "spi-crrn calibrate" in caplog.text
    caplog.clear()
    enough = [("R1", rng.normal(size=(200, 20)).astype(np.float32)) for _ in range(2)]  # 400 boards
    with caplog.at_level("WARNING", logger="crrn.evidence"):
        calibrate_evidence(enough, rate=0.005, bootstrap_boards=200)
    assert "held-out normal boards" not in caplog.text
