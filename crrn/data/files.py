"""Board files by suffix: `.jsonl` (events, truth beside it) or `.parquet` (one row per board)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from crrn.data.jsonl_store import iter_jsonl, iter_truth, truth_path, write_jsonl
from crrn.data.parquet_store import iter_parquet, write_parquet
from crrn.sim.truth import GroundTruth
from schemas.inspection import BoardInspection

SUFFIXES = (".jsonl", ".parquet")


def _suffix(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unknown file type {suffix!r}; use a .jsonl or .parquet file")
    return suffix


def write_boards(
    path: str | Path, boards: Iterable[BoardInspection], truths: Iterable[GroundTruth] | None = None
) -> int:
    """Write boards (and truths, same order) in the format given by the suffix; returns the count."""
    if truths is None:
        return write_pairs(path, ((board, None) for board in boards))
    return write_pairs(path, zip(boards, truths, strict=True))


def write_pairs(path: str | Path, pairs: Iterable[tuple[BoardInspection, GroundTruth | None]]) -> int:
    """Write (board, truth or None) pairs, streaming (the simulator's output goes here directly)."""
    if _suffix(path) == ".jsonl":
        return write_jsonl(path, pairs)
    return write_parquet(path, pairs)


def iter_boards_with_truth(
    path: str | Path, batch_size: int = 64
) -> Iterator[tuple[BoardInspection, GroundTruth | None]]:
    """(board, truth or None) pairs in file order, reading at most `batch_size` Parquet rows at once."""
    if _suffix(path) == ".parquet":
        yield from iter_parquet(path, batch_size)
        return
    truths = iter_truth(path) if truth_path(path).is_file() else None
    for board in iter_jsonl(path):
        truth = next(truths, None) if truths is not None else None
        if truth is not None and truth.event_id != board.event_id:
            raise ValueError(f"{truth_path(path)} is out of step with {path} at event {board.event_id}")
        yield board, truth


def iter_boards(path: str | Path, batch_size: int = 64) -> Iterator[BoardInspection]:
    """Validated boards of a .jsonl or .parquet file, in chunks."""
    for board, _ in iter_boards_with_truth(path, batch_size):
        yield board


def read_boards(path: str | Path) -> list[BoardInspection]:
    """All boards of a small file (use `iter_boards` for big ones)."""
    return list(iter_boards(path))
