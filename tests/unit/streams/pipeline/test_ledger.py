"""PartitionLedger: the durable frontier is the first pending offset, or one past the last record read."""

from __future__ import annotations

import pytest

from streams.pipeline.ledger import PartitionLedger


def test_nothing_read_has_no_frontier() -> None:
    assert PartitionLedger().frontier() is None


def test_frontier_stops_at_the_first_pending_offset() -> None:
    ledger = PartitionLedger()
    for offset in (10, 11, 12, 13):
        ledger.seen(offset)
    ledger.durable(11)
    ledger.durable(13)
    assert ledger.frontier() == 10  # 10 is still pending: 11 and 13 do not count yet
    ledger.durable(10)
    assert ledger.frontier() == 12
    ledger.durable(12)
    assert ledger.frontier() == 14  # all durable: one past the last read
    assert ledger.pending_count == 0


def test_durable_twice_is_harmless() -> None:
    ledger = PartitionLedger()
    ledger.seen(0)
    ledger.durable(0)
    ledger.durable(0)
    assert ledger.frontier() == 1


def test_offsets_must_increase() -> None:
    ledger = PartitionLedger()
    ledger.seen(5)
    with pytest.raises(ValueError, match="offsets must increase"):
        ledger.seen(4)
