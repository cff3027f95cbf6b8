"""`spi-crrn services smoke` against the real services, on a fresh migrated database."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from streams.db.engine import make_engine
from streams.services.smoke import run_smoke
from streams.settings import Settings

pytestmark = pytest.mark.integration


def test_smoke_publishes_consumes_and_stores_one_row(settings: Settings, fresh_database) -> None:
    local = settings.with_(database_url=fresh_database.writer)

    lines = run_smoke(local)

    assert lines[-1] == "smoke: OK"
    engine = make_engine(fresh_database.admin)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status, n_pads, source_topic FROM board_inspections")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("pending", 3, settings.topic_inspections)]
