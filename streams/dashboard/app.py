"""The dashboard's aiohttp application: routes, the reporter-only database guard, static assets.

aiohttp is already installed (Faust depends on it), so no other web framework. Handlers run their
queries in a worker thread (SQLAlchemy + psycopg, a small pool, a 5 s statement timeout) and render
server-side; every asset comes from streams/dashboard/static, so the pages work offline.

Reporter only: `create_app` refuses a role that can read a raw table (board_inspections), so the
dashboard cannot be pointed at the writer or the owner by mistake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from aiohttp import web
from sqlalchemy import Connection, Engine, text

from streams.dashboard import queries, render

STATIC = Path(__file__).parent / "static"
T = TypeVar("T")


class NotReporterRoleError(RuntimeError):
    """The dashboard was given a database role that can read raw tables."""


@dataclass(frozen=True)
class DashboardOptions:
    refresh_s: int = 10
    boards: int = 6  # board maps on a printer page (at most queries.MAX_BOARDS)
    trend_boards: int = 100  # boards of a pad trend (at most queries.MAX_TREND_BOARDS)
    status_rule: queries.StatusRule = field(default_factory=queries.StatusRule)  # when not healthy
    recent_hours: float = 2.0  # the fine alarm-rate chart, from the boards
    bucket_minutes: int = 5
    hourly_days: float = 7.0  # the coarse alarm-rate chart, from the printer-hour aggregates
    defect_days: float = 7.0


def check_reporter(engine: Engine) -> str:
    """The connected role's name; NotReporterRoleError when it may read board_inspections."""
    with engine.connect() as conn:
        role, raw = conn.execute(
            text("SELECT current_user, has_table_privilege(current_user, 'board_inspections', 'SELECT')")
        ).one()
    if raw:
        raise NotReporterRoleError(
            f"role {role!r} can read the raw tables; the dashboard connects as the read-only reporting role "
            "only: set DATABASE_REPORTER_URL to the spi_reporter URL (see .spi-crrn/services.env)"
        )
    return str(role)


def create_app(engine: Engine, options: DashboardOptions | None = None) -> web.Application:
    """The web application on `engine` (the reporting role's engine; checked here)."""
    o = options or DashboardOptions()
    check_reporter(engine)

    async def read(fn: Callable[[Connection], T]) -> T:
        def run() -> T:
            with engine.connect() as conn:
                return fn(conn)

        return await asyncio.to_thread(run)

    def html(title: str, body: str, active: str = "") -> web.Response:
        return web.Response(text=render.page(title, body, o.refresh_s, active), content_type="text/html")

    async def index(request: web.Request) -> web.Response:
        now = datetime.now(UTC)
        rows = await read(lambda c: queries.printers(c, now, o.status_rule))
        return html("Printers", render.overview(rows, now, o.status_rule), "/")

    async def printer(request: web.Request) -> web.Response:
        pid = request.match_info["printer"]
        n = _int(request, "n", o.boards)

        def q(c: Connection) -> tuple[list[queries.BoardMap], list[queries.DefectRow]]:
            return queries.latest_boards(c, pid, n), queries.active_defects(c, pid)

        boards, defects = await read(q)
        return html(f"Printer {pid}: latest boards", render.printer_page(pid, boards, defects))

    async def pad(request: web.Request) -> web.Response:
        pid, pad_id = request.match_info["printer"], request.match_info["pad"]
        n = _int(request, "n", o.trend_boards)
        points = await read(lambda c: queries.pad_trend(c, pid, pad_id, n))
        return html(f"Pad {pad_id} of {pid}", render.pad_trend_page(pid, pad_id, points, n))

    async def trends(request: web.Request) -> web.Response:
        now = datetime.now(UTC)

        def q(c: Connection) -> tuple[list[queries.RatePoint], list[queries.RatePoint]]:
            return (
                queries.alarm_rate_recent(c, now, o.recent_hours, o.bucket_minutes),
                queries.alarm_rate_hourly(c, now, o.hourly_days),
            )

        recent, hourly = await read(q)
        body = render.rate_chart_svg(
            recent,
            f"Last {o.recent_hours:g} hours, {o.bucket_minutes}-minute buckets",
            now - timedelta(hours=o.recent_hours),
            now,
        ) + render.rate_chart_svg(
            hourly, f"Last {o.hourly_days:g} days, hourly", now - timedelta(days=o.hourly_days), now
        )
        return html("Alarm rate per printer", body, "/trends")

    async def defects(request: web.Request) -> web.Response:
        now = datetime.now(UTC)
        since = now - timedelta(days=o.defect_days)
        rows = await read(lambda c: queries.defect_timeline(c, since))
        return html("Defect timeline", render.defect_timeline(rows, since, now), "/defects")

    async def healthz(request: web.Request) -> web.Response:
        await read(lambda c: c.execute(text("SELECT 1")).scalar_one())
        return web.Response(text="ok\n")

    app = web.Application()
    app.add_routes(
        [
            web.get("/", index),
            web.get("/printers/{printer}", printer),
            web.get("/printers/{printer}/pads/{pad}", pad),
            web.get("/trends", trends),
            web.get("/defects", defects),
            web.get("/healthz", healthz),
            web.static("/static", STATIC),
        ]
    )
    return app


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}={request.query[name]!r}: send an integer") from None


def serve(engine: Engine, host: str, port: int, options: DashboardOptions | None = None) -> None:
    """Run the dashboard until interrupted (Ctrl-C)."""
    app = create_app(engine, options)
    print(f"dashboard on http://{host}:{port}/ (reporting role, Ctrl-C stops)", flush=True)
    web.run_app(app, host=host, port=port, print=None)
