"""The model registry on a real database: register, list, promote, and the worker's hot swap on promotion."""

from __future__ import annotations

from pathlib import Path

import pytest

from crrn.model_file import ModelBundle
from streams.db import registry
from streams.db.engine import make_engine
from streams.db.registry import register_file
from streams.model_source import ModelSource, NoModelError

pytestmark = pytest.mark.integration


def test_register_promote_and_hot_swap(fresh_database: object, tiny_model: Path, tmp_path: Path) -> None:
    engine = make_engine(fresh_database.writer)  # type: ignore[attr-defined]
    try:
        with pytest.raises(NoModelError, match="models register"):
            ModelSource(lambda: registry.active(engine), "cpu")
        first = register_file(engine, tiny_model)
        assert registry.active(engine) is None  # registering does not activate
        registry.promote(engine, first.version)
        source = ModelSource(lambda: registry.active(engine), "cpu")
        assert source.version == first.version
        assert source.refresh() is False

        other = ModelBundle.load(tiny_model)
        other.metrics = {**other.metrics, "note": "second version"}
        second = register_file(engine, other.save(tmp_path / "second.pt"))
        assert second.version != first.version
        assert register_file(engine, tmp_path / "second.pt").version == second.version  # idempotent
        registry.promote(engine, second.version)
        assert next(r.version for r in registry.list_versions(engine)) == second.version
        assert [r.is_active for r in registry.list_versions(engine)] == [True, False]
        assert source.refresh() is True
        assert source.scorer.model_version == second.version

        with pytest.raises(registry.UnknownModelVersionError, match="models list"):
            registry.promote(engine, "no-such-version")
    finally:
        engine.dispose()
