"""A dedicated inference thread fed by the event loop, with a bound on work in flight (backpressure).

The event loop `submit`s items; the thread takes whatever is queued (up to `max_batch`, across printers
and partitions), runs `process(batch)` off the loop, and hands the batch back to the loop with
`on_done(batch)`. `submit` waits while `max_in_flight` items are queued or being processed, so a slow
model slows the consumer instead of filling memory. A failing `process` is retried with backoff (the
items are not acknowledged, so nothing is lost); `process` itself decides what a poison item is.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")

_STOP = object()


class BatchExecutor(Generic[Item]):
    """Run `process` on batches of submitted items in one thread; report each batch back to the loop."""

    def __init__(
        self,
        process: Callable[[list[Item]], None],
        on_done: Callable[[Sequence[Item]], None],
        *,
        max_batch: int = 32,
        max_in_flight: int = 256,
        tick: Callable[[], object] | None = None,
        tick_interval_s: float = 5.0,
        name: str = "spi-crrn-inference",
    ) -> None:
        if max_batch < 1 or max_in_flight < max_batch:
            raise ValueError(
                f"max_batch={max_batch}, max_in_flight={max_in_flight}: need 1 <= max_batch <= max_in_flight"
            )
        self._process = process
        self._on_done = on_done
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._tick = tick
        self._tick_interval_s = tick_interval_s
        self._name = name
        self._queue: queue.Queue[object] = queue.Queue()
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.batches_done = 0
        self.items_done = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the thread; `on_done` will run on `loop`."""
        if self._thread is not None:
            return
        self._loop = loop
        self._slots = asyncio.Semaphore(self._max_in_flight)
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to finish the batch at hand and exit; queued items are dropped (not acked)."""
        self._stopping.set()
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def in_flight(self) -> int:
        if self._slots is None:
            return 0
        return self._max_in_flight - self._slots._value

    async def submit(self, item: Item) -> None:
        """Queue one item, waiting while `max_in_flight` items are in flight (call on the loop)."""
        if self._slots is None or self._thread is None:
            raise RuntimeError("BatchExecutor.submit before start(loop)")
        if not self._thread.is_alive():
            raise RuntimeError(f"inference thread {self._name} is not running")
        await self._slots.acquire()
        self._queue.put(item)

    def _finish(self, batch: list[Item]) -> None:  # on the loop
        assert self._slots is not None
        try:
            self._on_done(batch)
        finally:
            for _ in batch:
                self._slots.release()

    def _take_batch(self, timeout: float) -> list[Item] | None:
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        if first is _STOP:
            return None
        batch: list[Item] = [first]  # type: ignore[list-item]
        while len(batch) < self._max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(nxt)  # type: ignore[arg-type]
        return batch

    def _maybe_tick(self, last_tick: float) -> float:
        now = time.monotonic()
        if self._tick is None or now - last_tick < self._tick_interval_s:
            return last_tick
        try:
            self._tick()
        except Exception:
            log.exception("periodic task of %s failed; will retry", self._name)
        return now

    def _run(self) -> None:
        last_tick = time.monotonic()
        while not self._stopping.is_set():
            last_tick = self._maybe_tick(last_tick)
            batch = self._take_batch(timeout=min(1.0, self._tick_interval_s))
            if batch is None:
                return
            if not batch:
                continue
            delay = 0.5
            while not self._stopping.is_set():
                try:
                    self._process(batch)
                except Exception:
                    log.exception("processing a batch of %d failed; retrying in %.1f s", len(batch), delay)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                break
            else:
                return
            self.batches_done += 1
            self.items_done += len(batch)
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._finish, batch)
            except RuntimeError:  # loop closed: shutting down
                return
