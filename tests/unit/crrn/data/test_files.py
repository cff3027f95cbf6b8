"""Board files: JSONL and Parquet round trips with truth, chunked reads, suffix dispatch, bad lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from crrn.data import (
    iter_boards,
    iter_boards_with_truth,
    parquet_store,
    read_boards,
    write_boards,
    write_pairs,
)
from crrn.data.jsonl_store import truth_path
from crrn.sim.defects import DefectSpec
from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.codec import inspection_to_dict
from schemas.errors import InvalidEvent


@pytest.fixture(scope="module")
def pairs() -> list:
    spec = FleetSpec(printers=2, pads=250, boards_per_printer=9, defects=(DefectSpec("clamp", duration=9),))
    return list(simulate_fleet(spec, 11))


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip_with_truth(tmp_path: Path, pairs: list, suffix: str) -> None:
    path = tmp_path / f"boards{suffix}"
    assert write_pairs(path, iter(pairs)) == len(pairs)
    back = list(iter_boards_with_truth(path, batch_size=4))
    assert len(back) == len(pairs)
    for (board, truth), (board2, truth2) in zip(pairs, back, strict=True):
        assert inspection_to_dict(board2) == inspection_to_dict(board)
        assert truth2 is not None
        assert np.array_equal(truth2.labels, truth.labels)
        assert np.array_equal(truth2.sources, truth.sources)
        assert truth2.defects == truth.defects
        assert truth2.cleaning_phase == truth.cleaning_phase


def test_boards_without_truth(tmp_path: Path, pairs: list) -> None:
    path = tmp_path / "b.jsonl"
    write_boards(path, [b for b, _ in pairs])
    assert not truth_path(path).exists()
    assert [t for _, t in iter_boards_with_truth(path)] == [None] * len(pairs)
    assert len(read_boards(path)) == len(pairs)


def test_parquet_row_groups_bound_memory(
    tmp_path: Path, pairs: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_store, "ROW_GROUP_BOARDS", 5)
    path = tmp_path / "b.parquet"
    write_boards(path, [b for b, _ in pairs])
    assert pq.ParquetFile(path).metadata.num_row_groups == 4  # 18 boards in groups of 5
    assert sum(1 for _ in iter_boards(path, batch_size=3)) == 18


def test_bad_jsonl_line_names_the_line(tmp_path: Path, pairs: list) -> None:
    path = tmp_path / "b.jsonl"
    write_boards(path, [b for b, _ in pairs[:2]])
    path.write_bytes(path.read_bytes() + b'{"schema": "spi.board_inspection.v1"}\n')
    with pytest.raises(InvalidEvent) as info:
        list(iter_boards(path))
    assert info.value.field == "line 3: event_id"


def test_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.jsonl or \.parquet"):
        read_boards(tmp_path / "x.csv")
