"""Time CSV ingest: simulated 2,000-pad boards as per-board CSV exports in a folder -> `CsvFolder` (read,
hash, parse, validate, ledger, move to done/) into a JSONL sink, and `parse_csv` alone; prints boards/s.

Run: .venv/bin/python benchmarks/bench_ingest.py [--boards 200] [--pads 2000] [--layout kohyoung|phm2022]
With --kafka the sink is the real broker's inspections topic (KAFKA_BOOTSTRAP_SERVERS / services.env).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC
from pathlib import Path

from crrn.ingest.csv_format import builtin_format
from crrn.ingest.csv_parse import IngestContext, parse_csv, sha256_hex
from crrn.ingest.csv_write import board_to_csv
from crrn.sim.fleet import FleetSpec, simulate_fleet
from streams.ingest.csv_folder import CsvFolder, FolderOptions
from streams.ingest.sinks import BoardSink, JsonlSink, KafkaSink


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boards", type=int, default=200)
    ap.add_argument("--pads", type=int, default=2000)
    ap.add_argument("--layout", choices=("kohyoung", "phm2022"), default="kohyoung")
    ap.add_argument("--kafka", action="store_true", help="publish to the real broker instead of a JSONL file")
    args = ap.parse_args()
    fmt = builtin_format(args.layout)
    spec = FleetSpec(printers=4, pads=args.pads, boards_per_printer=max(1, args.boards // 4))
    boards = [b for b, _ in simulate_fleet(spec, 0)]
    files = [board_to_csv(b, args.layout) for b in boards]
    mb = sum(map(len, files)) / 1e6
    n = len(boards)
    print(f"{n} boards x {boards[0].n_pads} pads, {args.layout} CSV, {mb:.1f} MB in {len(files)} files")

    def parse_one(data: bytes) -> None:
        parse_csv(data, fmt, IngestContext(sha256_hex(data), boards[0].inspected_at, UTC, "P01"))

    per_file = []
    for data in files[:50]:
        start = time.perf_counter()
        parse_one(data)
        per_file.append(time.perf_counter() - start)
    t = statistics.median(per_file)
    print(f"parse_csv alone (hash + read + validate): {t * 1e3:6.1f} ms per board "
          f"(median of {len(per_file)}), {1 / t:6.0f} boards/s")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        past = time.time() - 60
        for b, data in zip(boards, files, strict=True):
            path = root / f"{b.printer_id}__{b.board_id}.csv"
            path.write_bytes(data)
            os.utime(path, (past, past))
        sink: BoardSink
        if args.kafka:
            from streams.kafka.admin import ensure_topics
            from streams.settings import Settings

            settings = Settings.from_env()
            ensure_topics(settings)
            sink = KafkaSink(settings, settings.topic_inspections)
        else:
            sink = JsonlSink(Path(tmp) / "out.jsonl")
        folder = CsvFolder(root, FolderOptions(fmt=fmt, printer_from_filename=True, recipe_id="R01"), sink)

        async def go() -> float:
            start = time.perf_counter()
            await folder.run(watch=False)
            elapsed = time.perf_counter() - start
            await sink.close()
            return elapsed

        elapsed = asyncio.run(go())
        folder.close()
        where = "Kafka" if args.kafka else "a JSONL file"
        print(f"folder -> {where} (ledger, fsync, move to done/): {len(boards) / elapsed:6.1f} boards/s "
              f"({elapsed:.1f} s for {folder.stats.published_boards} boards)")  # fmt: skip


if __name__ == "__main__":
    main()
