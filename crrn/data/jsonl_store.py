"""JSON Lines files of `spi.board_inspection.v1` events (one event per line, what Kafka carries).

Ground truth of simulated JSONL lives beside it: `boards.jsonl` -> `boards.truth.parquet`, one row per
board with columns event_id, labels list<int8>, sources list<uint8>, defects, cleaning_phase
(see `truth_path`). Reading validates every line with `parse_inspection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crrn.data.parquet_store import DEFECT_TYPE
from crrn.sim.truth import ActiveDefect, GroundTruth
from schemas.codec import inspection_to_json
from schemas.errors import InvalidEvent
from schemas.inspection import BoardInspection
from schemas.validation import parse_inspection

TRUTH_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("labels", pa.list_(pa.int8())),
        ("sources", pa.list_(pa.uint8())),
        ("defects", pa.list_(DEFECT_TYPE)),
        ("cleaning_phase", pa.int32()),
    ]
)


def truth_path(path: str | Path) -> Path:
    """Where the ground truth of a JSONL file is kept: `x.jsonl` -> `x.truth.parquet`."""
    return Path(path).with_suffix(".truth.parquet")


def write_jsonl(path: str | Path, pairs: Iterable[tuple[BoardInspection, GroundTruth | None]]) -> int:
    """One JSON event per line; truths (when the first pair has one) go to `truth_path(path)`."""
    writer: pq.ParquetWriter | None = None
    count = 0
    try:
        with open(path, "wb") as out:
            for board, truth in pairs:
                out.write(inspection_to_json(board) + b"\n")
                count += 1
                if count == 1 and truth is not None:
                    writer = pq.ParquetWriter(str(truth_path(path)), TRUTH_SCHEMA)
                if writer is None:
                    continue
                if truth is None or truth.event_id != board.event_id:
                    raise ValueError(
                        f"board {board.event_id} has no matching truth; give one truth per board"
                    )
                row = {
                    "event_id": [truth.event_id],
                    "labels": [truth.labels.tolist()],
                    "sources": [truth.sources.tolist()],
                    "defects": [[d.__dict__ for d in truth.defects]],
                    "cleaning_phase": [truth.cleaning_phase],
                }
                writer.write_table(pa.Table.from_pydict(row, schema=TRUTH_SCHEMA))
    finally:
        if writer is not None:
            writer.close()
    return count


def iter_jsonl(path: str | Path) -> Iterator[BoardInspection]:
    """Validated boards of a JSONL file; a bad line raises InvalidEvent naming the line and field."""
    with open(path, "rb") as lines:
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield parse_inspection(line)
            except InvalidEvent as exc:
                raise InvalidEvent(f"line {line_no}: {exc.field}", exc.problem) from None


def iter_truth(path: str | Path) -> Iterator[GroundTruth]:
    """The truth rows beside a JSONL file, in file order."""
    parquet = pq.ParquetFile(str(truth_path(path)))
    for batch in parquet.iter_batches(batch_size=256):
        rows = batch.to_pylist()
        for row in rows:
            yield GroundTruth(
                row["event_id"],
                np.asarray(row["labels"], dtype=np.int8),
                np.asarray(row["sources"], dtype=np.uint8),
                tuple(ActiveDefect(**d) for d in row["defects"] or []),
                int(row["cleaning_phase"] or 0),
            )
