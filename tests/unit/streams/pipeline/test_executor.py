"""BatchExecutor: batches across submissions, bounded in-flight work, retry of a failing batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from streams.pipeline.executor import BatchExecutor


def test_batches_reach_on_done_in_order_and_failures_are_retried() -> None:
    seen: list[list[int]] = []
    done: list[int] = []
    fail_once = threading.Event()
    gate = threading.Event()

    def process(batch: list[int]) -> None:
        gate.wait(5)
        if 3 in batch and not fail_once.is_set():
            fail_once.set()
            raise RuntimeError("transient")
        seen.append(list(batch))

    def on_done(batch: Sequence[int]) -> None:
        done.extend(batch)

    async def main() -> int:
        ex: BatchExecutor[int] = BatchExecutor(process, on_done, max_batch=4, max_in_flight=4)
        ex.start(asyncio.get_running_loop())
        for i in range(4):
            await ex.submit(i)
        peak = ex.in_flight
        blocked = asyncio.ensure_future(ex.submit(4))  # a fifth item waits: 4 are in flight
        await asyncio.sleep(0.1)
        assert not blocked.done()
        gate.set()
        await asyncio.wait_for(blocked, 10)
        while len(done) < 5:
            await asyncio.sleep(0.05)
        ex.stop()
        return peak

    peak = asyncio.run(main())
    assert peak == 4
    assert done == [0, 1, 2, 3, 4]
    assert fail_once.is_set()
    assert sum(len(b) for b in seen) == 5
    assert max(len(b) for b in seen) <= 4
