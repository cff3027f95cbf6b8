"""The worker's HTTP endpoints in an aiohttp test server (no Faust)."""

from __future__ import annotations

import asyncio
import socket

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, Counter

from streams.observability.http import make_app, serve


def run(reasons: list[str], path: str) -> tuple[int, str, str]:
    registry = CollectorRegistry()
    Counter("spi_crrn_test_things", "things", registry=registry).inc(3)

    async def ready() -> list[str]:
        return reasons

    async def go() -> tuple[int, str, str]:
        async with TestClient(TestServer(make_app(registry, ready))) as client:
            response = await client.get(path)
            return response.status, await response.text(), response.headers["Content-Type"]

    return asyncio.run(go())


def test_healthz_is_200_while_the_loop_answers() -> None:
    assert run(["anything"], "/healthz")[:2] == (200, "ok\n")


def test_readyz_is_200_when_ready_and_503_with_the_reasons_otherwise() -> None:
    assert run([], "/readyz")[:2] == (200, "ready\n")
    status, body, _ = run(["database unreachable: refused", "no model loaded"], "/readyz")
    assert status == 503
    assert body == "not ready\n- database unreachable: refused\n- no model loaded\n"


def test_metrics_is_the_prometheus_text_format() -> None:
    status, body, content_type = run([], "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert "spi_crrn_test_things_total 3.0" in body


def test_a_taken_port_is_logged_not_fatal() -> None:
    async def go() -> object:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]

            async def ready() -> list[str]:
                return []

            return await serve(make_app(CollectorRegistry(), ready), port, host="127.0.0.1")

    assert asyncio.run(go()) is None
