"""The watched folder with a JSONL sink: the settle rule, temp names, duplicates, rejections with reasons,
and a resumed file after a crash between the ledger's begin and done."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from crrn.ingest.csv_format import KOHYOUNG
from crrn.ingest.csv_write import board_to_csv
from crrn.sim.fleet import FleetSpec, simulate_fleet
from streams.ingest.csv_folder import CsvFolder, FileStat, FolderOptions, is_candidate, is_settled
from streams.ingest.sinks import JsonlSink

S = 1_000_000_000


def test_settle_rule() -> None:
    st = FileStat(100, 10 * S)
    assert is_settled(None, st, 12 * S, 2.0)  # old enough, first look
    assert not is_settled(None, st, 11 * S, 2.0)  # modified 1 s ago
    assert not is_settled(FileStat(90, 10 * S), st, 20 * S, 2.0)  # grew since the last look
    assert not is_settled(FileStat(100, 9 * S), st, 20 * S, 2.0)  # rewritten since the last look
    assert is_settled(FileStat(100, 10 * S), st, 20 * S, 2.0)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("a.csv", True), ("A.CSV", True), (".a.csv", False), ("a.csv.part", False), ("a.csv.tmp", False),
     ("a.csv~", False), ("a.txt", False)],
)  # fmt: skip
def test_candidates(name: str, ok: bool) -> None:
    assert is_candidate(name) is ok


@pytest.fixture
def boards() -> list:
    return [b for b, _ in simulate_fleet(FleetSpec(printers=1, pads=200, boards_per_printer=3), 5)]


def _drop(folder: Path, name: str, data: bytes, age_s: float = 10.0) -> Path:
    path = folder / name
    path.write_bytes(data)
    past = time.time() - age_s
    os.utime(path, (past, past))
    return path


def _folder(root: Path, out: Path) -> tuple[CsvFolder, JsonlSink]:
    sink = JsonlSink(out)
    return CsvFolder(root, FolderOptions(fmt=KOHYOUNG, printer_from_filename=True), sink), sink


def _run(folder: CsvFolder, sink: JsonlSink) -> None:
    async def go() -> None:
        await folder.run(watch=False)
        await sink.close()

    asyncio.run(go())
    folder.close()


def test_folder_publishes_once_rejects_with_reason_and_waits_for_writers(
    tmp_path: Path, boards: list
) -> None:
    root, out = tmp_path / "in", tmp_path / "out.jsonl"
    root.mkdir()
    _drop(root, "P01__a.csv", board_to_csv(boards[0], "kohyoung"))
    _drop(root, "P01__a-again.csv", board_to_csv(boards[0], "kohyoung"))  # the same bytes twice
    _drop(root, "P01__b.csv", board_to_csv(boards[1], "kohyoung"), age_s=0.0)  # still being written
    _drop(root, "P01__c.csv.part", board_to_csv(boards[2], "kohyoung"))  # vendor temp name
    bad = board_to_csv(boards[2], "kohyoung").decode().splitlines()
    fields = bad[3].split(",")
    fields[10] = "n/a"  # Volume(%) of the third pad
    bad[3] = ",".join(fields)
    _drop(root, "P01__bad.csv", ("\n".join(bad) + "\n").encode())
    folder, sink = _folder(root, out)
    _run(folder, sink)
    lines = out.read_text().splitlines()
    assert len(lines) == 1  # the copy with the same bytes is not published again
    assert json.loads(lines[0])["barcode"] == boards[0].barcode
    assert sorted(p.name for p in (root / "done").iterdir()) == ["P01__a-again.csv", "P01__a.csv"]
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == ["P01__b.csv", "P01__c.csv.part"]
    reason = (root / "rejected" / "P01__bad.csv.reason").read_text()
    assert "line 4, column 'Volume(%)'" in reason
    assert "'n/a', not a number" in reason


def test_crash_between_begin_and_done_resends_the_file_once(tmp_path: Path, boards: list) -> None:
    root, out = tmp_path / "in", tmp_path / "out.jsonl"
    root.mkdir()
    path = _drop(root, "P01__a.csv", board_to_csv(boards[0], "kohyoung"))
    folder, sink = _folder(root, out)

    async def crash_after_begin() -> None:
        data = path.read_bytes()
        from crrn.ingest.csv_parse import sha256_hex

        resume = await sink.begin()
        folder.ledger.append(sha256_hex(data), path.name, "begin", event_ids=["x"], resume=resume)
        sink._out.write(b'{"partial":')  # a torn line of the crashed run
        await sink.flush()
        await sink.close()

    asyncio.run(crash_after_begin())
    folder.close()
    folder, sink = _folder(root, out)
    _run(folder, sink)
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["barcode"] == boards[0].barcode
    assert folder.stats.resumed_files == 1


def test_one_process_per_folder(tmp_path: Path) -> None:
    folder, _sink = _folder(tmp_path, tmp_path / "o.jsonl")
    with pytest.raises(RuntimeError, match="another ingest process"):
        _folder(tmp_path, tmp_path / "o2.jsonl")
    folder.close()


def test_watch_mode_reads_a_file_on_the_second_unchanged_look(tmp_path: Path, boards: list) -> None:
    root, out = tmp_path / "in", tmp_path / "out.jsonl"
    root.mkdir()
    _drop(root, "P01__a.csv", board_to_csv(boards[0], "kohyoung"))
    folder, sink = _folder(root, out)
    looks: list[int] = []

    def stop() -> bool:  # called once per look
        looks.append(len(folder.stats.seen))
        return len(looks) > 3

    async def go() -> None:
        first = folder.settled_files(require_previous=True)  # the first look only remembers the file
        assert first == []
        await folder.run(watch=True, poll_s=0.01, stop=stop)
        await sink.close()

    asyncio.run(go())
    folder.close()
    assert len(out.read_text().splitlines()) == 1
    assert (root / "done" / "P01__a.csv").exists()


def test_ledger_ignores_a_torn_last_line(tmp_path: Path) -> None:
    from streams.ingest.ledger import Ledger

    ledger = Ledger(tmp_path / "l.jsonl")
    ledger.append("h1", "a.csv", "begin", event_ids=["e"], resume={"size": 0})
    ledger.append("h1", "a.csv", "done", boards=1)
    with open(tmp_path / "l.jsonl", "a") as f:
        f.write('{"sha256": "h2", "state": "be')  # a crash inside a write
    again = Ledger(tmp_path / "l.jsonl")
    entry = again.last("h1")
    assert entry is not None
    assert entry.state == "done"
    assert again.last("h2") is None
    again.append("h3", "c.csv", "done", boards=2)  # a record after the torn line is not lost
    entry3 = Ledger(tmp_path / "l.jsonl").last("h3")
    assert entry3 is not None
    assert entry3.record["boards"] == 2
