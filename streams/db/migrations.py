"""Alembic, configured in code (no alembic.ini): upgrade, downgrade and current revision of a database.

Migrations run as the owner role (`DATABASE_ADMIN_URL`, falling back to `DATABASE_URL`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from streams.db.engine import make_engine, sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def _migrations_dir() -> Path:
    if (MIGRATIONS_DIR / "env.py").is_file():
        return MIGRATIONS_DIR
    import migrations  # installed as a package (non-editable install)

    return Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    """An Alembic Config for `database_url`; the URL travels in `attributes`, not the ini options."""
    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    config.attributes["database_url"] = sqlalchemy_url(database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    """The revision the database is at (None when never migrated)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://localhost/x")).get_current_head()
