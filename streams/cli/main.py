"""The `spi-crrn` command line: one entry point, one subcommand module per concern.

Each module in `COMMAND_MODULES` exposes `register(subparsers)`, which adds its subcommands and sets
`func` on them. Modules import heavy libraries (torch, faust) inside their handlers, so that
`spi-crrn services up` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = [
    "streams.cli.services",  # services up|down|status
    "streams.cli.db",  # db upgrade|downgrade|current
    "streams.cli.data",  # validate, simulate, convert, figures
    "streams.cli.train_score",  # train, calibrate, score
    "streams.cli.diagnosis",  # train-classifier, experiment N
    "streams.cli.registry",  # models list|register|promote
    "streams.cli.worker",  # worker, demo
    "streams.cli.tail",  # tail TOPIC
    "streams.cli.bench",  # bench
    "streams.cli.dashboard",  # dashboard
    "streams.cli.ingest",  # ingest csv|cfx, cfx-publish
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spi-crrn",
        description="Catch solder paste printer faults from SPI data with the CRRN model.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _log_format() -> str:
    """LOG_FORMAT from the settings (text when the settings cannot be read: the command reports that)."""
    from streams.settings import Settings

    try:
        return Settings.from_env().log_format
    except ValueError:
        return "text"


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    from streams.observability.logs import configure_logging

    configure_logging(logging.DEBUG if args.verbose else logging.INFO, _log_format())
    code = args.func(args)
    sys.exit(int(code or 0))
