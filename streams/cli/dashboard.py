"""`spi-crrn dashboard [--port 8080]`: the board-map dashboard, as the read-only reporting role."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "dashboard", help="web dashboard: printers, board maps, alarm rate, pad trends, defects"
    )
    p.add_argument("--port", type=int, help="port (default DASHBOARD_PORT, 8080)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--refresh-s", type=int, default=10, help="pages refresh themselves every N s (0: never)")
    p.add_argument(
        "--database-url", help="reporting-role URL (default DATABASE_REPORTER_URL); other roles are refused"
    )
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from streams.dashboard.app import DashboardOptions, serve
    from streams.db.engine import make_engine
    from streams.settings import Settings

    settings = Settings.from_env()
    url = args.database_url or settings.database_reporter_url
    if not url:
        print(
            "DATABASE_REPORTER_URL is not set: the dashboard reads as the reporting role spi_reporter "
            "(`spi-crrn services up` writes it to .spi-crrn/services.env)"
        )
        return 2
    engine = make_engine(
        url, pool_size=4, max_overflow=2, connect_args={"options": "-c statement_timeout=5000"}
    )
    try:
        serve(
            engine,
            args.host,
            settings.dashboard_port if args.port is None else args.port,
            DashboardOptions(refresh_s=args.refresh_s),
        )
    finally:
        engine.dispose()
    return 0
