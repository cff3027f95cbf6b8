"""A partition's checkpoint: the window state at its durable frontier (stored by an adapter, e.g. PostgreSQL).

A checkpoint says: below input offset `position` every record's effects are durable, and at that position
the printers' windowers had these states, whose buffers hold the boards at these Kafka offsets. Stores
keep it monotonic (a stored checkpoint only moves forward), so a worker that lost the partition cannot
move it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Checkpoint:
    """`printers[p] = {"state": PrinterWindower.to_state(), "offsets": {event_id: kafka_offset}}`."""

    position: int
    printers: dict[str, dict[str, Any]]

    @property
    def needed_offset(self) -> int:
        """The lowest offset a restore must re-read: the oldest buffered board, or `position`."""
        offsets = [o for p in self.printers.values() for o in p["offsets"].values()]
        return min([self.position, *offsets])
