"""`spi-crrn ingest csv DIR`: read settled per-pad CSV exports from a folder, publish each file exactly once.

Per file (the order matters for crash safety; the ledger is `DIR/.spi-crrn-ingest/ledger.jsonl`):
1. only settled files: name not hidden and without a temp suffix (`.tmp`, `.part`, ... or the vendor's),
   ending in `.csv`, and (size, mtime) unchanged for `settle_s` (`is_settled`);
2. hash the bytes; a content the ledger marks done (a file dropped twice) goes to `done/` unpublished;
3. parse (crrn/ingest/csv_parse.py); a rejected file goes to `rejected/` with `NAME.reason` (line,
   column, fix), and the ledger says so;
4. ledger `begin` (event ids + the sink's resume data), send every board, flush (acks=all), ledger `done`,
   move to `done/`. After a crash between begin and done the next run asks the sink which boards went out
   and sends only the rest, so every board reaches the topic once.
One process per folder (an exclusive lock on the state folder): a second one exits with a message.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Any

from crrn.ingest.csv_format import CsvFormat
from crrn.ingest.csv_parse import CsvRejectedError, IngestContext, parse_csv, sha256_hex
from streams.ingest.ledger import Ledger
from streams.ingest.sinks import BoardSink

log = logging.getLogger(__name__)

STATE_DIR = ".spi-crrn-ingest"
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", ".writing", "~")
# Fault injection for the crash test: exit hard after this many boards of a file were flushed.
CRASH_ENV = "SPI_CRRN_INGEST_CRASH_AFTER_BOARDS"


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int


def is_candidate(name: str, temp_suffixes: tuple[str, ...] = TEMP_SUFFIXES) -> bool:
    """A CSV export name, not hidden, not a vendor's temp file still being written."""
    lower = name.lower()
    return not name.startswith(".") and lower.endswith(".csv") and not lower.endswith(temp_suffixes)


def is_settled(previous: FileStat | None, current: FileStat, now_ns: int, settle_s: float) -> bool:
    """The settle rule: the file's size and mtime did not change since the last look (when there was one)
    and it was last modified at least `settle_s` ago, so a writer still appending is never read."""
    if previous is not None and previous != current:
        return False
    return now_ns - current.mtime_ns >= settle_s * 1e9


@dataclass
class FolderOptions:
    fmt: CsvFormat
    timezone: tzinfo = UTC
    printer_id: str | None = None
    line_id: str | None = None
    inspector_id: str | None = None
    recipe_id: str | None = None
    stencil_id: str | None = None
    printer_from_filename: bool = False  # the printer id is the file name before "__"
    settle_s: float = 2.0
    temp_suffixes: tuple[str, ...] = TEMP_SUFFIXES


@dataclass
class FolderStats:
    published_files: int = 0
    published_boards: int = 0
    duplicate_files: int = 0
    rejected_files: int = 0
    resumed_files: int = 0
    seen: dict[str, FileStat] = field(default_factory=dict)


