"""The worker's HTTP server: `/metrics` (Prometheus text format), `/healthz` and `/readyz`.

An aiohttp app on the worker's own event loop (aiohttp comes with Faust), not prometheus-client's
threaded server: the scrape-time series and the readiness facts read the pipeline core's state, which
only the event loop may touch (a server thread would iterate its dicts while the loop changes them), and
`/healthz` answering from that loop is a real liveness check (a loop that is blocked fails it). The
database probe of `/readyz` runs in a thread with a timeout, never on the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[list[str]]]


def make_app(registry: CollectorRegistry, ready: ReadyCheck) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        reasons = await ready()
        if reasons:
            return web.Response(status=503, text="not ready\n" + "".join(f"- {r}\n" for r in reasons))
        return web.Response(text="ready\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve(app: web.Application, port: int, host: str = "0.0.0.0") -> web.AppRunner | None:
    """Start serving on the running loop; None (and an error logged) when the port cannot be bound: the
    worker keeps consuming without its HTTP endpoints rather than stopping the line's alarms."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        log.error("metrics/health server not started on %s:%d: %s (set METRICS_PORT)", host, port, exc)
        await runner.cleanup()
        return None
    log.info("metrics on http://%s:%d/metrics, health on /healthz and /readyz", host, port)
    return runner
