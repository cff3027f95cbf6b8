"""PrinterWindower scenarios by hand, state round trip, and a property test over long random streams."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crrn.windowing import PrinterWindower, PushResult, Window
from schemas.inspection import BoardInspection

Make = Callable[..., BoardInspection]


@pytest.fixture(scope="module")
def b(board_factory: Make) -> Make:
    """b(print_index, recipe="R1", event=None): a 3-pad board of printer P1."""

    def make(i: int, recipe: str = "R1", event: str | None = None) -> BoardInspection:
        return board_factory(i, recipe_id=recipe, n_pads=3, event_id=event)

    return make


def win(r: PushResult) -> Window:
    assert r.window is not None, f"expected a window, got status {r.status}"
    return r.window


def indexes(boards: tuple[BoardInspection, ...]) -> list[int]:
    return [x.print_index for x in boards]


def test_first_window_scores_all_then_every_hop(b: Make) -> None:
    w = PrinterWindower(T=3, hop=2)
    assert w.push(b(1)).status == "buffered"
    assert w.push(b(2)).status == "buffered"
    r = w.push(b(3))
    assert r.status == "window"
    assert r.window is not None
    assert indexes(win(r).boards) == [1, 2, 3]
    assert win(r).n_new == 3
    assert w.push(b(4)).status == "buffered"
    r = w.push(b(5))
    assert r.window is not None
    assert indexes(win(r).boards) == [3, 4, 5]
    assert indexes(win(r).new_boards) == [4, 5]


def test_hop_one_scores_each_new_board(b: Make) -> None:
    w = PrinterWindower(T=2, hop=1)
    w.push(b(1))
    assert indexes(win(w.push(b(2))).boards) == [1, 2]
    r = w.push(b(3))
    assert indexes(win(r).boards) == [2, 3]
    assert win(r).n_new == 1


def test_duplicates_are_ignored(b: Make) -> None:
    w = PrinterWindower(T=3, hop=1)
    w.push(b(1))
    assert w.push(b(1)).status == "duplicate"  # same event id
    assert w.push(b(1, event="other-event")).status == "duplicate"  # same pending print_index
    w.push(b(2))
    r = w.push(b(3))
    assert indexes(win(r).boards) == [1, 2, 3]
    assert w.push(b(3)).status == "duplicate"  # already scored, same event id


def test_late_boards_are_not_scored(b: Make) -> None:
    w = PrinterWindower(T=2, hop=1)
    w.push(b(1))
    w.push(b(3))  # window [1, 3]: 3 is the newest scored
    assert w.push(b(2)).status == "late"
    assert w.push(b(3, event="re-inspection")).status == "late"
    assert w.push(b(4)).status == "window"


def test_out_of_order_within_pending_boards_is_sorted(b: Make) -> None:
    w = PrinterWindower(T=3, hop=2)
    for i in (1, 2, 3):
        w.push(b(i))
    assert w.push(b(5)).status == "buffered"
    r = w.push(b(4))
    assert indexes(win(r).boards) == [3, 4, 5]
    assert win(r).n_new == 2


def test_recipe_change_before_a_full_window_reports_unscored(b: Make) -> None:
    w = PrinterWindower(T=3, hop=1)
    w.push(b(1))
    w.push(b(2))
    r = w.push(b(3, recipe="R2"))
    assert r.status == "recipe_change"
    assert r.window is None
    assert indexes(r.unscored) == [1, 2]
    assert w.push(b(2, recipe="R1", event="x")).status == "late"  # older than the change
    w.push(b(4, recipe="R2"))
    r = w.push(b(5, recipe="R2"))
    assert r.window is not None
    assert win(r).recipe_id == "R2"
    assert indexes(win(r).boards) == [3, 4, 5]


def test_recipe_change_with_a_full_buffer_scores_the_pending_tail(b: Make) -> None:
    w = PrinterWindower(T=2, hop=2)
    w.push(b(1))
    w.push(b(2))  # first window [1, 2]
    w.push(b(3))  # pending
    r = w.push(b(4, recipe="R2"))
    assert r.status == "recipe_change"
    assert r.unscored == ()
    assert r.window is not None
    assert win(r).recipe_id == "R1"
    assert indexes(win(r).boards) == [2, 3]
    assert win(r).n_new == 1


def test_board_of_a_new_recipe_older_than_the_buffer_is_late(b: Make) -> None:
    w = PrinterWindower(T=3, hop=1)
    w.push(b(5))
    assert w.push(b(4, recipe="R2")).status == "late"


def test_flush(b: Make) -> None:
    w = PrinterWindower(T=3, hop=3)
    for i in (1, 2, 3, 4, 5):  # first window [1, 2, 3]; 4, 5 pending
        w.push(b(i))
    r = w.flush()
    assert indexes(win(r).boards) == [3, 4, 5]
    assert win(r).n_new == 2
    w2 = PrinterWindower(T=4)
    w2.push(b(1))
    assert indexes(w2.flush().unscored) == [1]


def test_other_printer_is_refused(b: Make) -> None:
    w = PrinterWindower(T=2)
    w.push(b(1))
    with pytest.raises(ValueError, match="printer_id"):
        w.push(b(2).__class__(**{**b(2).__dict__, "printer_id": "P9"}))


def test_bad_parameters(b: Make) -> None:
    with pytest.raises(ValueError, match="hop"):
        PrinterWindower(T=3, hop=4)
    with pytest.raises(ValueError, match="T=1"):
        PrinterWindower(T=1)


def test_state_round_trip_continues_identically(b: Make) -> None:
    boards = [b(i) for i in range(1, 12)]
    ref = PrinterWindower(T=4, hop=3)
    resumed = PrinterWindower(T=4, hop=3)
    for x in boards[:6]:
        ref.push(x)
        resumed.push(x)
    state = json.loads(json.dumps(resumed.to_state()))
    assert len(json.dumps(state)) < 4000  # ids and indexes only
    resumed = PrinterWindower.from_state(state, {x.event_id: x for x in boards})
    for x in boards[6:]:
        r1, r2 = ref.push(x), resumed.push(x)
        assert r1.status == r2.status
        assert (r1.window is None) == (r2.window is None)
        if r1.window is not None and r2.window is not None:
            assert indexes(r1.window.boards) == indexes(r2.window.boards)
            assert r1.window.n_new == r2.window.n_new
    with pytest.raises(ValueError, match="not provided"):
        PrinterWindower.from_state(state, {})


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    T=st.integers(2, 6),
    hop_frac=st.floats(0.0, 1.0),
    n=st.integers(0, 120),
)
def test_every_board_is_accounted_for_exactly_once(
    b: Make, seed: int, T: int, hop_frac: float, n: int
) -> None:
    rng = np.random.default_rng(seed)
    hop = 1 + int(hop_frac * (T - 1))
    recipes = np.where(np.cumsum(rng.random(n) < 0.05) % 2 == 0, "R1", "R2")  # a few recipe changes
    boards = [b(i, recipe=str(recipes[i])) for i in range(n)]
    stream = list(boards)
    for i in range(len(stream) - 1):  # local disorder: swap neighbours now and then
        if rng.random() < 0.2:
            stream[i], stream[i + 1] = stream[i + 1], stream[i]
    for i in rng.choice(n, size=min(n, 10), replace=False) if n else []:  # redeliveries
        stream.insert(int(rng.integers(i, n + 1)), boards[i])
    w = PrinterWindower(T, hop)
    scored: list[str] = []
    skipped: list[str] = []  # late, unscored (first push of an event only)
    seen: set[str] = set()
    for x in stream:
        r = w.push(x)
        if x.event_id in seen:  # a redelivery changes nothing
            assert r.status in ("duplicate", "late")
            assert r.window is None
            assert r.unscored == ()
            continue
        seen.add(x.event_id)
        if r.status == "late":
            skipped.append(x.event_id)
        skipped.extend(u.event_id for u in r.unscored)
        if r.window is not None:
            window = r.window
            assert len(window.boards) == T
            assert indexes(window.boards) == sorted(indexes(window.boards))
            assert len({y.recipe_id for y in window.boards}) == 1
            scored.extend(y.event_id for y in window.new_boards)
    r = w.flush()
    skipped.extend(u.event_id for u in r.unscored)
    if r.window is not None:
        scored.extend(y.event_id for y in win(r).new_boards)
    assert len(scored) == len(set(scored))  # scored at most once
    assert not set(scored) & set(skipped)  # never both scored and skipped
    assert set(scored) | set(skipped) == {x.event_id for x in boards}  # every board accounted for
    if n and all(x.recipe_id == "R1" for x in boards) and stream == boards and n >= T:
        assert len(scored) == n  # in order, one recipe: every board scored
