"""Alembic environment: online migrations on the URL that `streams.db.migrations` put in the config."""

from __future__ import annotations

from alembic import context

from streams.db.engine import make_engine, sqlalchemy_url

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database URL: run migrations with `spi-crrn db upgrade` (uses DATABASE_ADMIN_URL)"
        )
    return sqlalchemy_url(str(url))


def run_offline() -> None:
    context.configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
