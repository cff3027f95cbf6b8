"""Where ingested boards go: a Kafka topic or a JSONL file, each able to resume a file after a crash.

`begin()` returns the resume data the ledger stores before a file's first board is sent; `delivered(resume,
event_ids)` tells, after a crash, which of the file's boards already went out; `send` + `flush` publish.

Kafka: every message carries its event id in an `event_id` header; resume data are the topic's end
offsets at begin, so recovery reads only what was written since (a few boards), not the topic. This is
exactly once on the topic as long as one ingest process owns a folder (what the ledger's folder lock
enforces). Kafka transactions were the alternative; they need a transactional producer, read_committed
consumers everywhere, and still a ledger to know whether the crash came before or after the commit.
JSONL: resume data is the output's size at begin; recovery truncates to it and rewrites the file's boards.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from schemas.codec import inspection_to_json
from schemas.inspection import BoardInspection


class BoardSink(Protocol):
    async def begin(self) -> dict[str, Any]: ...
    async def delivered(self, resume: dict[str, Any], event_ids: Sequence[str]) -> set[str]: ...
    async def send(self, boards: Sequence[BoardInspection]) -> None: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


class JsonlSink:
    """Appends one JSON line per board to `path` (fsync on flush)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out = open(path, "ab")  # noqa: SIM115 - kept open across files, closed by close()

    async def begin(self) -> dict[str, Any]:
        self._out.flush()
        return {"size": self._out.tell()}

    async def delivered(self, resume: dict[str, Any], event_ids: Sequence[str]) -> set[str]:
        self._out.flush()
        self._out.truncate(int(resume["size"]))  # drop the crashed file's partial lines; resend all
        self._out.seek(0, os.SEEK_END)
        return set()

    async def send(self, boards: Sequence[BoardInspection]) -> None:
        for board in boards:
            self._out.write(inspection_to_json(board) + b"\n")

    async def flush(self) -> None:
        self._out.flush()
        os.fsync(self._out.fileno())

    async def close(self) -> None:
        self._out.close()


class KafkaSink:
    """Publishes boards keyed by printer id with an `event_id` header (acks=all, idempotent producer)."""

    def __init__(self, settings: Any, topic: str) -> None:
        self.settings, self.topic = settings, topic
        self._producer: Any = None
        self._offsets_client: Any = None  # one consumer kept for end-offset queries (one per file)
        self._pending: list[asyncio.Future[Any]] = []

    async def _start(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            from streams.kafka.connection import client_options

            self._producer = AIOKafkaProducer(
                **client_options(self.settings),
                acks="all",
                enable_idempotence=True,
                compression_type="gzip",
                max_request_size=self.settings.kafka_max_message_bytes,
                linger_ms=5,
            )
            await self._producer.start()
        return self._producer

    async def _end_offsets(self) -> dict[int, int]:
        producer = await self._start()
        partitions = await producer.partitions_for(self.topic)
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from streams.kafka.connection import client_options

        if self._offsets_client is None:
            self._offsets_client = AIOKafkaConsumer(**client_options(self.settings), enable_auto_commit=False)
            await self._offsets_client.start()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        ends = await self._offsets_client.end_offsets(tps)
        return {tp.partition: int(off) for tp, off in ends.items()}

    async def begin(self) -> dict[str, Any]:
        return {"offsets": {str(p): o for p, o in (await self._end_offsets()).items()}}

    async def delivered(self, resume: dict[str, Any], event_ids: Sequence[str]) -> set[str]:
        """Event ids among `event_ids` written to the topic since the offsets in `resume`."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from streams.kafka.connection import client_options

        wanted = set(event_ids)
        start = {int(p): int(o) for p, o in resume["offsets"].items()}
        ends = await self._end_offsets()
        consumer = AIOKafkaConsumer(
            **client_options(self.settings),
            enable_auto_commit=False,
            max_partition_fetch_bytes=self.settings.kafka_max_message_bytes,
        )
        await consumer.start()
        found: set[str] = set()
        try:
            tps = {p: TopicPartition(self.topic, p) for p in ends if ends[p] > start.get(p, 0)}
            if not tps:
                return found
            consumer.assign(list(tps.values()))
            for p, tp in tps.items():
                consumer.seek(tp, start.get(p, 0))
            remaining = dict(tps)
            while remaining:
                batch = await consumer.getmany(*remaining.values(), timeout_ms=1000)
                for records in batch.values():
                    for rec in records:
                        for name, value in rec.headers or ():
                            if name == "event_id" and value.decode() in wanted:
                                found.add(value.decode())
                for p, tp in list(remaining.items()):
                    if await consumer.position(tp) >= ends[p]:
                        del remaining[p]
        finally:
            await consumer.stop()
        return found

    async def send(self, boards: Sequence[BoardInspection]) -> None:
        producer = await self._start()
        for board in boards:
            self._pending.append(
                await producer.send(
                    self.topic,
                    inspection_to_json(board),
                    key=board.printer_id.encode(),
                    headers=[("event_id", board.event_id.encode())],
                )
            )

    async def flush(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending)
            self._pending.clear()
        if self._producer is not None:
            await self._producer.flush()

    async def close(self) -> None:
        if self._offsets_client is not None:
            await self._offsets_client.stop()
            self._offsets_client = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
