"""`spi-crrn ingest csv DIR`: vendor CSV exports from a (watched) folder to Kafka or a JSONL file."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("ingest", help="bring SPI results in: vendor CSV exports (csv), IPC-CFX (cfx)")
    sub = p.add_subparsers(dest="source", required=True, metavar="SOURCE")

    c = sub.add_parser("csv", help="per-pad CSV exports in a folder -> board events, each file exactly once")
    c.add_argument("dir", type=Path, help="the folder the SPI writes its exports into")
    c.add_argument("--watch", action="store_true", help="keep watching (default: one pass, then exit)")
    layout = c.add_mutually_exclusive_group(required=True)
    layout.add_argument("--format", choices=("phm2022", "kohyoung"), help="a built-in export layout")
    layout.add_argument(
        "--mapping", type=Path, help="TOML mapping file for any other layout (docs/ingest.md)"
    )
    out = c.add_mutually_exclusive_group(required=True)
    out.add_argument("--to-kafka", action="store_true", help="publish to Settings.topic_inspections")
    out.add_argument("--output", type=Path, help="append the events to this JSONL file")
    c.add_argument("--topic", default=None, help="Kafka topic (default Settings.topic_inspections)")
    c.add_argument("--printer", default=None, help="printer id when the file has no printer column")
    c.add_argument(
        "--printer-from-filename", action="store_true", help="printer id = file name before '__' (P01__x.csv)"
    )
    c.add_argument("--line", default=None, help="line id (default: the printer id)")
    c.add_argument("--inspector", default=None, help="inspector id (default: SPI-<line>)")
    c.add_argument(
        "--recipe", default=None, help="recipe id (default: a column, else auto- + hash of the pad ids)"
    )
    c.add_argument("--stencil", default=None, help="stencil id when the file has none")
    c.add_argument("--timezone", default="UTC", help="IANA zone of the exports' local times (default UTC)")
    c.add_argument("--settle-s", type=float, default=2.0, help="seconds a file must be unchanged (default 2)")
    c.add_argument("--poll-s", type=float, default=1.0, help="seconds between looks with --watch")
    c.add_argument(
        "--temp-suffix",
        action="append",
        default=[],
        help="extra suffix of files still being written; repeatable",
    )
    c.set_defaults(func=cmd_ingest_csv)

    x = sub.add_parser("cfx", help="IPC-CFX UnitsInspected over AMQP 1.0 -> board events (acked after Kafka)")
    x.add_argument("--amqp", default=None, help="AMQP 1.0 URL (default Settings.amqp_url)")
    x.add_argument("--address", default=None, help="AMQP address (default Settings.cfx_inspections_address)")
    x.add_argument("--printer", default=None, help="printer id of the boards (default: the message Source)")
    x.add_argument("--line", default=None, help="line id (default: the printer id)")
    x.add_argument("--recipe", default=None, help="recipe id when the message has no RecipeName")
    x.add_argument("--max-messages", type=int, default=None, help="stop after this many messages")
    x.set_defaults(func=cmd_ingest_cfx)

    o = subparsers.add_parser(
        "cfx-publish", help="printer defects -> IPC-CFX FaultOccurred/FaultCleared; store FaultAcknowledged"
    )
    o.add_argument("--amqp", default=None, help="AMQP 1.0 URL (default Settings.amqp_url)")
    o.add_argument("--address", default=None, help="faults address (default Settings.cfx_faults_address)")
    o.add_argument(
        "--acks-address", default=None, help="FaultAcknowledged address (Settings.cfx_acks_address)"
    )
    o.add_argument("--pad-alarms", default=None, metavar="ADDR", help="also send pad alarms to this address")
    o.add_argument("--group", default="spi-crrn-cfx-publish", help="Kafka consumer group")
    o.add_argument("--idle-exit-s", type=float, default=None, help="exit after this long without messages")
    o.set_defaults(func=cmd_cfx_publish)


def cmd_cfx_publish(args: argparse.Namespace) -> int:
    from streams.cfx_publish import CfxAddresses, run_cfx_publish
    from streams.db.engine import make_engine
    from streams.settings import Settings

    settings = Settings.from_env()
    url = args.amqp or settings.amqp_url
    if not url:
        print(
            "cfx-publish: no broker; pass --amqp URL or run `spi-crrn services up --with-amqp`",
            file=sys.stderr,
        )
        return 2
    addresses = CfxAddresses(
        args.address or settings.cfx_faults_address,
        args.acks_address or settings.cfx_acks_address,
        args.pad_alarms,
    )
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    engine = make_engine(settings.database_url)
    try:
        stats = run_cfx_publish(
            settings, engine, url, addresses, lambda: bool(stopping), args.group, args.idle_exit_s
        )
    finally:
        engine.dispose()
    print(
        f"cfx-publish: {stats.faults} faults, {stats.pad_alarms} pad-alarm messages sent; "
        f"{stats.acknowledgements} acknowledgements stored, {stats.rejected} rejected"
    )
    return 0


def cmd_ingest_cfx(args: argparse.Namespace) -> int:
    from schemas.cfx import CfxContext
    from streams.ingest.cfx_in import run_cfx_ingest
    from streams.settings import Settings

    settings = Settings.from_env()
    url = args.amqp or settings.amqp_url
    if not url:
        print(
            "ingest cfx: no broker; pass --amqp URL or run `spi-crrn services up --with-amqp`",
            file=sys.stderr,
        )
        return 2
    address = args.address or settings.cfx_inspections_address
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    stats = run_cfx_ingest(
        settings, url, address, CfxContext(args.printer, args.line, args.recipe), lambda: bool(stopping),
        args.max_messages,
    )  # fmt: skip
    print(f"ingest cfx: {stats.messages} messages, {stats.boards} boards, {stats.dead_letters} dead letters")
    return 0


def cmd_ingest_csv(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from crrn.ingest.csv_format import builtin_format, load_mapping
    from streams.ingest.csv_folder import TEMP_SUFFIXES, CsvFolder, FolderOptions
    from streams.ingest.sinks import BoardSink, JsonlSink, KafkaSink

    if not args.dir.is_dir():
        print(f"ingest csv: {args.dir} is not a folder", file=sys.stderr)
        return 2
    try:
        fmt = load_mapping(args.mapping) if args.mapping else builtin_format(args.format)
        zone = ZoneInfo(args.timezone)
    except (ValueError, OSError, KeyError) as exc:
        print(f"ingest csv: {exc}", file=sys.stderr)
        return 2
    if "printer_id" not in fmt.columns and not args.printer and not args.printer_from_filename:
        print("ingest csv: the format has no printer column; pass --printer ID or --printer-from-filename",
              file=sys.stderr)  # fmt: skip
        return 2
    options = FolderOptions(
        fmt=fmt, timezone=zone, printer_id=args.printer, line_id=args.line, inspector_id=args.inspector,
        recipe_id=args.recipe, stencil_id=args.stencil, printer_from_filename=args.printer_from_filename,
        settle_s=args.settle_s, temp_suffixes=TEMP_SUFFIXES + tuple(s.lower() for s in args.temp_suffix),
    )  # fmt: skip
    sink: BoardSink
    if args.to_kafka:
        from streams.settings import Settings

        settings = Settings.from_env()
        sink = KafkaSink(settings, args.topic or settings.topic_inspections)
    else:
        sink = JsonlSink(args.output)
    return asyncio.run(_run(CsvFolder, args, options, sink))


async def _run(folder_type: Any, args: argparse.Namespace, options: Any, sink: Any) -> int:
    stopping = False

    def stop() -> bool:
        return stopping

    def on_signal() -> None:
        nonlocal stopping
        stopping = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        folder = folder_type(args.dir, options, sink)
    except RuntimeError as exc:
        print(f"ingest csv: {exc}", file=sys.stderr)
        return 2
    try:
        stats = await folder.run(args.watch, args.poll_s, stop)
    finally:
        await sink.close()
        folder.close()
    print(
        f"ingest csv: {stats.published_files} files ({stats.published_boards} boards) published, "
        f"{stats.duplicate_files} duplicates, {stats.rejected_files} rejected, {stats.resumed_files} resumed"
    )
    return 0
