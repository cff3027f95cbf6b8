"""Per-printer windows of the last T boards: the one window logic of the stream and `spi-crrn score`.

Pure (no IO). One `PrinterWindower` per printer; feed it that printer's boards with `push(board)`.

Semantics
- Boards are kept in `print_index` order (the printer's own counter), whatever the arrival order.
- A window is the last T boards of one printer and one recipe (gaps in print_index do not break it).
- The first window of a printer/recipe is emitted as soon as T boards are buffered and scores ALL T
  boards (`n_new = T`). After that a window is emitted every `hop` new boards and scores the `hop` newest
  boards (`n_new = hop`): every board is scored exactly once, always with T boards of context.
- Duplicates (status "duplicate", nothing happens): an event_id already seen (the last
  `max(4T, 64)` event ids are remembered), or a second event for a print_index still waiting in the
  buffer (the first event wins).
- Late (status "late", not scored; the stream stores it with status 'late'): a board whose print_index is
  <= the newest board already scored, or older than a recipe change. A redelivered event_id older than
  the remembered ids is also reported late: idempotent writes keyed by event_id keep its first result.
- A board older than the newest buffered one that is still newer than the newest scored board is put in
  its place in the buffer (status "buffered" or "window").
- Recipe change (status "recipe_change"): a board of another recipe that is newer than every buffered
  board. The old recipe's pending boards (buffered, not scored) are closed out: if the buffer holds T
  boards they are scored by one final window (`n_new` = number pending; returned in `window`), otherwise
  they are returned in `unscored` (never scored). The buffer restarts with the new board.
- `flush()` (offline scoring at the end of a file) does the same close-out without a recipe change. The
  stream never flushes: with hop = 1 nothing is ever pending after a push, so offline and online scores
  are identical; with hop > 1 a flushed tail is scored with a window that ends earlier than the one the
  stream would use later.

`to_state()` is a small JSON-safe dict (event ids and print indexes, never pad data), so a streaming
worker can persist it; `from_state(state, boards_by_event_id)` rebuilds the windower from it and the boards
the worker holds (or reloads).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from schemas.inspection import BoardInspection

PushStatus = Literal["buffered", "window", "duplicate", "late", "recipe_change"]
STATE_FORMAT = "spi-crrn.windower.v1"


@dataclass(frozen=True, eq=False)
class Window:
    """The last T boards of one printer and recipe (oldest first); the `n_new` newest ones are scored."""

    printer_id: str
    recipe_id: str
    boards: tuple[BoardInspection, ...]
    n_new: int

    def __post_init__(self) -> None:
        if not 1 <= self.n_new <= len(self.boards):
            raise ValueError(f"Window: n_new={self.n_new} must be in [1, {len(self.boards)}]")

    @property
    def length(self) -> int:
        return len(self.boards)

    @property
    def new_boards(self) -> tuple[BoardInspection, ...]:
        return self.boards[-self.n_new :]


@dataclass(frozen=True, eq=False)
class PushResult:
    """What one push did. `window` is set for "window" (and for "recipe_change" when the old recipe's
    pending boards could be scored); `unscored` holds old-recipe boards that will never be scored."""

    status: PushStatus
    window: Window | None = None
    unscored: tuple[BoardInspection, ...] = ()
    reason: str = ""


class PrinterWindower:
    """Window state of ONE printer; see the module docstring for the semantics."""

    def __init__(self, T: int, hop: int = 1) -> None:
        if T < 2:  # with T = 1 a recipe change would have to emit two windows at once
            raise ValueError(f"window length T={T}: must be >= 2 (a window is a sequence of boards)")
        if not 1 <= hop <= T:
            raise ValueError(f"window hop={hop}: must be in [1, T={T}] or boards would be skipped")
        self.T = T
        self.hop = hop
        self.printer_id: str | None = None
        self.recipe_id: str | None = None
        self._buffer: list[BoardInspection] = []  # ordered by print_index, at most T + hop - 1 boards
        self._n_pending = 0  # the newest boards of the buffer that are not scored yet
        self._first_done = False  # the first window of this recipe was emitted
        self._floor_index: int | None = None  # boards with print_index <= this are late
        self._recent_ids: deque[str] = deque(maxlen=max(4 * T, 64))
        self._recent_set: set[str] = set()

    # ------------------------------------------------------------------ pushing
    def push(self, board: BoardInspection) -> PushResult:
        if self.printer_id is None:
            self.printer_id = board.printer_id
        elif board.printer_id != self.printer_id:
            raise ValueError(
                f"board {board.event_id}: printer_id {board.printer_id!r} pushed to the windower of "
                f"printer {self.printer_id!r}; keep one PrinterWindower per printer"
            )
        if board.event_id in self._recent_set:
            return PushResult("duplicate", reason="event_id already seen")
        idx = board.print_index
        if self._floor_index is not None and idx <= self._floor_index:
            self._remember(board.event_id)
            return PushResult("late", reason=f"print_index {idx} <= {self._floor_index}, already closed")
        if any(b.print_index == idx for b in self._buffer[len(self._buffer) - self._n_pending :]):
            self._remember(board.event_id)
            return PushResult("duplicate", reason=f"print_index {idx} already buffered with another event")
        if self.recipe_id is not None and board.recipe_id != self.recipe_id:
            newest = self._buffer[-1].print_index if self._buffer else None
            if newest is not None and idx < newest:
                self._remember(board.event_id)
                return PushResult(
                    "late", reason=f"recipe {board.recipe_id} board older than the buffered recipe boards"
                )
            window, unscored = self._close_out()
            self._start_recipe(board.recipe_id, floor=newest)
            self._insert(board)
            return PushResult(
                "recipe_change", window=window, unscored=unscored, reason=f"recipe -> {board.recipe_id}"
            )
        if self.recipe_id is None:
            self._start_recipe(board.recipe_id, floor=self._floor_index)
        self._insert(board)
        window = self._maybe_emit()
        return PushResult("window", window=window) if window else PushResult("buffered")

    def flush(self) -> PushResult:
        """Close out the pending boards (end of an offline file): a final window or `unscored`."""
        window, unscored = self._close_out()
        if window is not None:
            return PushResult("window", window=window, unscored=unscored, reason="flush")
        return PushResult("buffered", unscored=unscored, reason="flush")

    @property
    def n_pending(self) -> int:
        return self._n_pending

    # ------------------------------------------------------------------ internals
    def _remember(self, event_id: str) -> None:
        if len(self._recent_ids) == self._recent_ids.maxlen:
            self._recent_set.discard(self._recent_ids[0])
        self._recent_ids.append(event_id)
        self._recent_set.add(event_id)

    def _start_recipe(self, recipe_id: str, floor: int | None) -> None:
        self.recipe_id = recipe_id
        self._buffer = []
        self._n_pending = 0
        self._first_done = False
        if floor is not None:
            self._floor_index = floor if self._floor_index is None else max(self._floor_index, floor)

    def _insert(self, board: BoardInspection) -> None:
        self._remember(board.event_id)
        pos = len(self._buffer)
        while pos > 0 and self._buffer[pos - 1].print_index > board.print_index:
            pos -= 1  # only pending boards can be newer: scored ones are <= the floor
        self._buffer.insert(pos, board)
        self._n_pending += 1

    def _maybe_emit(self) -> Window | None:
        if not self._first_done:
            if len(self._buffer) < self.T:
                return None
            self._first_done = True
            return self._emit(self.T)
        if self._n_pending < self.hop:
            return None
        return self._emit(self.hop)

    def _emit(self, n_new: int) -> Window:
        assert self.printer_id is not None
        assert self.recipe_id is not None
        boards = tuple(self._buffer[-self.T :])
        self._floor_index = boards[-1].print_index
        self._n_pending = 0
        self._buffer = list(boards[len(boards) - (self.T - 1) :]) if self.T > 1 else []
        return Window(self.printer_id, self.recipe_id, boards, n_new)

    def _close_out(self) -> tuple[Window | None, tuple[BoardInspection, ...]]:
        if self._n_pending == 0:
            return None, ()
        if len(self._buffer) >= self.T:
            self._first_done = True
            return self._emit(self._n_pending), ()
        unscored = tuple(self._buffer[len(self._buffer) - self._n_pending :])
        if unscored:
            top = unscored[-1].print_index
            self._floor_index = top if self._floor_index is None else max(self._floor_index, top)
        self._buffer = self._buffer[: len(self._buffer) - self._n_pending]
        self._n_pending = 0
        return None, unscored

    # ------------------------------------------------------------------ persistence
    def to_state(self) -> dict[str, Any]:
        """JSON-safe state: ids and indexes only (the boards stay with the caller)."""
        return {
            "format": STATE_FORMAT,
            "T": self.T,
            "hop": self.hop,
            "printer_id": self.printer_id,
            "recipe_id": self.recipe_id,
            "buffer": [[b.event_id, b.print_index] for b in self._buffer],
            "n_pending": self._n_pending,
            "first_done": self._first_done,
            "floor_index": self._floor_index,
            "recent_ids": list(self._recent_ids),
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], boards_by_event_id: Mapping[str, BoardInspection]
    ) -> PrinterWindower:
        """Rebuild from `to_state()` and the buffered boards (looked up by event_id)."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"windower state.format: expected {STATE_FORMAT!r}, got {state.get('format')!r}")
        w = cls(int(state["T"]), int(state["hop"]))
        w.printer_id = state["printer_id"]
        w.recipe_id = state["recipe_id"]
        missing = [eid for eid, _ in state["buffer"] if eid not in boards_by_event_id]
        if missing:
            raise ValueError(
                f"windower state of printer {w.printer_id}: buffered boards {missing[:5]} not provided; "
                "pass every buffered board (by event_id) to from_state"
            )
        w._buffer = [boards_by_event_id[eid] for eid, _ in state["buffer"]]
        w._n_pending = int(state["n_pending"])
        w._first_done = bool(state["first_done"])
        w._floor_index = None if state["floor_index"] is None else int(state["floor_index"])
        for eid in state["recent_ids"]:
            w._remember(str(eid))
        return w
