"""Which records of one input partition are durable: the frontier below which everything is done.

A record is pending from the moment it is read until its effects are durable (its board row is in
PostgreSQL, or its dead letter is acknowledged by the broker). The durable frontier is the lowest pending
offset (or one past the last record read when nothing is pending): every record below it is done. The
window state at the frontier is what a checkpoint stores (streams/pipeline/windows.py).

Pure bookkeeping (no IO, not thread-safe): the event loop owns it; the inference thread reports
durability back through the loop.
"""

from __future__ import annotations

from collections import OrderedDict


class PartitionLedger:
    """Pending offsets of one input partition. Offsets must be registered in increasing order."""

    def __init__(self) -> None:
        self._pending: OrderedDict[int, None] = OrderedDict()  # read, not yet durable, ascending
        self._next: int | None = None  # one past the highest offset read

    @property
    def next_offset(self) -> int | None:
        """One past the highest offset read (None before the first record)."""
        return self._next

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def seen(self, offset: int) -> None:
        """Register a record read from the partition; it is pending until `durable`."""
        if self._next is not None and offset < self._next:
            raise ValueError(
                f"offset {offset} arrived after {self._next - 1}: offsets must increase; "
                "a seek backwards needs a fresh ledger"
            )
        self._pending[offset] = None
        self._next = offset + 1

    def durable(self, offset: int) -> None:
        """The record's effects are durable (idempotent to call twice)."""
        self._pending.pop(offset, None)

    def frontier(self) -> int | None:
        """Every record below this offset is durable (None before the first record)."""
        if self._pending:
            return next(iter(self._pending))
        return self._next
