"""The ASGI app of `teamcost serve`: routes, the page, and the background tasks.

``create_app`` is what the server runs and what tests drive (Starlette's TestClient or
a real uvicorn): the page and its assets from ``static/``, the JSON API (``api.py``),
its OpenAPI document, Server-Sent Events, all behind ``security.Guard``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from teamcost.web import api
from teamcost.web.live import Dashboard, pull_loop, watch
from teamcost.web.openapi import openapi_document
from teamcost.web.security import Guard

if TYPE_CHECKING:
    from teamcost.config import Config

STATIC = Path(__file__).resolve().parent / "static"


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def index(request: Request) -> Response:
    # the page is small and changes with upgrades: always revalidate
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def login_without_token(request: Request) -> Response:
    # no token configured: nothing to log in to (Guard answers /login when there is one)
    return RedirectResponse("/", status_code=303)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": f"{detail}: {request.url.path}"}, status_code=status)
    return Response(f"{detail}\n", status_code=status, media_type="text/plain")


def _metrics_endpoint(config: Config, members: bool,
                      budget_every: float) -> Callable[[Request], Any]:
    """``GET /metrics``: Prometheus metrics computed from the stored calls at each scrape
    (teamcost.reports.metrics), behind the same Guard as the dashboard. The budget is read
    at most every ``budget_every`` seconds; the agent's health comes from its snapshot."""
    state: dict[str, Any] = {}

    def registry() -> Any:
        if "registry" not in state:   # pyarrow and prometheus-client load on first scrape
            from teamcost.agent.snapshot import load_snapshot
            from teamcost.errors import TeamcostError
            from teamcost.reports import metrics

            def agent() -> Any:
                try:
                    return load_snapshot(config.home)
                except TeamcostError:
                    return None
            state["registry"] = metrics.registry_for(metrics.TeamcostCollector(
                config, member_label=members, agent=agent,
                budget=metrics.Cached(metrics.budget_reader(config), max(budget_every, 1.0))))
        return state["registry"]

    async def endpoint(request: Request) -> Response:
        from teamcost.reports.metrics import exposition

        def render() -> tuple[bytes, str]:
            return exposition(registry(), request.headers.get("accept"))
        body, ctype = await asyncio.to_thread(render)
        return Response(body, media_type=ctype, headers={"Cache-Control": "no-store"})
    return endpoint


def create_app(config: Config, *, token: str | None = None,
               clock: Callable[[], datetime] | None = None, pull_every: float = 0.0,
               poll_every: float = 1.0, budget_every: float = 30.0,
               metrics_members: bool = False) -> Starlette:
    """The dashboard app over ``config``'s data. ``pull_every`` > 0 pulls in the
    background (when a project is configured); ``clock`` is the time the numbers are
    computed at (tests pin it)."""
    dash = Dashboard(config, clock or _utc_now, token=token, pull_every=pull_every,
                     poll_every=poll_every, budget_every=budget_every)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dash.stopping = asyncio.Event()
        tasks = [asyncio.create_task(watch(dash), name="teamcost-watch")]
        if config.project:   # with pull_every 0 it refreshes only the rollup copy, if any
            tasks.append(asyncio.create_task(pull_loop(dash), name="teamcost-pull"))
        try:
            yield
        finally:
            dash.stopping.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(dash.close)

    scrape = _metrics_endpoint(config, metrics_members, budget_every)
    chart_renames = {**api.RENAMES, "--by": "stack"}
    routes = [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Route("/openapi.json", openapi),
        Route("/login", login_without_token),
        Route("/api/report", api.endpoint(api.report)),
        Route("/api/chart", api.endpoint(api.chart, chart_renames)),
        Route("/api/tags", api.endpoint(api.tags)),
        Route("/api/live", api.endpoint(api.live)),
        Route("/api/budget", api.endpoint(api.budget)),
        Route("/api/alerts", api.endpoint(api.alerts)),
        Route("/api/sessions/{session_id:path}", api.endpoint(api.session)),
        Route("/api/calls", api.endpoint(api.calls)),
        Route("/api/events", api.events),
        Route("/metrics", scrape),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token)],
                    lifespan=lifespan,
                    exception_handlers={HTTPException: http_error})
    app.state.dashboard = dash
    return app


def api_paths(app: Any) -> set[str]:
    """The API routes the app serves (the OpenAPI document must list each)."""
    return {re.sub(r":\w+}", "}", r.path) for r in app.routes
            if isinstance(r, Route) and r.path.startswith("/api/")}
