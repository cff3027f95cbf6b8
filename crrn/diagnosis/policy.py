"""The per-printer decision policy: scored boards -> window maps -> classifier -> hysteresis -> DefectEvents.

`DefectPolicy` is the hook the stream and `spi-crrn score --defects-output` call: give it one printer's
newly scored boards (`BoardScores`, in print order) and it returns the `DefectEvent`s they cause. Per
printer it keeps the binary maps of the last T boards (T = the classifier's window length; a recipe change
starts a new window) and a `DefectHysteresis`; every new board completes a window (hop 1 over boards),
which is classified and fed to the hysteresis.

Event keys are `schemas.messages.defect_event_key(printer, defect, state, first_event_id, model_version)`:
the same boards and model always give the same keys, so replays can be dropped downstream. Each event's
first board is the oldest board of the first window of the episode, its last board the newest board of the
window that caused the event. `model_version` is the CRRN model's version (the classifier carries it).

`export_state(printer)` / `import_state(printer, state)` move one printer's state in and out as a small
JSON-safe dict (the window's binary maps bit-packed, its boards, the hysteresis), so a streaming worker can
store it with the boards it has seen and resume after a crash, a restart or a partition move exactly as
if it had never stopped: the same boards then give the same events and keys.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from crrn.diagnosis.classifier import StoredClassifier, classifier_path_for, load_classifier
from crrn.diagnosis.features import board_maps, score_grids
from crrn.diagnosis.hysteresis import BoardSpan, DefectHysteresis, HysteresisConfig, Transition
from crrn.layout import PadGrid
from crrn.thresholds import Thresholds
from schemas.messages import DefectEvent, DefectType, defect_event_key

if TYPE_CHECKING:
    from crrn.model_file import ModelBundle
    from crrn.scoring import BoardScores

Clock = Callable[[], datetime]
POLICY_STATE_FORMAT = "spi-crrn.defect-policy.v1"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PolicyStep:
    """What one call did: window probabilities `(M, K)`, the windows' boards, and the events."""

    probabilities: np.ndarray
    windows: list[BoardSpan]
    events: list[DefectEvent]


@dataclass
class _PrinterState:
    recipe_id: str
    maps: deque[torch.Tensor]  # last T boards' (2, S, S) binary maps
    boards: deque[tuple[str, int]]  # (event_id, print_index) of those boards
    hysteresis: DefectHysteresis


