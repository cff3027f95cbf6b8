"""Readiness of the worker: the reasons it is not ready, from facts the adapter gathers (pure).

`/healthz` is liveness: the process answers HTTP on its event loop (a blocked loop fails it). `/readyz`
is readiness: the worker is doing its job, so every condition below must hold; each failing one is a
reason in the 503 answer, so an operator reads *why* without opening the logs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HealthFacts:
    """What readiness is decided on (gathered per request by streams/app.py)."""

    in_group: bool  # the consumer group gave this worker an assignment (possibly empty: more workers
    # than partitions is a legal, ready state)
    database_error: str | None  # None: `SELECT 1` answered
    model_version: str | None  # None: no model loaded
    lag: int  # records behind, summed over the assigned partitions
    max_lag: int


def not_ready_reasons(facts: HealthFacts) -> list[str]:
    """Empty when ready; otherwise one line per failing condition."""
    reasons = []
    if not facts.in_group:
        reasons.append("not consuming: no partition assignment from the consumer group yet")
    if facts.database_error is not None:
        reasons.append(f"database unreachable: {facts.database_error}")
    if facts.model_version is None:
        reasons.append("no model loaded")
    if facts.lag > facts.max_lag:
        reasons.append(f"consumer lag {facts.lag} records > READY_MAX_LAG={facts.max_lag}")
    return reasons
