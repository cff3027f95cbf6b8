"""Test support: derive the URL of another database or role on the same server (per-test databases)."""

from __future__ import annotations

from sqlalchemy.engine import make_url


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database (keeps the URL's driver)."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same server and database, another role (password dropped unless given)."""
    return make_url(url)._replace(username=user, password=password).render_as_string(hide_password=False)
