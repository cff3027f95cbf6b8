"""`spi-crrn validate | simulate | convert | figures`: data files, the simulator and its figures."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from schemas.messages import DEFECT_TYPES


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("validate", help="validate a JSONL file of spi.board_inspection.v1 events")
    p.add_argument("file", type=Path, help="JSON Lines file, one event per line")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser("simulate", help="simulate SPI boards of a printer fleet")
    p.add_argument("--printers", type=int, default=1)
    p.add_argument("--lines", type=int, default=None, help="SMT lines (default: one per printer)")
    p.add_argument("--recipes", type=int, default=1)
    p.add_argument("--pads", type=int, default=1000, help="pads per recipe (200..50000)")
    count = p.add_mutually_exclusive_group()
    count.add_argument("--boards", type=int, default=None, help="boards per printer (default 100)")
    count.add_argument("--duration", type=float, default=None, help="seconds of production per printer")
    p.add_argument("--cycle-s", type=float, default=20.0, help="seconds between prints of one printer")
    p.add_argument(
        "--rate", type=float, default=0.0, help="boards/s when publishing (0: as fast as possible)"
    )
    p.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME[@PRINTER]",
        help=f"printer defect ({', '.join(DEFECT_TYPES)}), optionally on one printer; repeatable",
    )
    p.add_argument("--defect-start", type=int, default=1, help="first print_index with the defect")
    p.add_argument(
        "--defect-duration", type=int, default=None, help="T of s(t) (default: boards per printer)"
    )
    p.add_argument("--defect-amplitude", type=float, default=4.0, help="effect at f=1, in pad std units")
    p.add_argument(
        "--clamp-sign", type=int, choices=(1, -1), default=1, help="clamp: +1 excess, -1 insufficient"
    )
    p.add_argument("--cleaning-interval", type=int, default=10, help="K: prints between stencil cleanings")
    p.add_argument("--inject-ratio", type=float, default=0.0, help="Experiment 1: ratio of anomalous pads")
    p.add_argument("--inject-mu", type=float, default=5.0, help="Experiment 1: mean anomaly (pad std units)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--output", type=Path, default=None, help="FILE.jsonl or FILE.parquet (a folder with --format csv)"
    )
    p.add_argument(
        "--format",
        choices=("file", "csv", "cfx"),
        default="file",
        help="csv: one per-pad CSV export per board into the --output folder, named PRINTER__BOARD.csv; "
        "cfx: publish each board as an IPC-CFX UnitsInspected message to --amqp/--address",
    )
    p.add_argument("--amqp", default=None, help="with --format cfx: AMQP 1.0 URL (default Settings.amqp_url)")
    p.add_argument(
        "--address", default=None, help="with --format cfx: default Settings.cfx_inspections_address"
    )
    p.add_argument(
        "--csv-layout", choices=("phm2022", "kohyoung"), default="kohyoung", help="with --format csv"
    )
    p.add_argument("--to-kafka", action="store_true", help="publish to Settings.topic_inspections")
    p.set_defaults(func=cmd_simulate)

    p = subparsers.add_parser("convert", help="convert board files between .jsonl and .parquet")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.set_defaults(func=cmd_convert)

    p = subparsers.add_parser("figures", help="PNG figures of simulated data (paper Fig. 2, defect maps)")
    p.add_argument("--output", type=Path, required=True, help="folder for the PNG files")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_figures)


def cmd_validate(args: argparse.Namespace) -> int:
    from schemas.errors import InvalidEvent
    from schemas.validation import validate_lines

    if not args.file.is_file():
        print(f"{args.file}: no such file; pass a JSON Lines file", file=sys.stderr)
        return 2
    good = bad = 0
    with open(args.file, "rb") as lines:
        for line_no, result in validate_lines(lines):
            if isinstance(result, InvalidEvent):
                bad += 1
                print(f"line {line_no}: {result.field}: {result.problem}")
            else:
                good += 1
    if bad:
        print(f"{bad} invalid and {good} valid events in {args.file}", file=sys.stderr)
        return 1
    print(f"{good} valid events in {args.file}")
    return 0


def _parse_defects(args: argparse.Namespace, boards: int) -> tuple[Any, ...]:
    from crrn.sim.defects import DefectSpec

    specs = []
    for text in args.defect:
        name, _, printer = text.partition("@")
        if name not in DEFECT_TYPES:
            raise SystemExit(
                f"--defect {text}: unknown defect {name!r}; use one of {', '.join(DEFECT_TYPES)}"
            )
        specs.append(
            DefectSpec(
                name=name,
                start_index=args.defect_start,
                duration=args.defect_duration or boards,
                amplitude=args.defect_amplitude,
                sign=args.clamp_sign,
                printer_id=printer or None,
            )
        )
    return tuple(specs)


def cmd_simulate(args: argparse.Namespace) -> int:
    import asyncio

    from crrn.data.files import iter_boards, write_pairs
    from crrn.sim.fleet import FleetSpec, simulate_fleet

    if args.output is None and not args.to_kafka:
        print("simulate: give --output FILE(.jsonl|.parquet) and/or --to-kafka", file=sys.stderr)
        return 2
    if args.duration is not None:
        boards = max(1, math.floor(args.duration / args.cycle_s))
    else:
        boards = args.boards or 100
    try:
        spec = FleetSpec(
            printers=args.printers,
            lines=args.lines,
            recipes=args.recipes,
            pads=args.pads,
            boards_per_printer=boards,
            cleaning_interval=args.cleaning_interval,
            defects=_parse_defects(args, boards),
            inject_ratio=args.inject_ratio,
            inject_mu=args.inject_mu,
            cycle_s=args.cycle_s,
        )
        pairs = simulate_fleet(spec, args.seed)
        if args.format == "csv":
            return _write_csv_exports(args, pairs)
        if args.format == "cfx":
            return _publish_cfx(args, pairs)
        if args.output is not None:
            n = write_pairs(args.output, pairs)
            print(f"wrote {n} boards to {args.output}")
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    if args.to_kafka:
        from streams.kafka.publish import publish_boards
        from streams.settings import Settings

        settings = Settings.from_env()
        source = iter_boards(args.output) if args.output is not None else (b for b, _ in pairs)
        sent = asyncio.run(publish_boards(settings, source, rate=args.rate))
        print(
            f"published {sent} boards to {settings.topic_inspections} at {settings.kafka_bootstrap_servers}"
        )
    return 0


def _write_csv_exports(args: argparse.Namespace, pairs: Any) -> int:
    """One CSV per board, written as SPIs do (a temp name first, renamed when complete)."""
    import os

    from crrn.ingest.csv_write import board_to_csv

    if args.output is None or args.to_kafka:
        print(
            "simulate --format csv: give --output FOLDER (and ingest it with `spi-crrn ingest csv`)",
            file=sys.stderr,
        )
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    n = 0
    for board, _ in pairs:
        final = args.output / f"{board.printer_id}__{board.board_id}.csv"
        temp = final.with_name(final.name + ".part")
        temp.write_bytes(board_to_csv(board, args.csv_layout))
        os.replace(temp, final)
        n += 1
    print(f"wrote {n} {args.csv_layout} CSV exports to {args.output}")
    return 0


def _publish_cfx(args: argparse.Namespace, pairs: Any) -> int:
    """Each board as one CFX UnitsInspected message (Source = its inspector id), JSON in a Data body."""
    from proton import Message

    from schemas.cfx import board_to_units_inspected
    from streams.ingest.amqp import connect
    from streams.settings import Settings

    settings = Settings.from_env()
    url = args.amqp or settings.amqp_url
    if not url:
        print(
            "simulate --format cfx: pass --amqp URL or run `spi-crrn services up --with-amqp`",
            file=sys.stderr,
        )
        return 2
    import json

    address = args.address or settings.cfx_inspections_address
    conn = connect(url)
    n = 0
    try:
        sender = conn.create_sender(address)
        for board, _ in pairs:
            doc = board_to_units_inspected(board, board.inspector_id)
            body = json.dumps(doc, separators=(",", ":")).encode()
            sender.send(Message(body=body, subject=doc["MessageName"], content_type="application/json",
                                durable=True))  # fmt: skip
            n += 1
    finally:
        conn.close()
    print(f"published {n} CFX UnitsInspected messages to {address}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from crrn.data.files import iter_boards_with_truth, write_pairs
    from schemas.errors import InvalidEvent

    if not args.input.is_file():
        print(f"{args.input}: no such file", file=sys.stderr)
        return 2
    try:
        n = write_pairs(args.output, iter_boards_with_truth(args.input))
    except (InvalidEvent, ValueError) as exc:
        print(f"convert: {exc}", file=sys.stderr)
        return 1
    print(f"converted {n} boards {args.input} -> {args.output}")
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from crrn.figures import make_figures

    paths = make_figures(args.output, seed=args.seed)
    for path in paths:
        print(path)
    return 0
