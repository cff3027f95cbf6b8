"""The ingest ledger: a JSON-lines file that makes a folder's files published completely or not at all.

One record per step, appended and fsync'ed before the step's effect is relied on:

    {"sha256": H, "file": NAME, "state": "begin", "event_ids": [...], "resume": {...}}  before publishing
    {"sha256": H, "file": NAME, "state": "done", "boards": N}                     after the sink flushed
    {"sha256": H, "file": NAME, "state": "rejected", "reason": "..."}

Keyed by the file's content hash, so the same bytes dropped twice are published once, and a renamed copy
too. A `begin` without `done` is a crash mid-file: the sink's `resume` data (Kafka end offsets at begin,
or the output file's size) lets the next run find what already went out and send only the rest. A torn
last line (a crash inside a write) is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LedgerEntry:
    sha256: str
    file: str
    state: str  # begin | done | rejected
    record: dict[str, Any]


class Ledger:
    """Append-only JSON-lines ledger; `last(sha)` is the newest record of a file content."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._last: dict[str, LedgerEntry] = {}
        if path.exists():
            text = path.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):  # end the torn line, so the next record starts clean
                with open(path, "a", encoding="utf-8") as out:
                    out.write("\n")
            for line in text.splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a crash inside a write
                self._last[rec["sha256"]] = LedgerEntry(rec["sha256"], rec.get("file", ""), rec["state"], rec)

    def last(self, sha256: str) -> LedgerEntry | None:
        return self._last.get(sha256)

    def append(self, sha256: str, file: str, state: str, **fields: Any) -> None:
        rec = {"sha256": sha256, "file": file, "state": state, **fields}
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self._last[sha256] = LedgerEntry(sha256, file, state, rec)
