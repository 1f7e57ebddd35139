"""The JSON API: each handler parses its query, calls one library function, returns JSON.

The documents are the library's own: ``/api/report`` is what ``teamcost report --format
json`` prints for the same arguments (same parsing, same errors, the query parameter
named instead of the option), ``/api/budget`` what ``teamcost budget check --format json``
prints (without sending alerts: reading a page has no side effects), ``/api/live`` what
``teamcost watch --format json`` shows (without pulling). A bad value is a 400
``{"error": ..., "parameter": ...}``; nothing else about the server leaks into a response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from teamcost.errors import (
    BudgetError,
    ConfigError,
    InvalidValue,
    SyncError,
    TeamcostError,
)
from teamcost.web.live import Dashboard

log = logging.getLogger("teamcost.serve")

TAG_FILTERS = ("repo", "branch", "ticket")     # filters on attribution tags
WINDOW_PARAMS = ("since", "until", "member", "model", "agent", *TAG_FILTERS, "tz")
REPORT_PARAMS = ("since", "until", "by", "member", "model", "agent", *TAG_FILTERS, "tz")
# library field names -> this API's query parameters, where they differ
RENAMES = {"timezone": "tz"}
PING_EVERY_S = 15.0


class NotFound(TeamcostError):
    """Nothing to show at that address (no such session, no budget set)."""


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


def bad_request(exc: InvalidValue, renames: dict[str, str] = RENAMES) -> Response:
    """The library's error (it names fields) with this API's query parameters named."""
    param = renames.get(exc.field, exc.field)
    return _json({"error": exc.message(lambda f: renames.get(f, f)), "parameter": param}, 400)


def query(request: Request, allowed: tuple[str, ...], multi: tuple[str, ...] = ()
          ) -> dict[str, Any]:
    """The query as {name: value} ({name: [values]} for ``multi``); unknown or repeated
    names are refused, so a typo never silently means "no filter"."""
    out: dict[str, Any] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise InvalidValue(name, value, "one of the query parameters " + ", ".join(allowed)
                               if allowed else "no query parameters")
        if name in multi:
            out.setdefault(name, []).append(value)
        elif name in out:
            raise InvalidValue(name, request.query_params.getlist(name), "one value")
        else:
            out[name] = value
    return out


Handler = Callable[[Dashboard, Request], Any]


def endpoint(handler: Handler, renames: dict[str, str] = RENAMES
             ) -> Callable[[Request], Any]:
    """Run ``handler`` in a worker thread (pandas and SQLite block) and turn errors
    into JSON: 400 bad value, 404 nothing there, 503 Firestore unreachable."""

    async def route(request: Request) -> Response:
        dash: Dashboard = request.app.state.dashboard
        try:
            result = await run_in_threadpool(handler, dash, request)
        except InvalidValue as exc:
            return bad_request(exc, renames)
        except NotFound as exc:
            return _json({"error": str(exc)}, 404)
        except SyncError as exc:
            return _json({"error": str(exc)}, 503)
        except TeamcostError as exc:  # messages never carry secrets (errors.py)
            return _json({"error": str(exc)}, 500)
        except Exception:  # noqa: BLE001 - the details go to the server's log, not to the page
            log.error("teamcost serve: %s failed:\n%s", request.url.path,
                      traceback.format_exc().rstrip())
            return _json({"error": "internal error; the server's log says more"}, 500)
        return result if isinstance(result, Response) else _json(result)

    route.__name__ = handler.__name__
    route.__doc__ = handler.__doc__
    return route


def _window_args(dash: Dashboard, q: dict[str, Any]) -> tuple[Any, str, Any, Any]:
    """(window, tz, filters, now) parsed exactly as ``teamcost report`` parses them."""
    from teamcost.periods import parse_window
    from teamcost.reports.frames import Filters

    zone_name = q.get("tz") or dash.config.timezone
    now = dash.clock()
    window = parse_window(q.get("since", "7d"), q.get("until"), now, zone_name)
    tags = tuple((k, q[k]) for k in TAG_FILTERS if q.get(k) is not None)
    return (window, zone_name, Filters(q.get("member"), q.get("model"), q.get("agent"), tags),
            now)


def report(dash: Dashboard, request: Request) -> dict[str, Any]:
    """The teamcost.report/1 document for the window, grouping and filters."""
    from teamcost.reports.report import build_report, parse_by

    q = query(request, REPORT_PARAMS, multi=("by",))
    window, zone_name, filters, now = _window_args(dash, q)
    dims = parse_by(q.get("by"))
    # no pull per request: the cache is kept current by the agent or --pull-every
    return build_report(dash.config, window, by=dims, filters=filters, tz=zone_name, now=now,
                        refresh=False, budget=True, client=dash.client())


def chart(dash: Dashboard, request: Request) -> dict[str, Any]:
    """Spend per day stacked by member, model, agent or provider, with the budget line."""
    from teamcost.reports.chart import CHART_BY, window_chart
    from teamcost.reports.live import load_budget_line

    q = query(request, (*WINDOW_PARAMS, "stack"))
    window, zone_name, filters, now = _window_args(dash, q)
    stack = q.get("stack", "member")
    if stack not in CHART_BY:
        raise InvalidValue("stack", stack, ", ".join(CHART_BY))
    return window_chart(dash.config, window.since, window.until, by=stack,
                        tz=zone_name, filters=filters, now=now,
                        budget=load_budget_line(dash.config, dash.client()),
                        client=dash.client()).to_dict()


def tags(dash: Dashboard, request: Request) -> dict[str, Any]:
    """Spend by the value of one tag (default ``project``) in the window."""
    from teamcost.reports.tags import DEFAULT_TAG, tag_breakdown

    q = query(request, (*WINDOW_PARAMS, "key"))
    window, _zone, filters, _now = _window_args(dash, q)
    key = q.get("key", DEFAULT_TAG)
    return {"key": key, "rows": tag_breakdown(dash.config, window.since, window.until,
                                              key=key, filters=filters,
                                              client=dash.client())}


def live(dash: Dashboard, request: Request) -> dict[str, Any]:
    """Today and the budget period so far, from what is stored (no pull)."""
    from teamcost.reports.live import stored_snapshot

    query(request, ())
    snap = stored_snapshot(dash.config, dash.clock(), dash.client())
    d = snap.to_dict()
    d["source"] = "team" if dash.config.project else "local"  # not this server's file paths
    d["pull"] = dict(dash.pull_state)
    return d


def budget(dash: Dashboard, request: Request) -> dict[str, Any]:
    """The team's budget status: the facts of ``teamcost budget check --format json``."""
    from teamcost.budget.check import check

    q = query(request, ("estimate",))
    try:
        status = check(dash.config, q.get("estimate"), client=dash.client(), now=dash.clock(),
                       alerts=False)
    except (ConfigError, BudgetError) as exc:
        raise NotFound(str(exc)) from None
    return status.to_dict()


