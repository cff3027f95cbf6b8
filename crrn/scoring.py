"""Scorer: windows of boards -> per-pad signed scores and alarms. The stream and `spi-crrn score` both use
`PrinterWindower` + `Scorer.score_windows` and nothing else, so offline and online results are identical.

Per call, windows are grouped by recipe (one grid shape each) and by (window length, boards scored), and
every group goes through ONE forward pass of B windows (two when the model hides suspected pads,
crrn/reconstruction.py; split into chunks of `max_batch` windows only when larger) that decodes only the
boards the windows score (`newest`: 1 of T with hop 1), under
`torch.inference_mode`, on CUDA with bf16 autocast when available, else on CPU in fp32.
Methods: "crrn" (the network of the bundle), "statistical", "pad_zscore" and "pad_zscore_board"
(crrn/baselines.py), all with the score convention of crrn/anomaly_map.py and thresholds from the bundle.

Two kinds of alarm (docs/alarms.md): `Scorer` decides the BOARD OUTLIERS (score beyond the thresholds on
this board); `crrn.evidence.EvidenceTracker` adds the PROCESS ALARMS (evidence over a printer's boards).
`score_boards` applies the tracker per printer in print order, exactly as the worker does, so
`BoardScores.alarm` there is the final union of both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from crrn.anomaly_map import alarms, score_map
from crrn.baselines import BoardLevelPadZScore, PadHistoryZScore, StatisticalBaseline
from crrn.board_scores import (
    BoardScores,
)
from crrn.evidence import EvidenceTracker
from crrn.model_file import METHODS, ModelBundle, RecipeModel
from crrn.normalization import board_values
from crrn.thresholds import ScoreFn
from crrn.windowing import PrinterWindower, Window
from schemas.inspection import BoardInspection

log = logging.getLogger(__name__)


def windows_array(boards: Sequence[BoardInspection], recipe: RecipeModel) -> np.ndarray:
    """Normalized grids of consecutive boards: (N, C, H, W) float32 (for a window N = T)."""
    layout, norm = recipe.layout, recipe.normalizer
    vals = np.stack([board_values(b, layout.for_board(b)) for b in boards])  # (N, C, P) canonical order
    return layout.to_grid(norm.normalize(vals))  # (N, C, H, W)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r}: use auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but no CUDA device is available; use device='auto' or 'cpu'")
    return device


class Scorer:
    """Scores windows with one method of a ModelBundle."""

    def __init__(
        self, bundle: ModelBundle, device: str = "auto", method: str = "crrn", max_batch: int = 64
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method={method!r}: choose one of {list(METHODS)}")
        self.bundle = bundle
        self.method = method
        self.max_batch = max_batch
        self.model_version = bundle.version
        self.thresholds = bundle.thresholds_for(method)
        self.device = resolve_device(device)
        self._model: Any = None
        if method == "crrn":
            self._model = bundle.build_model().to(self.device)
        self._baselines: dict[str, Callable[[np.ndarray], np.ndarray]] = {}

    def board_problem(self, board: BoardInspection) -> str | None:
        """Why this model cannot score `board` (unknown recipe, other pad list), or None."""
        try:
            self.bundle.recipe(board.recipe_id).layout.for_board(board)
        except (KeyError, ValueError) as exc:
            return str(exc).strip("'\"")
        return None

    # ------------------------------------------------------------------ arrays
    def array_score_fn(self, recipe_id: str) -> ScoreFn:
        """(B, T, C, H, W) normalized windows of `recipe_id` -> (B, T, H, W) scores (a thresholds.ScoreFn)."""
        recipe = self.bundle.recipe(recipe_id)
        mask = recipe.layout.mask  # (H, W)
        if self.method == "crrn":
            return lambda x: self._network_scores(x, mask)
        if recipe_id not in self._baselines:
            if self.method == "statistical":
                lay = recipe.layout
                base = StatisticalBaseline.from_labels(recipe.aperture_group, lay.flat_index, lay.shape)
                self._baselines[recipe_id] = base.score_windows_array
            elif self.method == "pad_zscore_board":
                self._baselines[recipe_id] = BoardLevelPadZScore(mask).score_windows_array
            else:
                self._baselines[recipe_id] = PadHistoryZScore(mask).score_windows_array
        return self._baselines[recipe_id]

    def newest_scores(self, recipe_id: str, x: np.ndarray, newest: int) -> np.ndarray:
        """(B, T, C, H, W) normalized windows -> (B, n, H, W) scores of their `newest` n boards: the
        network decodes only those (crrn/reconstruction.py, same values as the full call)."""
        if self.method == "crrn":
            return self._network_scores(x, self.bundle.recipe(recipe_id).layout.mask, newest)
        return self.array_score_fn(recipe_id)(x)[:, -newest:]

    def _network_scores(self, x: np.ndarray, mask: np.ndarray, newest: int | None = None) -> np.ndarray:
        import torch

        from crrn.reconstruction import reconstruct

        n = x.shape[1] if newest is None else newest
        out = np.empty((x.shape[0], n, *x.shape[-2:]), dtype=np.float32)  # (B, n, H, W)
        m = torch.from_numpy(np.ascontiguousarray(mask)).to(self.device)  # (H, W) bool
        use_bf16 = self.device == "cuda"
        with torch.inference_mode():
            for start in range(0, x.shape[0], self.max_batch):
                chunk = torch.from_numpy(np.ascontiguousarray(x[start : start + self.max_batch])).to(
                    self.device
                )
                with torch.autocast(self.device, dtype=torch.bfloat16, enabled=use_bf16):
                    # one pass, or two when the model hides suspected pads (crrn/reconstruction.py)
                    level = self.bundle.hide_suspects_above
                    recon = reconstruct(self._model, chunk, m, level, newest)  # (b, n, C, H, W)
                recon_np = recon.float().cpu().numpy()
                out[start : start + chunk.shape[0]] = score_map(
                    x[start : start + chunk.shape[0], -n:], recon_np, mask
                )
        return out

    # ------------------------------------------------------------------ windows
    def score_windows(self, windows: Sequence[Window]) -> list[BoardScores]:
        """BoardScores of the `n_new` newest boards of every window, in window order, oldest board first."""
        by_recipe: dict[str, list[int]] = {}
        for i, w in enumerate(windows):
            by_recipe.setdefault(w.recipe_id, []).append(i)
        results: list[list[BoardScores]] = [[] for _ in windows]
        for recipe_id, idxs in by_recipe.items():
            recipe = self.bundle.recipe(recipe_id)
            group = [windows[i] for i in idxs]
            # one forward pass per (window length, boards scored): normally two shapes, the first window
            # of a printer (all T boards) and the rest (hop boards each)
            for t_len, n_new in sorted({(w.length, w.n_new) for w in group}):
                sub = [
                    (i, w) for i, w in zip(idxs, group, strict=True) if (w.length, w.n_new) == (t_len, n_new)
                ]
                x = np.stack([windows_array(w.boards, recipe) for _, w in sub])  # (B, T, C, H, W)
                scores = recipe.layout.from_grid(self.newest_scores(recipe_id, x, n_new))  # (B, n, P)
                for (i, w), s in zip(sub, scores, strict=True):
                    results[i] = [self._board_scores(b, s[k], recipe) for k, b in enumerate(w.new_boards)]
        return [bs for per_window in results for bs in per_window]

    def _board_scores(
        self, board: BoardInspection, canonical: np.ndarray, recipe: RecipeModel
    ) -> BoardScores:
        order = recipe.layout.for_board(board)
        score = np.empty(canonical.shape[0], dtype=np.float32)
        score[order] = canonical  # canonical pad i is the board's pad order[i]
        return BoardScores(
            board=board,
            score=score,
            alarm=alarms(score, self.thresholds),
            model_version=self.model_version,
            method=self.method,
            thresholds=self.thresholds,
        )


UnscoredCallback = Callable[[BoardInspection, str], None]


def score_boards(
    boards: Iterable[BoardInspection],
    scorer: Scorer,
    T: int,
    hop: int = 1,
    *,
    flush: bool = True,
    on_unscored: UnscoredCallback | None = None,
    batch_windows: int = 32,
    tracker: EvidenceTracker | Literal["auto"] | None = "auto",
) -> Iterator[BoardScores]:
    """Offline scoring exactly as the stream does it: per printer, in print_index order, through
    PrinterWindower; windows are scored `batch_windows` at a time, and each printer's scored boards go
    through the process-alarm `tracker` in print order ("auto": the bundle's for the scorer's method,
    None where the model has none; None: board outliers only). Boards that are not scored go to
    `on_unscored(board, status)`: "late", "duplicate", "unscored" (pending in a window that never
    filled) or "unscorable" (recipe or pad list unknown to the model; never enters a window).
    `flush=True` scores a printer's pending tail at the end (see crrn/windowing.py)."""
    by_printer: dict[str, list[BoardInspection]] = {}
    for b in boards:
        by_printer.setdefault(b.printer_id, []).append(b)
    pending: list[Window] = []
    track = scorer.bundle.evidence_tracker(scorer.method) if tracker == "auto" else tracker

    def scored(windows: list[Window]) -> list[BoardScores]:
        out = scorer.score_windows(windows)
        if track is None:
            return out
        result: list[BoardScores] = []
        start = 0
        for i in range(1, len(out) + 1):  # runs of one printer (its boards are contiguous, in order)
            if i == len(out) or out[i].printer_id != out[start].printer_id:
                result.extend(track(out[start:i]))
                start = i
        return result

    def report(items: Iterable[BoardInspection], status: str) -> None:
        if on_unscored is not None:
            for item in items:
                on_unscored(item, status)

    for printer_id in sorted(by_printer):
        windower = PrinterWindower(T, hop)
        for board in sorted(by_printer[printer_id], key=lambda b: b.print_index):
            problem = scorer.board_problem(board)
            if problem is not None:
                log.debug("board %s not scored: %s", board.event_id, problem)
                report([board], "unscorable")
                continue
            res = windower.push(board)
            if res.status in ("late", "duplicate"):
                report([board], res.status)
            report(res.unscored, "unscored")
            if res.window is not None:
                pending.append(res.window)
            if len(pending) >= batch_windows:
                yield from scored(pending)
                pending = []
        if flush:
            res = windower.flush()
            report(res.unscored, "unscored")
            if res.window is not None:
                pending.append(res.window)
        else:
            buffered = windower.to_state()["buffer"]
            tail = {eid for eid, _ in buffered[len(buffered) - windower.n_pending :]}
            report([b for b in by_printer[printer_id] if b.event_id in tail], "unscored")
    if pending:
        yield from scored(pending)
