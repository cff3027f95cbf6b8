"""URL conversions between libpq and SQLAlchemy forms."""

from __future__ import annotations

import pytest

from streams.db.engine import libpq_url, make_engine, redact, sqlalchemy_url


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


def test_redact_hides_the_password() -> None:
    url = "postgresql+psycopg://admin:s3cret@db.example:6543/spi_crrn"
    assert redact(url) == "postgresql+psycopg://admin:***@db.example:6543/spi_crrn"


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
