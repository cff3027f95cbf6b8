"""URL conversions between libpq and SQLAlchemy forms."""

from __future__ import annotations

import pytest

from streams.db.engine import (
    database_name,
    libpq_url,
    make_engine,
    redact,
    sqlalchemy_url,
    with_database,
    with_user,
)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@h:5/d",
        "postgresql://u:p@h:5/d",
        "postgresql+psycopg2://u:p@h:5/d",
        "postgresql+psycopg://u:p@h:5/d",
    ],
)
def test_conversions(url: str) -> None:
    assert sqlalchemy_url(url) == "postgresql+psycopg://u:p@h:5/d"
    assert libpq_url(url) == "postgresql://u:p@h:5/d"


def test_database_and_user_swaps_keep_server() -> None:
    url = "postgresql+psycopg://admin:s3cret@db.example:6543/spi_crrn"
    assert with_database(url, "other") == "postgresql+psycopg://admin:s3cret@db.example:6543/other"
    assert with_user(url, "spi_reporter") == "postgresql+psycopg://spi_reporter@db.example:6543/spi_crrn"
    assert database_name(url) == "spi_crrn"
    assert "s3cret" not in redact(url)


def test_escaped_password_survives() -> None:
    assert libpq_url("postgresql+psycopg://u:p%40ss@h/d") == "postgresql://u:p%40ss@h/d"


@pytest.mark.parametrize("bad", ["mysql://u@h/d", "not a url"])
def test_non_postgres_url_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="postgresql"):
        sqlalchemy_url(bad)


def test_engine_uses_psycopg3_without_connecting() -> None:
    engine = make_engine("postgresql://u@127.0.0.1:1/d")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()
