"""SQLAlchemy 2 engines on the psycopg 3 driver, and conversions between libpq and SQLAlchemy URLs.

Settings carry SQLAlchemy URLs (`postgresql+psycopg://user@host:port/db`); plain libpq URLs
(`postgresql://...` or `postgres://...`) are accepted everywhere and converted here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

DRIVER = "postgresql+psycopg"


def sqlalchemy_url(url: str) -> str:
    """Any PostgreSQL URL -> `postgresql+psycopg://...` (other drivers are replaced by psycopg 3)."""
    parsed = _parse(url)
    return parsed.set(drivername=DRIVER).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """Any PostgreSQL URL -> `postgresql://...` for psycopg.connect / psql."""
    parsed = _parse(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def redact(url: str) -> str:
    """The URL with its password replaced by `***`, safe to print."""
    return _parse(url).render_as_string(hide_password=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An Engine for `url` on psycopg 3, with connection liveness checks."""
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(sqlalchemy_url(url), **kwargs)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ValueError(
            "database URL is not a URL: use postgresql+psycopg://USER[:PASSWORD]@HOST:PORT/DBNAME"
        ) from exc
    backend = parsed.drivername.split("+", 1)[0]
    if backend not in ("postgresql", "postgres"):
        raise ValueError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} is not PostgreSQL: "
            "use postgresql+psycopg://USER@HOST:PORT/DBNAME"
        )
    return parsed
