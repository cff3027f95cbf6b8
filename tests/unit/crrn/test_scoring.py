"""Scorer: batching equals one-by-one, pad order follows the board, baselines by hand, offline driver."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from crrn.evidence import EvidenceModel, ResidualScale
from crrn.layout import PadGrid
from crrn.model_file import ModelBundle, RecipeModel
from crrn.nn import CRRN, CRRNConfig
from crrn.normalization import PadNormalizer, board_values
from crrn.scoring import Scorer, score_boards
from crrn.thresholds import Thresholds
from crrn.windowing import PrinterWindower, Window
from schemas.inspection import BoardInspection

Make = Callable[..., BoardInspection]
TINY = CRRNConfig(hidden_channels=4, num_layers=1, kernel_size=3, attention_kernel=3, s_layers=1)
T = 4


@pytest.fixture(scope="module")
def bundle(board_factory: Make) -> ModelBundle:
    torch.manual_seed(0)
    model = CRRN(TINY)
    train = [board_factory(i, n_pads=12) for i in range(20)]
    layout = PadGrid.from_board(train[0])
    values = np.stack([board_values(b, layout.for_board(b)) for b in train])
    recipe = RecipeModel(layout, PadNormalizer.fit(values), np.asarray(train[0].pads.shape))
    return ModelBundle(
        config=TINY.to_dict(),
        state_dict=model.state_dict(),
        recipes={"R1": recipe},
        thresholds={m: Thresholds(1.0, -1.0) for m in ("crrn", "statistical", "pad_zscore")},
        window_length=T,
    )


def windows_of(boards: list[BoardInspection]) -> list[Window]:
    w = PrinterWindower(T, 1)
    return [r.window for r in map(w.push, boards) if r.window is not None]


def test_batched_equals_one_by_one(bundle: ModelBundle, board_factory: Make) -> None:
    scorer = Scorer(bundle, device="cpu")
    wins = windows_of([board_factory(i, n_pads=12) for i in range(100, 110)])
    assert len(wins) == 7
    together = scorer.score_windows(wins)
    alone = [s for w in wins for s in scorer.score_windows([w])]
    assert [s.event_id for s in together] == [s.event_id for s in alone]
    assert len(together) == 4 + 6  # the first window scores all T boards, then one per window
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.score, b.score, atol=1e-5)
        assert a.model_version == bundle.version


def test_scores_follow_the_boards_pad_order(bundle: ModelBundle, board_factory: Make) -> None:
    scorer = Scorer(bundle, device="cpu")
    boards = [board_factory(i, n_pads=12) for i in range(200, 204)]
    perm = np.random.default_rng(0).permutation(12)
    shuffled = [*boards[:-1], board_factory(203, n_pads=12, order=perm)]
    s_ref = scorer.score_windows(windows_of(boards))[-1]
    s_shuf = scorer.score_windows(windows_of(shuffled))[-1]
    np.testing.assert_array_equal(s_shuf.pad_id, s_ref.pad_id[perm])
    np.testing.assert_allclose(s_shuf.score, s_ref.score[perm], atol=1e-6)


def test_pad_zscore_method_by_hand(bundle: ModelBundle, board_factory: Make) -> None:
    scorer = Scorer(bundle, device="cpu", method="pad_zscore")
    boards = [board_factory(i, n_pads=12) for i in range(300, 304)]
    out = scorer.score_windows(windows_of(boards))
    norm = bundle.recipes["R1"].normalizer
    for b, s in zip(boards, out, strict=True):
        expected = (b.pads.volume_pct - norm.centre[0]) / norm.scale[0]
        np.testing.assert_allclose(s.score, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(s.alarm, np.where(expected >= 1, 1, np.where(expected <= -1, -1, 0)))


def test_score_boards_drives_windows_per_printer(bundle: ModelBundle, board_factory: Make) -> None:
    scorer = Scorer(bundle, device="cpu", method="statistical")
    boards = [board_factory(i, printer_id=p, n_pads=12) for p in ("P1", "P2") for i in range(6)]
    boards += [board_factory(0, printer_id="P3", n_pads=12)]  # never fills a window
    rng = np.random.default_rng(0)
    shuffled = [boards[i] for i in rng.permutation(len(boards))]
    skipped: list[tuple[str, str]] = []
    out = list(score_boards(shuffled, scorer, T, 1, on_unscored=lambda b, s: skipped.append((b.event_id, s))))
    assert sorted(s.event_id for s in out) == sorted(b.event_id for b in boards[:12])
    assert skipped == [("P3-R1-0", "unscored")]
    # identical to the windows the stream would build
    direct = scorer.score_windows(windows_of(sorted(boards[:6], key=lambda b: b.print_index)))
    by_id = {s.event_id: s for s in out}
    for s in direct:
        np.testing.assert_array_equal(by_id[s.event_id].score, s.score)


def test_unknown_method_and_recipe(bundle: ModelBundle, board_factory: Make) -> None:
    with pytest.raises(ValueError, match="method"):
        Scorer(bundle, method="magic")
    scorer = Scorer(bundle, device="cpu", method="pad_zscore")
    wins = windows_of([board_factory(i, recipe_id="R9", n_pads=12) for i in range(4)])
    with pytest.raises(KeyError, match="R9"):
        scorer.score_windows(wins)


def test_pad_zscore_board_method_by_hand(bundle: ModelBundle, board_factory: Make) -> None:
    b2 = ModelBundle(**{**bundle.__dict__, "thresholds": {"pad_zscore_board": Thresholds(1.0, -1.0)}})
    scorer = Scorer(b2, device="cpu", method="pad_zscore_board")
    boards = [board_factory(i, n_pads=12) for i in range(300, 304)]
    out = scorer.score_windows(windows_of(boards))
    norm = bundle.recipes["R1"].normalizer
    for b, s in zip(boards, out, strict=True):
        z = (b.pads.volume_pct - norm.centre[0]) / norm.scale[0]
        np.testing.assert_allclose(s.score, z - np.median(z), rtol=1e-5, atol=1e-5)


def test_score_boards_applies_the_process_rule_per_printer_in_order(
    bundle: ModelBundle, board_factory: Make
) -> None:
    unit = ResidualScale(np.zeros(12, np.float32), np.full(12, 0.5, np.float32))
    b2 = ModelBundle(**{**bundle.__dict__, "evidence": {"pad_zscore": EvidenceModel(2.0, {"R1": unit})}})
    scorer = Scorer(b2, device="cpu", method="pad_zscore")
    boards = [board_factory(i, printer_id=p, n_pads=12) for p in ("P1", "P2") for i in range(8)]
    shuffled = [boards[i] for i in np.random.default_rng(1).permutation(len(boards))]
    out = list(score_boards(shuffled, scorer, T, 1, batch_windows=3))  # batches straddle printers
    assert all(s.evidence_limit == 2.0 for s in out)
    plain = list(score_boards(boards, scorer, T, 1, tracker=None))
    assert all(s.process is None for s in plain)
    # the same as the worker: one tracker, each printer's boards in print order
    tracker = b2.evidence_tracker("pad_zscore")
    assert tracker is not None
    expected = [t for p in ("P1", "P2") for t in tracker([s for s in plain if s.printer_id == p])]
    by_id = {s.event_id: s for s in out}
    assert sorted(by_id) == sorted(s.event_id for s in expected)
    for e in expected:
        np.testing.assert_array_equal(by_id[e.event_id].evidence, e.evidence)
        np.testing.assert_array_equal(by_id[e.event_id].alarm, e.alarm)
    assert any((s.process != 0).any() for s in out)  # the rule fired on these boards (scale 0.5, h = 2)
    # the alarm column is the union: board outliers where the score passes, process alarms elsewhere
    for s in out:
        assert s.process is not None
        np.testing.assert_array_equal(s.alarm, np.where(s.outlier != 0, s.outlier, s.process))
