"""Readiness reasons: one per failing condition, none when ready."""

from __future__ import annotations

from dataclasses import replace

from streams.observability.health import HealthFacts, not_ready_reasons

READY = HealthFacts(in_group=True, database_error=None, model_version="m1", lag=10, max_lag=10)


def test_ready_when_every_condition_holds() -> None:
    assert not_ready_reasons(READY) == []


def test_each_failing_condition_is_one_reason() -> None:
    assert not_ready_reasons(replace(READY, in_group=False)) == [
        "not consuming: no partition assignment from the consumer group yet"
    ]
    assert not_ready_reasons(replace(READY, database_error="OperationalError: refused")) == [
        "database unreachable: OperationalError: refused"
    ]
    assert not_ready_reasons(replace(READY, model_version=None)) == ["no model loaded"]
    assert not_ready_reasons(replace(READY, lag=11)) == ["consumer lag 11 records > READY_MAX_LAG=10"]
    everything = replace(READY, in_group=False, database_error="x", model_version=None, lag=99)
    assert len(not_ready_reasons(everything)) == 4
