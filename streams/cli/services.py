"""`spi-crrn services up|down|status|smoke`: the local Kafka broker and PostgreSQL server."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("services", help="start/stop the local Kafka and PostgreSQL")
    sub = parser.add_subparsers(dest="services_command", required=True, metavar="ACTION")
    p = sub.add_parser("up", help="start (idempotent), create topics, write .spi-crrn/services.env")
    p.add_argument(
        "--with-amqp", action="store_true", help="also RabbitMQ with AMQP 1.0, the IPC-CFX transport (#13)"
    )
    p.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the local services").set_defaults(func=cmd_down)
    sub.add_parser("status", help="report each service with its version").set_defaults(func=cmd_status)
    sub.add_parser(
        "smoke", help="publish one board event, consume it back, store one row (needs `db upgrade`)"
    ).set_defaults(func=cmd_smoke)


def cmd_up(args: argparse.Namespace) -> int:
    from streams.db.engine import redact
    from streams.services import StatePaths, up

    paths = StatePaths.default()
    endpoints = up(paths, with_amqp=getattr(args, "with_amqp", False))
    print(f"\nwrote {paths.env_file} (read automatically by every spi-crrn command):")
    for key, value in endpoints.env().items():
        shown = redact(value) if "DATABASE" in key and value else value
        if key == "AMQP_URL":
            from streams.services.rabbitmq_local import redact_url

            shown = redact_url(value)
        print(f"  {key}={shown}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from streams.services import down

    down()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from streams.services import status

    rows = status()
    for row in rows:
        detail = f"  ({row.detail})" if row.detail else ""
        print(f"{row.name:<11} {row.state:<8} {row.address:<40} {row.version}{detail}")
    return 0 if all(row.state != "stopped" for row in rows) else 3


def cmd_smoke(args: argparse.Namespace) -> int:
    from streams.services.smoke import run_smoke
    from streams.settings import Settings

    report = run_smoke(Settings.from_env())
    for line in report:
        print(line)
    return 0
