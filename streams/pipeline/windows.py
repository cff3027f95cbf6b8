"""Window state of one input partition: a PrinterWindower per printer, the ledger, and checkpoints.

`push(board, source)` feeds the printer's windower and returns the job for the inference thread (None
when the board just waits in the buffer; such a record is durable at once, since the checkpointed window
state carries it). After every push the printer's windower state
(`PrinterWindower.to_state()`: ids and indexes only) and the Kafka offsets of its buffered boards are
snapshotted; `checkpoint()` folds the snapshots below the durable frontier into the state *at the
frontier*, which the core (streams/pipeline/core.py) stores before it commits the Kafka offset of the
oldest board that state still needs. The boards themselves stay in the Kafka log.

Restore: a `PartitionWindows` built from a checkpoint re-reads the partition from that oldest needed
offset; records below the checkpoint's position are done (`restoring(offset)` is True): only the buffered
boards among them are kept (`wants`/`keep`), and at the first record at or after the position the
windowers are rebuilt with `PrinterWindower.from_state` -- exactly the state they had.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from crrn.windowing import PrinterWindower, PushResult
from schemas.inspection import BoardInspection
from streams.pipeline.checkpoint import Checkpoint
from streams.pipeline.jobs import BoardJob
from streams.pipeline.ledger import PartitionLedger
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord

log = logging.getLogger(__name__)


class PartitionWindows:
    """Windowers, ledger and checkpoints of one (topic, partition) for one assignment epoch."""

    def __init__(
        self, topic: str, partition: int, epoch: int, T: int, hop: int, checkpoint: Checkpoint | None = None
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.epoch = epoch
        self.T = T
        self.hop = hop
        self.ledger = PartitionLedger()
        self._windowers: dict[str, PrinterWindower] = {}
        self._sources: dict[str, dict[str, SourceRef]] = {}  # printer -> event_id -> source, buffered boards
        self._snapshots: OrderedDict[int, tuple[str, dict[str, Any]]] = OrderedDict()  # offset -> after push
        self._at_frontier: dict[str, dict[str, Any]] = {}  # printer -> {"state", "offsets"} at the frontier
        self._restore = checkpoint
        self._wanted: dict[int, str] = {}  # offset -> event_id of a buffered board to re-read
        self._restored: dict[str, BoardInspection] = {}
        self.saved_position: int | None = None  # last checkpoint position stored
        self.committed_offset: int | None = None  # last Kafka offset committed
        if checkpoint is not None:
            self._at_frontier = dict(checkpoint.printers)
            self._wanted = {
                int(off): eid
                for entry in checkpoint.printers.values()
                for eid, off in entry["offsets"].items()
            }
            self.saved_position = checkpoint.position

    @property
    def printers(self) -> list[str]:
        return sorted(self._windowers)

    @property
    def buffered_boards(self) -> int:
        """Boards waiting in this partition's windows for their window to fill (window depth)."""
        return sum(len(sources) for sources in self._sources.values())

    # ------------------------------------------------------------------ restore
    def restoring(self, offset: int) -> bool:
        """True for a record below the restored checkpoint's position (already done: only re-read)."""
        if self._restore is None:
            return False
        if offset < self._restore.position:
            return True
        self._finish_restore()
        return False

    def wants(self, offset: int) -> bool:
        """Is the record at `offset` a board some restored window buffers?"""
        return offset in self._wanted

    def keep(self, offset: int, board: BoardInspection) -> None:
        if self._wanted.get(offset) == board.event_id:
            self._restored[board.event_id] = board

    def _finish_restore(self) -> None:
        checkpoint, self._restore = self._restore, None
        assert checkpoint is not None
        for printer, entry in checkpoint.printers.items():
            try:
                windower = PrinterWindower.from_state(entry["state"], self._restored)
            except (ValueError, KeyError) as exc:  # boards gone from the log (retention): start afresh
                log.warning(
                    "%s-%d: window of printer %s not restored (%s)", self.topic, self.partition, printer, exc
                )
                self._at_frontier.pop(printer, None)
                continue
            self._windowers[printer] = windower
            self._sources[printer] = {
                eid: SourceRef(self.topic, self.partition, int(off)) for eid, off in entry["offsets"].items()
            }
        log.info(
            "%s-%d: windows of %d printer(s) restored at offset %d",
            self.topic, self.partition, len(self._windowers), checkpoint.position,
        )  # fmt: skip
        self._wanted.clear()
        self._restored.clear()

    # ------------------------------------------------------------------ pushing
    def push(self, board: BoardInspection, source: SourceRef) -> tuple[PushResult, BoardJob | None]:
        """Window the board. The returned job (if any) must be processed before its offsets are durable;
        a board that only waits in the buffer stays pending until the window that scores it is done."""
        if self._restore is not None:
            self._finish_restore()
        printer = board.printer_id
        windower = self._windowers.get(printer)
        if windower is None:
            windower = self._windowers[printer] = PrinterWindower(self.T, self.hop)
        seen_id = board.event_id in windower.to_state()["recent_ids"]
        sources = self._sources.setdefault(printer, {})
        result = windower.push(board)
        if result.status in ("buffered", "window", "recipe_change"):
            sources[board.event_id] = source
        window_sources: tuple[SourceRef, ...] = ()
        if result.window is not None:
            window_sources = tuple(sources[b.event_id] for b in result.window.new_boards)
        unscored = [BoardRecord(b, sources[b.event_id], "unscored") for b in result.unscored]
        if result.status == "late" or (result.status == "duplicate" and not seen_id):
            # A new event id that will never be scored: stored with its status. A repeated event id is
            # not stored again: its first delivery is (or will be) the row of that id.
            unscored.append(BoardRecord(board, source, "late" if result.status == "late" else "duplicate"))
        state = windower.to_state()
        kept = {eid: sources[eid] for eid, _ in state["buffer"] if eid in sources}
        self._sources[printer] = kept
        self._snapshots[source.offset] = (
            printer,
            {"state": state, "offsets": {e: s.offset for e, s in kept.items()}},
        )
        if result.window is None and not unscored:
            # Nothing to store now: a buffered board lives on in the window state (checkpointed, its
            # record kept in the log until the Kafka commit passes it); a repeated id needs nothing.
            self.ledger.durable(source.offset)
            return result, None
        job = BoardJob(
            topic=self.topic,
            partition=self.partition,
            epoch=self.epoch,
            record_offset=source.offset,
            window=result.window,
            window_sources=window_sources,
            unscored=tuple(unscored),
        )
        return result, job

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self) -> Checkpoint | None:
        """The window state at the durable frontier (None while restoring or before any record)."""
        if self._restore is not None:
            return None
        frontier = self.ledger.frontier()
        if frontier is None:
            return None
        while self._snapshots and next(iter(self._snapshots)) < frontier:
            _, (printer, entry) = self._snapshots.popitem(last=False)
            self._at_frontier[printer] = entry
        return Checkpoint(frontier, dict(self._at_frontier))
