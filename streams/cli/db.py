"""`spi-crrn db upgrade|downgrade|current|retention`: migrations and retention as the owner role.

Both run as DATABASE_ADMIN_URL (else DATABASE_URL): the writer role may not delete rows.
"""

from __future__ import annotations

import argparse
import logging

logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one INFO line per plugin


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="database migrations")
    sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = sub.add_parser("upgrade", help="migrate up to REV (default head)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_upgrade)
    downgrade = sub.add_parser("downgrade", help="migrate down to REV (default base: drops all tables)")
    downgrade.add_argument("revision", nargs="?", default="base")
    downgrade.set_defaults(func=cmd_downgrade)
    sub.add_parser("current", help="print the database's revision").set_defaults(func=cmd_current)
    retention = sub.add_parser(
        "retention", help="delete boards older than RETENTION_DAYS (and old aggregates) in bounded batches"
    )
    retention.add_argument("--days", type=int, help="keep this many days of boards (default RETENTION_DAYS)")
    retention.add_argument(
        "--hourly-days", type=int, help="keep this many days of printer-hour rows (RETENTION_HOURLY_DAYS)"
    )
    retention.add_argument("--batch", type=int, help="boards per transaction (default RETENTION_BATCH)")
    retention.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
    retention.set_defaults(func=cmd_retention)
    for p in (upgrade, downgrade, retention):
        p.add_argument(
            "--database-url", help="owner-role URL (default DATABASE_ADMIN_URL, else DATABASE_URL)"
        )


def _admin_url(args: argparse.Namespace) -> str:
    from streams.settings import Settings

    if getattr(args, "database_url", None):
        return str(args.database_url)
    settings = Settings.from_env()
    return settings.database_admin_url or settings.database_url


def cmd_upgrade(args: argparse.Namespace) -> int:
    from streams.db.engine import redact
    from streams.db.migrations import current_revision, upgrade

    url = _admin_url(args)
    upgrade(url, args.revision)
    print(f"{redact(url)}: at revision {current_revision(url)}")
    return 0


def cmd_downgrade(args: argparse.Namespace) -> int:
    from streams.db.engine import redact
    from streams.db.migrations import current_revision, downgrade

    url = _admin_url(args)
    downgrade(url, args.revision)
    print(f"{redact(url)}: at revision {current_revision(url) or 'base (empty)'}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from streams.db.engine import redact
    from streams.db.migrations import current_revision, head_revision

    url = _admin_url(args)
    current = current_revision(url)
    print(f"{redact(url)}: current {current or 'base (empty)'}, head {head_revision()}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from streams.db.engine import make_engine, redact
    from streams.db.retention import apply_retention
    from streams.settings import Settings

    settings = Settings.from_env()
    url = _admin_url(args)
    engine = make_engine(url)
    try:
        report = apply_retention(
            engine,
            days=settings.retention_days if args.days is None else args.days,
            hourly_days=settings.retention_hourly_days if args.hourly_days is None else args.hourly_days,
            batch=settings.retention_batch if args.batch is None else args.batch,
            dry_run=args.dry_run,
        )
    finally:
        engine.dispose()
    print(f"{redact(url)}: {report.summary()}")
    return 0
