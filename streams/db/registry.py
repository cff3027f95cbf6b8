"""The model registry: rows of `model_versions`, at most one active; the worker follows the active one.

`register` records a model file (version, path, sha256, config, metrics) without activating it;
`promote` makes one version the active one in a single transaction; `active` is what workers poll.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class ModelRecord:
    """One row of `model_versions`."""

    version: str
    path: str
    sha256: str
    kind: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    promoted_at: datetime | None
    is_active: bool


class UnknownModelVersionError(LookupError):
    """`promote` was given a version that was never registered."""


class ModelFileChangedError(ValueError):
    """A version is registered again with a different file content."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record(row: Any) -> ModelRecord:
    def as_dict(value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if isinstance(value, str):
            return dict(json.loads(value))
        return dict(value)

    return ModelRecord(
        version=row.version,
        path=row.path,
        sha256=row.sha256,
        kind=row.kind,
        config=as_dict(row.config),
        metrics=as_dict(row.metrics),
        promoted_at=row.promoted_at,
        is_active=bool(row.is_active),
    )


_COLUMNS = "version, path, sha256, kind, config, metrics, promoted_at, is_active"


def register(
    engine: Engine,
    version: str,
    path: Path,
    kind: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
) -> ModelRecord:
    """Record a model file (idempotent for the same version and file); does not activate it."""
    path = path.resolve()
    sha = file_sha256(path)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO model_versions (version, path, sha256, kind, config, metrics, is_active) "
                "VALUES (:version, :path, :sha256, :kind, CAST(:config AS jsonb), "
                "CAST(:metrics AS jsonb), false) "
                "ON CONFLICT (version) DO NOTHING"
            ),
            {
                "version": version,
                "path": str(path),
                "sha256": sha,
                "kind": kind,
                "config": json.dumps(config, default=str),
                "metrics": json.dumps(metrics, default=str),
            },
        )
        row = conn.execute(
            text(f"SELECT {_COLUMNS} FROM model_versions WHERE version = :v"), {"v": version}
        ).one()
    record = _record(row)
    if record.sha256 != sha:
        raise ModelFileChangedError(
            f"model version {version!r} is registered with sha256 {record.sha256[:12]}..., but {path} has "
            f"{sha[:12]}...: a version names one file content; give the new model a new version"
        )
    return record


def list_versions(engine: Engine) -> list[ModelRecord]:
    """All registered versions, the active one first, then newest promotion first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM model_versions "
                "ORDER BY is_active DESC, promoted_at DESC NULLS LAST, version"
            )
        ).all()
    return [_record(r) for r in rows]


def promote(engine: Engine, version: str) -> ModelRecord:
    """Make `version` the one active model (one transaction); workers pick it up on their next poll."""
    with engine.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM model_versions WHERE version = :v FOR UPDATE"), {"v": version}
        ).first()
        if exists is None:
            raise UnknownModelVersionError(
                f"model version {version!r} is not registered; run `spi-crrn models list` to see the "
                "versions, or `spi-crrn models register PATH` first"
            )
        conn.execute(
            text("UPDATE model_versions SET is_active = false WHERE is_active AND version <> :v"),
            {"v": version},
        )
        conn.execute(
            text("UPDATE model_versions SET is_active = true, promoted_at = now() WHERE version = :v"),
            {"v": version},
        )
        row = conn.execute(
            text(f"SELECT {_COLUMNS} FROM model_versions WHERE version = :v"), {"v": version}
        ).one()
    return _record(row)


def active(engine: Engine) -> ModelRecord | None:
    """The active model version, or None when none was promoted."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM model_versions WHERE is_active "
                "ORDER BY promoted_at DESC NULLS LAST LIMIT 1"
            )
        ).first()
    return None if row is None else _record(row)


def register_file(engine: Engine, path: Path) -> ModelRecord:
    """Load the model file (safe load: no code runs), then record it (`register`); returns its record."""
    from crrn.model_file import ModelBundle

    bundle = ModelBundle.load(path)
    return register(
        engine,
        bundle.version,
        path,
        kind=str(bundle.config.get("variant", "crrn")),
        config={**bundle.config, "window_length": bundle.window_length, "window_hop": bundle.window_hop},
        metrics=bundle.metrics,
    )
