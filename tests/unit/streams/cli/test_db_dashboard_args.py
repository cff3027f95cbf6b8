"""The new subcommands' arguments: `db retention` and `dashboard` (defaults come from Settings)."""

from __future__ import annotations

from streams.cli.dashboard import cmd_dashboard
from streams.cli.db import cmd_retention
from streams.cli.main import build_parser


def test_retention_arguments() -> None:
    args = build_parser().parse_args(["db", "retention", "--days", "7", "--dry-run"])
    assert (args.func, args.days, args.hourly_days, args.batch, args.dry_run) == (
        cmd_retention,
        7,
        None,
        None,
        True,
    )
    args = build_parser().parse_args(["db", "retention"])
    assert (args.days, args.dry_run) == (None, False)  # None: RETENTION_DAYS decides


def test_dashboard_arguments() -> None:
    args = build_parser().parse_args(["dashboard", "--port", "9090"])
    assert (args.func, args.port, args.host, args.refresh_s) == (cmd_dashboard, 9090, "127.0.0.1", 10)
    assert build_parser().parse_args(["dashboard"]).port is None  # None: DASHBOARD_PORT decides