class DefectPolicy:
    """Per-printer diagnosis state. Not thread-safe: one caller (one printer partition) at a time."""

    def __init__(
        self,
        classifier: StoredClassifier,
        layouts: dict[str, PadGrid],
        thresholds: Thresholds,
        model_version: str,
        config: HysteresisConfig | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.classifier = classifier
        self.layouts = layouts
        self.thresholds = thresholds
        self.model_version = model_version
        self.config = config or HysteresisConfig()
        self.clock = clock
        self.window = int(classifier.metadata["window_length"])
        self.classes = tuple(classifier.model.config.classes)
        self.size = classifier.model.config.input_size
        self._printers: dict[str, _PrinterState] = {}

    @classmethod
    def from_model(
        cls,
        model_path: str | Path,
        bundle: ModelBundle,
        config: HysteresisConfig | None = None,
        classifier_path: str | Path | None = None,
        clock: Clock = utc_now,
    ) -> DefectPolicy:
        """The policy of a model file: loads `MODEL.classifier.pt` and checks it was trained for `bundle`."""
        stored = load_classifier(classifier_path or classifier_path_for(model_path), bundle.version)
        layouts = {rid: r.layout for rid, r in bundle.recipes.items()}
        return cls(stored, layouts, bundle.thresholds_for("crrn"), bundle.version, config, clock)

    # ------------------------------------------------------------------ state
    def export_state(self, printer_id: str) -> dict[str, Any] | None:
        """One printer's state as a JSON-safe dict, or None when the policy has not seen the printer.

        Keys: `format`, `model_version`, `classes`, `window`, `size` (what the state is valid for),
        `recipe_id`, `last_print_index` (the newest board fed), `boards` ([event_id, print_index] of the
        window's boards, oldest first), `maps` (their `(n, 2, S, S)` binary maps, `np.packbits` + base64)
        and `hysteresis` (`DefectHysteresis.to_state()`).
        """
        state = self._printers.get(printer_id)
        if state is None:
            return None
        maps = torch.stack(list(state.maps)).numpy()  # (n, 2, S, S) float32 in {0, 1}
        if not np.isin(maps, (0.0, 1.0)).all():
            raise ValueError(f"printer {printer_id}: window maps must be binary to be stored")
        return {
            "format": POLICY_STATE_FORMAT,
            "model_version": self.model_version,
            "classes": list(self.classes),
            "window": self.window,
            "size": self.size,
            "recipe_id": state.recipe_id,
            "last_print_index": state.boards[-1][1],
            "boards": [[event_id, index] for event_id, index in state.boards],
            "maps": base64.b64encode(np.packbits(maps.astype(bool)).tobytes()).decode("ascii"),
            "hysteresis": state.hysteresis.to_state(),
        }

    def import_state(self, printer_id: str, state: Mapping[str, Any] | None) -> bool:
        """Replace one printer's state with `state` (from `export_state`); True when it was taken.

        `None` forgets the printer: its next board starts a new window and a fresh hysteresis. A state
        saved for another model version (a hot model swap), or for a classifier with other classes,
        window length or map size, is ignored and the printer starts fresh too (False): its maps and
        probabilities mean something else under this model. A state of this policy that is malformed
        raises ValueError.
        """
        self._printers.pop(printer_id, None)
        if state is None or not self._accepts(state):
            return False
        try:
            restored = self._restore(state)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"printer {printer_id}: malformed diagnosis state ({exc!r})") from exc
        self._printers[printer_id] = restored
        return True

    def _restore(self, state: Mapping[str, Any]) -> _PrinterState:
        boards = [(str(event_id), int(index)) for event_id, index in state["boards"]]
        n = len(boards)
        if not 1 <= n <= self.window:
            raise ValueError(f"diagnosis state holds {n} boards, expected 1..{self.window}")
        packed = np.frombuffer(base64.b64decode(state["maps"], validate=True), dtype=np.uint8)
        cells = n * 2 * self.size * self.size
        if packed.size != (cells + 7) // 8:
            raise ValueError(f"diagnosis state maps do not hold {n} boards of (2, S, S)")
        bits = np.unpackbits(packed, count=cells).reshape(n, 2, self.size, self.size)
        maps = torch.from_numpy(bits.astype(np.float32))
        return _PrinterState(
            str(state["recipe_id"]),
            deque(maps.unbind(0), maxlen=self.window),
            deque(boards, maxlen=self.window),
            DefectHysteresis.from_state(self.config, self.classes, state["hysteresis"]),
        )

    def _accepts(self, state: Mapping[str, Any]) -> bool:
        """Whether `state` was exported by a policy of this model and classifier shape."""
        return (
            state.get("format") == POLICY_STATE_FORMAT
            and state.get("model_version") == self.model_version
            and list(state.get("classes", ())) == list(self.classes)
            and state.get("window") == self.window
            and state.get("size") == self.size
        )

    # ------------------------------------------------------------------ scoring
    def __call__(self, scores: Sequence[BoardScores]) -> list[DefectEvent]:
        """One printer's newly scored boards (print order) -> the defect events they cause."""
        return self.step(scores).events

    def step(self, scores: Sequence[BoardScores]) -> PolicyStep:
        """Like `__call__`, also returning each completed window's probabilities and boards."""
        if not scores:
            return PolicyStep(np.zeros((0, len(self.classes))), [], [])
        printers = {s.printer_id for s in scores}
        if len(printers) != 1:
            raise ValueError(
                f"printer_id: DefectPolicy takes one printer's boards per call, got {sorted(printers)}"
            )
        methods = {s.method for s in scores} - {"crrn"}
        if methods:
            raise ValueError(
                f"method: defect diagnosis reads CRRN scores, got {sorted(methods)}; score with crrn"
            )
        windows, spans = self._windows(list(scores))
        if not windows:
            return PolicyStep(np.zeros((0, len(self.classes))), [], [])
        probs = self.classifier.model.probabilities(torch.stack(windows)).numpy()  # (M, K)
        state = self._printers[scores[0].printer_id]
        events: list[DefectEvent] = []
        for p, span in zip(probs, spans, strict=True):
            events.extend(self._event(scores[0].printer_id, t) for t in state.hysteresis.update(p, span))
        return PolicyStep(probs, spans, events)

    # ------------------------------------------------------------------ internals
    def _windows(self, scores: list[BoardScores]) -> tuple[list[torch.Tensor], list[BoardSpan]]:
        maps = self._board_maps(scores)  # (N, 2, S, S)
        windows: list[torch.Tensor] = []
        spans: list[BoardSpan] = []
        for s, m in zip(scores, maps, strict=True):
            state = self._state(s)
            state.maps.append(m)
            state.boards.append((s.event_id, s.print_index))
            if len(state.maps) == self.window:
                windows.append(torch.stack(list(state.maps)).mean(dim=0))  # (2, S, S)
                (first_id, first_idx), (last_id, last_idx) = state.boards[0], state.boards[-1]
                spans.append(BoardSpan(first_id, first_idx, last_id, last_idx))
        return windows, spans

    def _board_maps(self, scores: list[BoardScores]) -> torch.Tensor:
        out = torch.empty(len(scores), 2, self.size, self.size)
        by_recipe: dict[str, list[int]] = {}
        for i, s in enumerate(scores):
            by_recipe.setdefault(s.recipe_id, []).append(i)
        for recipe_id, idxs in by_recipe.items():  # one vectorized pass per recipe
            layout = self.layouts.get(recipe_id)
            if layout is None:
                raise KeyError(f"recipe_id {recipe_id!r} is unknown to model {self.model_version}")
            grids = score_grids(layout, [scores[i].pad_id for i in idxs], [scores[i].score for i in idxs])
            out[idxs] = board_maps(grids, layout.mask, self.thresholds, self.size)
        return out

    def _state(self, s: BoardScores) -> _PrinterState:
        state = self._printers.get(s.printer_id)
        if state is None:
            state = _PrinterState(
                s.recipe_id, deque(maxlen=self.window), deque(maxlen=self.window),
                DefectHysteresis(self.config, self.classes),
            )  # fmt: skip
            self._printers[s.printer_id] = state
        elif state.recipe_id != s.recipe_id:  # a recipe change starts a new window, defect state stays
            state.recipe_id = s.recipe_id
            state.maps.clear()
            state.boards.clear()
        return state

    def _event(self, printer_id: str, t: Transition) -> DefectEvent:
        return DefectEvent(
            event_key=defect_event_key(
                printer_id, t.defect, t.state, t.episode.first_event_id, self.model_version
            ),
            printer_id=printer_id,
            defect=cast(DefectType, t.defect),
            state=t.state,
            probability=min(1.0, max(0.0, t.probability)),
            first_event_id=t.episode.first_event_id,
            last_event_id=t.episode.last_event_id,
            first_print_index=t.episode.first_print_index,
            last_print_index=t.episode.last_print_index,
            model_version=self.model_version,
            emitted_at=self.clock(),
        )