def alerts(dash: Dashboard, request: Request) -> dict[str, Any]:
    """The team's most recent budget alerts, newest first."""
    from teamcost.budget.recent import recent_alerts

    q = query(request, ("limit",))
    limit = q.get("limit", "10")
    if not re.fullmatch(r"\d{1,3}", limit) or not 1 <= int(limit) <= 100:
        raise InvalidValue("limit", limit, "a whole number from 1 to 100")
    return {"alerts": recent_alerts(dash.config, dash.client(), int(limit))}


def session(dash: Dashboard, request: Request) -> dict[str, Any]:
    """One session: its summary and its calls, newest first."""
    from teamcost.reports.calls import session_detail

    query(request, ())
    sid = request.path_params["session_id"]
    detail = session_detail(dash.config, sid, client=dash.client())
    if detail is None:
        raise NotFound(f"no calls of session {sid!r} are stored here")
    return detail


def calls(dash: Dashboard, request: Request) -> dict[str, Any]:
    """Calls newest first, a page at a time (keyset cursor: each call exactly once)."""
    from teamcost.periods import parse_point
    from teamcost.reports.calls import Cursor, calls_page, check_limit

    q = query(request, ("since", "limit", "cursor"))
    since = (parse_point("since", q["since"], dash.clock(), dash.config.timezone,
                         end_of_day=False) if "since" in q else None)
    cursor = Cursor.decode(q["cursor"]) if q.get("cursor") else None
    return calls_page(dash.config, since=since, limit=check_limit(q.get("limit", "50")),
                      cursor=cursor, client=dash.client()).to_dict()


async def events(request: Request) -> Response:
    """Server-Sent Events: ``calls`` when new calls are stored, ``budget`` when the
    budget level changes; a comment every 15 s keeps proxies from closing the stream."""
    dash: Dashboard = request.app.state.dashboard
    if request.query_params:
        try:
            query(request, ())
        except InvalidValue as exc:
            return bad_request(exc)
    q = dash.hub.subscribe()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            hello = {**(dash.fingerprint.to_dict() if dash.fingerprint else {}),
                     "budget_level": (dash.budget_state or {}).get("level")}
            yield _sse("hello", hello)
            idle = 0.0
            while not dash.closing and (dash.stopping is None or not dash.stopping.is_set()):
                try:
                    event, data = await asyncio.wait_for(q.get(), timeout=1.0)
                except TimeoutError:
                    idle += 1.0
                    if idle >= PING_EVERY_S:
                        idle = 0.0
                        yield ": ping\n\n"
                    continue
                idle = 0.0
                yield _sse(event, data)
        finally:
            dash.hub.unsubscribe(q)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
