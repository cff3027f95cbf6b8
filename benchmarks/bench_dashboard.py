"""The dashboard's queries on a filled database: plan (index or sequential scans) and time of each.

Fills a scratch database on DATABASE_ADMIN_URL's server through the real `ResultWriter` with `--printers`
printers x `--boards` boards of `--pads` pads (z-score alarms, one printer with a squeegee-blade defect,
boards one per 20 s), then runs every query of streams/dashboard/queries.py under EXPLAIN ANALYZE and
prints its time, rows and the tables it scanned sequentially (none of the big ones should be).

Run: .venv/bin/python benchmarks/bench_dashboard.py [--printers 4] [--boards 2000] [--pads 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import text

from streams.dashboard import queries as q
from streams.db.engine import libpq_url, make_engine
from streams.db.migrations import upgrade
from streams.db.writer import ResultWriter
from streams.settings import Settings


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    out = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        out += _seq_scans(child)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--printers", type=int, default=4)
    ap.add_argument("--boards", type=int, default=2000)
    ap.add_argument("--pads", type=int, default=200)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fleet helper lives in tests/
    from tests.integration.db import fleet

    settings = Settings.from_env()
    admin = settings.database_admin_url or settings.database_url
    name = f"spi_crrn_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_engine(admin).url.set(database=name).render_as_string(hide_password=False)
    now = datetime.now(UTC)
    try:
        upgrade(url, "head")
        engine = make_engine(url)
        started = time.perf_counter()
        f = fleet.simulate(now, printers=args.printers, pads=args.pads, boards=args.boards)
        fleet.write(ResultWriter(engine), f, now, batch=64)
        print(f"wrote {len(f.boards)} boards of {args.pads} pads in {time.perf_counter() - started:.0f} s")
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            pad = conn.execute(text("SELECT pad_id FROM pad_alarms LIMIT 1")).scalar_one()
            cases = {
                "printers (a)": (q._PRINTERS, {"since": now - timedelta(hours=1), "now": now, "limit": 500}),
                "latest boards (b)": (q._BOARDS, {"printer": f.defective, "limit": 6}),
                "alarm rate, 5 min (c)": (
                    q._RATE_RECENT,
                    {"bucket": "5 minutes", "since": now - timedelta(hours=2), "now": now, "limit": 20000},
                ),
                "alarm rate, hourly (c)": (
                    q._RATE_HOURLY,
                    {"since": now - timedelta(days=7), "now": now, "limit": 20000},
                ),
                "pad trend, 100 boards (d)": (
                    q._PAD_TREND,
                    {"printer": f.defective, "pad": pad, "limit": 100},
                ),
                "defect timeline (e)": (q._TIMELINE, {"since": now - timedelta(days=7), "limit": 500}),
            }
            for label, (statement, params) in cases.items():
                row = conn.execute(
                    text("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.text), params
                ).scalar_one()
                plan = (row if isinstance(row, list) else json.loads(row))[0]
                seq = sorted(set(_seq_scans(plan["Plan"])))
                ms, rows = plan["Execution Time"], plan["Plan"].get("Actual Rows", 0)
                print(f"{label:<28}{ms:>9.1f} ms {rows:>6} rows  seq scans: {', '.join(seq) or 'none'}")
        engine.dispose()
    finally:
        with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + sql.SQL(" WITH (FORCE)")
            )


if __name__ == "__main__":
    main()
