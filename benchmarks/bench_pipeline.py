"""Pipeline benchmark: the live worker on the local services, beside a bare consumer plus the model.

    spi-crrn bench pipeline [--quick] [--json [OUT]] [--pads 2000,20000] [--printers 8] [--rate 5]

Per pad count (8 printers, one recipe, T = 10, hop 1, two-pass scoring, the `cpu` config; the model is
built in seconds, benchmarks/_live.py):
1. Throughput: a simulated fleet is published to private topics first, then one `spi-crrn worker`
   subprocess starts and the clock runs from its first stored board to its last (the sustained rate:
   validation, windows, model, PostgreSQL rows in one transaction with the alarm and defect messages).
   Also: boards/s counted from the group join, the alarm messages on the alarm topic (read committed),
   and the worker's RSS when it joined and when it was done.
2. The same events, in the same run, through a bare aiokafka consumer (no group, from the start) that
   only decodes them (`parse_inspection`), keeps the windows (`PrinterWindower`) and scores them
   (`Scorer.score_windows`) in full batches of the worker's batch limit: the model alone, at its best.
   The pipeline's rate over this one is the figure's ratio; overhead = 1 / ratio - 1 (target <= 15 %,
   i.e. ratio >= 0.87).
3. Latency (first pad count only): a fresh worker under `--rate` boards/s offered for `--minutes`; every
   4th board carries a paste smear (20 pads at 300 % volume) so that it raises an alarm; publish-to-alarm
   latency = alarm message received (read committed) - the moment the board was handed to the producer,
   for boards after each printer's first window (those wait for the window to fill). p50/p95/p99, and
   the worker's RSS every 5 s: flat when the end is within 5 % of half-time (full mode: 10 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _live import Worker, bench_bundle, private_settings, stored_count
from _report import Figure, Report, add_common_args
from aiokafka import AIOKafkaConsumer, TopicPartition

from crrn.scoring import Scorer
from crrn.sim.fleet import FleetSpec, simulate_fleet
from crrn.windowing import PrinterWindower, Window
from schemas.inspection import BoardInspection
from schemas.validation import parse_inspection
from streams.db.engine import make_engine
from streams.kafka.connection import MAX_MESSAGE_BYTES, client_options
from streams.kafka.publish import publish_boards
from streams.settings import Settings

T = 10
MAX_BATCH = 32
OVERHEAD_RATIO = 1 / 1.15  # pipeline rate >= this share of the bare rate <=> overhead <= 15 %


_RUN = int(time.time()) % 10**9 * 1000  # fresh print indexes (and event ids) for every run


def fleet(printers: int, pads: int, per_printer: int, seed: int, part: int) -> list[BoardInspection]:
    """A fleet's boards in arrival order (print index, then printer). One `seed` = one layout; each
    `part` of a run gets its own print indexes, so no two parts share an event id."""
    first = _RUN + part * 100_000 + 1
    spec = FleetSpec(printers=printers, pads=pads, boards_per_printer=per_printer, first_print_index=first)
    return sorted((b for b, _ in simulate_fleet(spec, seed)), key=lambda b: (b.print_index, b.printer_id))


def consumer(settings: Settings, topic: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
    )


async def read_topic(settings: Settings, topic: str) -> list[bytes]:
    """Every committed record value of `topic` now."""
    c = consumer(settings, topic)
    await c.start()
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        end = await c.end_offsets(parts)
        out: list[bytes] = []
        deadline = time.monotonic() + 30

        async def behind() -> bool:
            return any([await c.position(tp) < end[tp] for tp in parts])

        while await behind() and time.monotonic() < deadline:
            for records in (await c.getmany(timeout_ms=500)).values():
                out.extend(r.value for r in records)
        return out
    finally:
        await c.stop()


# ---------------------------------------------------------------------- 1. the worker
def throughput(settings: Settings, model: Path, boards: list[BoardInspection]) -> dict[str, Any]:
    ids = [b.event_id for b in boards]
    asyncio.run(publish_boards(settings, boards))
    worker = Worker(settings, model, "--max-batch", str(MAX_BATCH))
    engine = make_engine(settings.database_url)
    try:
        joined = worker.wait_assigned()
        rss_start = worker.rss_mb()
        first: tuple[float, int] | None = None
        n = 0
        deadline = time.monotonic() + 900
        with engine.connect() as conn:
            while n < len(ids):
                worker.check_alive()
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {n}/{len(ids)} boards stored; see {worker.log_path}")
                time.sleep(0.05)
                n = stored_count(conn, ids)
                conn.rollback()  # a fresh snapshot each poll
                if first is None and n > 0:
                    first = (time.monotonic(), n)
        done = time.monotonic()
        rss_end = worker.rss_mb()
    finally:
        worker.stop()
        engine.dispose()
    assert first is not None
    alarms = asyncio.run(read_topic(settings, settings.topic_alarms))
    return {
        "boards": len(ids),
        "sustained_boards_per_s": (len(ids) - first[1]) / max(done - first[0], 1e-9),
        "boards_per_s_from_join": len(ids) / (done - joined),
        "first_stored_after_join_s": first[0] - joined,
        "alarm_messages": len(alarms),
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
    }


# ---------------------------------------------------------------------- 2. the model alone
async def _bare(settings: Settings, bundle_path: Path, n_boards: int) -> dict[str, Any]:
    from crrn.model_file import ModelBundle

    scorer = Scorer(ModelBundle.load(bundle_path), device="cpu", max_batch=MAX_BATCH)
    windowers: dict[str, PrinterWindower] = {}
    c = consumer(settings, settings.topic_inspections)
    await c.start()
    scored = 0
    started: float | None = None
    windows: list[Window] = []
    try:
        while scored < n_boards:
            batch = await c.getmany(timeout_ms=1000, max_records=MAX_BATCH)
            for records in batch.values():
                for r in records:
                    started = started or time.monotonic()
                    board = parse_inspection(r.value)
                    w = windowers.setdefault(board.printer_id, PrinterWindower(T, 1)).push(board).window
                    if w is not None:
                        windows.append(w)
            # full batches (the model at its best batch size); the rest once the topic is read
            while len(windows) >= MAX_BATCH or (windows and not batch):
                scored += len(scorer.score_windows(windows[:MAX_BATCH]))
                del windows[:MAX_BATCH]
    finally:
        await c.stop()
    assert started is not None
    elapsed = time.monotonic() - started
    return {"boards": scored, "boards_per_s": scored / elapsed, "seconds": elapsed}


# ---------------------------------------------------------------------- 3. latency
def smeared(board: BoardInspection) -> BoardInspection:
    vol = board.pads.volume_pct.copy()
    vol[:20] = 300.0
    return replace(board, pads=replace(board.pads, volume_pct=vol))


async def _latency_run(
    settings: Settings, worker: Worker, boards: list[BoardInspection], rate: float
) -> tuple[dict[str, tuple[float, float]], list[tuple[float, float]]]:
    """({alarmed event id: (sent at t, publish-to-alarm seconds)}, [(t, worker RSS MB)] every 5 s)."""
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    rss: list[tuple[float, float]] = []
    c = consumer(settings, settings.topic_alarms)
    await c.start()
    stop = asyncio.Event()
    started = time.monotonic()

    async def listen() -> None:
        while not stop.is_set():
            for records in (await c.getmany(timeout_ms=100)).values():
                now = time.monotonic()
                for r in records:
                    received.setdefault(json.loads(r.value)["event_id"], now)
            if not rss or time.monotonic() - started - rss[-1][0] >= 5:
                rss.append((time.monotonic() - started, worker.rss_mb()))

    def on_send(board: BoardInspection) -> None:
        sent.setdefault(board.event_id, time.monotonic())

    task = asyncio.create_task(listen())
    engine = make_engine(settings.database_url)
    try:
        await publish_boards(settings, boards, rate=rate, on_send=on_send)
        ids = [b.event_id for b in boards]
        deadline = time.monotonic() + 300
        with engine.connect() as conn:  # until every board is stored (its alarm is sent in that commit)
            while stored_count(conn, ids) < len(ids) and time.monotonic() < deadline:
                worker.check_alive()
                conn.rollback()
                await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)
        stop.set()
        await task
    finally:
        engine.dispose()
        await c.stop()
    return {e: (sent[e] - started, received[e] - sent[e]) for e in received if e in sent}, rss


def latency(settings: Settings, model: Path, boards: list[BoardInspection], rate: float) -> dict[str, Any]:
    seen: dict[str, int] = {}
    rank = []  # position of each board in its printer's sequence
    for b in boards:
        rank.append(seen.get(b.printer_id, 0))
        seen[b.printer_id] = rank[-1] + 1
    offered = [smeared(b) if i % 4 == 0 else b for i, b in enumerate(boards)]
    steady = {b.event_id for b, r in zip(offered, rank, strict=True) if r >= T}
    expected = {b.event_id for i, b in enumerate(offered) if i % 4 == 0} & steady
    worker = Worker(settings, model, "--max-batch", str(MAX_BATCH))
    try:
        worker.wait_assigned()
        started = time.monotonic()
        lat, rss = asyncio.run(_latency_run(settings, worker, offered, rate))
        seconds = time.monotonic() - started
    finally:
        worker.stop()
    series = sorted(v for e, v in lat.items() if e in steady)  # (sent at t, latency), in send order
    steady_lat = np.array([v for _, v in series])
    if steady_lat.size == 0:
        raise SystemExit("no alarm arrived for a steady-state board; see the worker log")
    p50, p95, p99 = np.percentile(steady_lat, [50, 95, 99])
    return {
        "boards": len(boards),
        "offered_boards_per_s": rate,
        "seconds": seconds,
        "alarmed_boards_expected": len(expected),
        "alarmed_boards_measured": int(steady_lat.size),
        "smeared_boards_alarmed": len(expected & set(lat)),
        "p50_s": float(p50),
        "p95_s": float(p95),
        "p99_s": float(p99),
        "max_s": float(steady_lat.max()),
        # flat = no growth over the second half of the run (the first batches allocate torch's buffers;
        # that warm-up ends within ~20 s at 2,000 pads)
        "rss_mb_half": next(m for t, m in rss if t >= 0.5 * rss[-1][0]),
        "rss_mb_end": rss[-1][1],
        "rss_mb_samples": rss,
        "latency_series": [(round(t, 2), round(v, 3)) for t, v in series],
    }


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--pads", default="2000,20000", help="pad counts, comma-separated")
    parser.add_argument("--printers", type=int, default=8)
    parser.add_argument("--boards", type=int, default=None, help="boards per printer (default by mode)")
    parser.add_argument("--rate", type=float, default=5.0, help="offered boards/s of the latency run")
    parser.add_argument("--minutes", type=float, default=None, help="latency run (quick 1, full 10)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = Report("pipeline", quick=args.quick)
    minutes = args.minutes or (1.0 if args.quick else 10.0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    pad_counts = [int(p) for p in args.pads.split(",")]
    for k, pads in enumerate(pad_counts):
        per_printer = args.boards or {True: 40, False: 120}[args.quick] * 2000 // max(pads, 2000) + T
        calib = fleet(2, pads, 3 * T, args.seed, part=3 * k)
        t0 = time.monotonic()
        bundle = bench_bundle(calib, T=T)
        model = bundle.save(tmp / f"pads{pads}.pt")
        print(f"pads {pads}: model built and calibrated in {time.monotonic() - t0:.0f} s", flush=True)
        boards = fleet(args.printers, pads, per_printer, args.seed, part=3 * k + 1)
        settings = private_settings("bench-pipe")
        live = throughput(settings, model, boards)
        bare = asyncio.run(_bare(settings, model, len(boards)))
        print(f"pads {pads}: worker {live}, bare {bare}", flush=True)
        report.details[f"pads{pads}"] = {
            "printers": args.printers,
            "worker": live,
            "bare_consumer_and_model": bare,
        }
        target = ">= 20" if pads == 2000 else ""
        report.add(
            Figure(
                f"sustained boards/s, {pads} pads", live["sustained_boards_per_s"], "boards/s", target=target
            )
        )
        report.add(
            Figure(
                f"pipeline vs model alone, {pads} pads",
                live["sustained_boards_per_s"],
                "boards/s",
                limit=bare["boards_per_s"],
                limit_name="bare consumer + model",
                target=f">= {OVERHEAD_RATIO:.3f} of limit",
                note="overhead <= 15 %",
            )
        )
        report.add(
            Figure(
                f"worker RSS growth over the throughput run, {pads} pads",
                live["rss_mb_end"] - live["rss_mb_start"],
                "MB",
            )
        )
        if k == 0:
            n = max(int(args.rate * minutes * 60 / args.printers), T + 1)
            lat = latency(
                private_settings("bench-lat"),
                model,
                fleet(args.printers, pads, n, args.seed, part=3 * k + 2),
                args.rate,
            )
            print(f"latency at {pads} pads: {lat}", flush=True)
            report.details[f"latency_pads{pads}"] = lat
            for q in ("p50", "p95", "p99"):
                target = "<= 1.0" if q == "p99" else ""
                report.add(
                    Figure(
                        f"publish-to-alarm {q} at {args.rate:g} boards/s, {pads} pads",
                        lat[f"{q}_s"],
                        "s",
                        target=target,
                    )
                )
            report.add(
                Figure(
                    f"worker RSS end/start over {minutes:g} min at {args.rate:g} boards/s",
                    lat["rss_mb_end"],
                    "MB",
                    limit=lat["rss_mb_half"],
                    limit_name="RSS at half-time",
                    target="<= 1.05 of limit",
                    note="flat: within 5 % over the second half",
                )
            )
    report.finish(args.json)


if __name__ == "__main__":
    main()
