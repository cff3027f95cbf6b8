"""Bytes a stored board takes in PostgreSQL, per pad, and the growth per day; prints the numbers.

Writes `--boards` simulated boards of `--pads` pads (scored by a per-pad z-score, with the alarms that
gives) through the real `ResultWriter` into a scratch database on DATABASE_ADMIN_URL's server, then reads
`pg_total_relation_size` (heap + TOAST + indexes) of every table a board touches: the board row, its
anomaly map, measurements, pad alarms, its share of the printer-hour row. Growth per day assumes one
board every `--cycle-s` seconds per printer.

Run: .venv/bin/python benchmarks/bench_storage.py [--pads 2000] [--boards 300] [--cycle-s 20]
"""

from __future__ import annotations

import argparse
import time
import uuid

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy import text

from crrn.scoring import BoardScores
from crrn.sim.fleet import FleetSpec, build_printers, simulate_fleet
from schemas.messages import Thresholds
from streams.db.engine import libpq_url, make_engine
from streams.db.migrations import upgrade
from streams.db.writer import ResultWriter
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, ResultBatch, alarm_message
from streams.settings import Settings

TABLES = [
    "board_inspections",
    "anomaly_maps",
    "board_measurements",
    "pad_alarms",
    "printer_hourly",
    "pad_layouts",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pads", type=int, default=2000)
    ap.add_argument("--boards", type=int, default=300)
    ap.add_argument("--cycle-s", type=float, default=20.0)
    args = ap.parse_args()
    settings = Settings.from_env()
    admin = settings.database_admin_url or settings.database_url
    name = f"spi_crrn_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_engine(admin).url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url, "head")
        engine = make_engine(url)
        spec = FleetSpec(pads=args.pads, boards_per_printer=args.boards, cycle_s=args.cycle_s)
        proc = build_printers(spec, 3)[0].process
        th = Thresholds(3.5, -3.5)
        writer = ResultWriter(engine)
        records, alarms = [], []
        for i, (b, _) in enumerate(simulate_fleet(spec, 3)):
            score = ((b.pads.volume_pct - proc.pad_mean) / proc.pad_std).astype(np.float32)
            code = np.where(score >= th.excessive, 1, np.where(score <= th.insufficient, -1, 0)).astype(
                np.int8
            )
            s = BoardScores(b, score, code, "bench", "pad_zscore", th)
            records.append(BoardRecord(b, SourceRef("t", 0, i), "scored", s))
            if (msg := alarm_message(s)) is not None:
                alarms.append(msg)
        batches = []
        for k in range(0, len(records), 32):
            ids = {r.board.event_id for r in records[k : k + 32]}
            batches.append(ResultBatch(records[k : k + 32], [a for a in alarms if a.event_id in ids]))
        started = time.perf_counter()
        for batch in batches:
            writer.write(batch)
        write_s = time.perf_counter() - started
        with engine.connect() as conn:
            sizes = {
                t: conn.execute(
                    text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": t}
                ).scalar_one()
                for t in TABLES
            }
            n_alarms = conn.execute(text("SELECT count(*) FROM pad_alarms")).scalar_one()
        engine.dispose()
    finally:
        with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    n, p = args.boards, args.pads
    per_board = {t: sizes[t] / n for t in TABLES}
    total = sum(v for t, v in per_board.items() if t != "pad_layouts")
    per_day = 86400.0 / args.cycle_s
    print(
        f"{n} boards x {p} pads written by ResultWriter; {n_alarms} pad alarms ({n_alarms / n:.1f} per board)"
    )
    print(f"ResultWriter.write: {1000 * write_s / n:.1f} ms per board (batches of 32)")
    print(f"{'table':<20}{'bytes/board':>14}{'bytes/pad':>11}")
    for t in TABLES:
        print(f"{t:<20}{per_board[t]:>14.0f}{per_board[t] / p:>11.2f}")
    print(f"{'total (no layout)':<20}{total:>14.0f}{total / p:>11.2f}")
    print(f"one layout row (stored once per geometry): {sizes['pad_layouts']} bytes")
    print(
        f"growth at 1 board / {args.cycle_s:g} s: {per_day:.0f} boards/day, "
        f"{total * per_day / 2**20:.0f} MiB/day per printer; "
        f"x 30 days = {total * per_day * 30 / 2**30:.2f} GiB"
    )


if __name__ == "__main__":
    main()