class CsvFolder:
    """One watched export folder: its ledger, lock, `done/` and `rejected/` subfolders."""

    def __init__(self, root: Path, options: FolderOptions, sink: BoardSink) -> None:
        self.root, self.options, self.sink = root, options, sink
        self.state = root / STATE_DIR
        self.done, self.rejected = root / "done", root / "rejected"
        for d in (self.state, self.done, self.rejected):
            d.mkdir(parents=True, exist_ok=True)
        self._lock: IO[Any] = open(self.state / "lock", "w")  # noqa: SIM115 - held for the object's life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise RuntimeError(  # noqa: B904 - the lock error itself says nothing more
                f"{root}: another ingest process holds {self.state / 'lock'}; run one per folder"
            )
        self.ledger = Ledger(self.state / "ledger.jsonl")
        self.stats = FolderStats()
        crash = os.environ.get(CRASH_ENV)
        self._crash_after = int(crash) if crash else None

    def close(self) -> None:
        self._lock.close()

    def settled_files(self, now_ns: int | None = None, require_previous: bool = False) -> list[Path]:
        """Candidates that pass the settle rule now, oldest first; remembers what it saw for the next look."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        ready: list[tuple[int, Path]] = []
        seen: dict[str, FileStat] = {}
        for entry in os.scandir(self.root):
            if not entry.is_file() or not is_candidate(entry.name, self.options.temp_suffixes):
                continue
            st = entry.stat()
            current = FileStat(st.st_size, st.st_mtime_ns)
            seen[entry.name] = current
            previous = self.stats.seen.get(entry.name)
            if require_previous and previous is None:
                continue
            if is_settled(previous, current, now_ns, self.options.settle_s):
                ready.append((current.mtime_ns, Path(entry.path)))
        self.stats.seen = seen
        return [p for _, p in sorted(ready)]

    def _context(self, path: Path, sha: str) -> IngestContext:
        o = self.options
        printer = o.printer_id
        if o.printer_from_filename and "__" in path.name:
            printer = path.name.split("__", 1)[0]
        mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        return IngestContext(
            sha, mtime, o.timezone, printer, o.line_id, o.inspector_id, o.recipe_id, o.stencil_id
        )

    def _move(self, path: Path, folder: Path) -> Path:
        target = folder / path.name
        if target.exists():  # the same name again (a re-export): keep both
            target = folder / f"{path.stem}.{time.time_ns()}{path.suffix}"
        shutil.move(str(path), target)
        return target

    async def process(self, path: Path) -> str:
        """Publish, skip or reject one settled file; returns 'published', 'duplicate' or 'rejected'."""
        data = path.read_bytes()
        sha = sha256_hex(data)
        entry = self.ledger.last(sha)
        if entry is not None and entry.state == "done":
            log.info("%s: same content as %s, already published; moved to done/", path.name, entry.file)
            self._move(path, self.done)
            self.stats.duplicate_files += 1
            return "duplicate"
        try:
            parsed = parse_csv(data, self.options.fmt, self._context(path, sha))
        except CsvRejectedError as exc:
            target = self._move(path, self.rejected)
            reason = f"{path.name}: {exc}\n"
            target.with_name(target.name + ".reason").write_text(reason, encoding="utf-8")
            self.ledger.append(sha, path.name, "rejected", reason=str(exc))
            self.stats.rejected_files += 1
            log.warning("rejected %s", reason.strip())
            return "rejected"
        ids = [b.event_id for b in parsed.boards]
        boards = parsed.boards
        if entry is not None and entry.state == "begin":  # a crash mid-file: send only what is missing
            already = await self.sink.delivered(entry.record["resume"], ids)
            boards = [b for b in boards if b.event_id not in already]
            self.stats.resumed_files += 1
            log.info(
                "%s: resuming after a crash, %d of %d boards already out", path.name, len(already), len(ids)
            )
        else:
            resume = await self.sink.begin()
            self.ledger.append(sha, path.name, "begin", event_ids=ids, resume=resume)
        await self._send(boards)
        self.ledger.append(sha, path.name, "done", boards=len(ids))
        self._move(path, self.done)
        self.stats.published_files += 1
        self.stats.published_boards += len(boards)
        return "published"

    async def _send(self, boards: list[Any]) -> None:
        if self._crash_after is not None and len(boards) > self._crash_after:
            await self.sink.send(boards[: self._crash_after])
            await self.sink.flush()
            log.error("%s=%d: exiting hard mid-file (fault injection)", CRASH_ENV, self._crash_after)
            os._exit(70)
        await self.sink.send(boards)
        await self.sink.flush()

    async def run(
        self, watch: bool, poll_s: float = 1.0, stop: Callable[[], bool] | None = None
    ) -> FolderStats:
        """One pass over the settled files, or (watch) keep looking every `poll_s` until `stop()`."""
        if not watch:
            for path in self.settled_files():
                await self.process(path)
            return self.stats
        while not (stop and stop()):
            for path in self.settled_files(require_previous=True):
                await self.process(path)
            await asyncio.sleep(poll_s)
        return self.stats
