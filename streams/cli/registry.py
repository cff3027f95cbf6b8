"""`spi-crrn models list|register|promote`: the model registry (table model_versions)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("models", help="list, register and promote model versions")
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    sub.add_parser("list", help="registered model versions, the active one first").set_defaults(func=cmd_list)
    p = sub.add_parser("register", help="record a model file (does not activate it)")
    p.add_argument("path", type=Path, help="model file written by `spi-crrn train`")
    p.add_argument("--promote", action="store_true", help="also make it the active version")
    p.set_defaults(func=cmd_register)
    p = sub.add_parser("promote", help="make VERSION the active model; running workers switch to it")
    p.add_argument("version", help="a version shown by `spi-crrn models list`")
    p.set_defaults(func=cmd_promote)


def _engine() -> Any:
    from streams.db.engine import make_engine
    from streams.settings import Settings

    return make_engine(Settings.from_env().database_url)


def cmd_list(args: argparse.Namespace) -> int:
    from streams.db import registry

    records = registry.list_versions(_engine())
    if not records:
        print("no model registered: `spi-crrn models register PATH --promote`")
        return 0
    print(f"{'':2}{'version':<18}{'kind':<14}{'promoted_at':<27}path")
    for r in records:
        promoted = r.promoted_at.isoformat(timespec="seconds") if r.promoted_at else "-"
        print(f"{'*' if r.is_active else ' ':2}{r.version:<18}{r.kind:<14}{promoted:<27}{r.path}")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from crrn.model_file import BundleError
    from streams.db import registry

    engine = _engine()
    try:
        record = registry.register_file(engine, args.path)
        if args.promote:
            record = registry.promote(engine, record.version)
    except (BundleError, registry.ModelFileChangedError) as exc:
        print(f"models register: {exc}", file=sys.stderr)
        return 2
    state = "active" if record.is_active else "registered (promote it to use it)"
    print(f"{record.version} {state}: {record.path}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from streams.db import registry

    try:
        record = registry.promote(_engine(), args.version)
    except registry.UnknownModelVersionError as exc:
        print(f"models promote: {exc}", file=sys.stderr)
        return 2
    print(f"{record.version} is now the active model; workers switch within their poll interval")
    return 0
