"""A local HTTP server speaking Cursor's Admin API and GitHub's Copilot billing REST API as
their documentation describes them, over a dataset the test sets.

Cursor (root ``http://host:port/cursor``), Basic auth with the admin key as user name and an
empty password; errors ``{"error": ..., "message": ...}``:
  POST /teams/filtered-usage-events  JSON body {startDate, endDate (epoch ms, inclusive),
      email, userId, page (from 1, default 1), pageSize (default 10)}; at most 30 days per
      request; answers {totalUsageEventsCount, pagination: {numPages, currentPage, pageSize,
      hasNextPage, hasPreviousPage}, usageEvents: [...], period: {startDate, endDate}},
      newest first, events as given (timestamp a string of epoch ms)
GitHub (root ``http://host:port/github``), ``Authorization: Bearer`` token; errors
``{"message": ..., "documentation_url": ...}``:
  GET /orgs/{org}/copilot/billing/seats  per_page (max 100), page -> {total_seats, seats}
  GET /organizations/{org}/settings/billing/{premium_request|ai_credit}/usage  year, month,
      day, user, model, product -> {timePeriod, organization, user, usageItems}; items of
      the dataset for (report, user, day) summed per (product, sku, model), amounts as
      JSON numbers of dollars

``faults`` queues raw answers (status, body, headers) served before the next real one.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.json_http import JSONHandler

CURSOR_EVENTS = "/cursor/teams/filtered-usage-events"
CURSOR_SPEND = "/cursor/teams/spend"
DAY_MS = 86_400_000


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class VendorAPIServer:
    cursor_key: str = "key_" + "c" * 64
    github_token: str = "ghp_" + "g" * 36
    cursor_events: list[dict[str, Any]] = field(default_factory=list)
    # /teams/spend: the cycle start (epoch ms) and extra cents per e-mail beyond the events'
    cursor_cycle_start: int = 1_793_491_200_000          # 2026-11-01T00:00:00Z
    cursor_spend_extra: dict[str, Decimal] = field(default_factory=dict)
    github_org: str = "acme"
    github_seats: list[str] = field(default_factory=list)
    # (report, login, day) -> usage items
    github_usage: dict[tuple[str, str, date], list[dict[str, Any]]] = field(default_factory=dict)
    github_reports: tuple[str, ...] = ("premium_request", "ai_credit")
    github_raw: bool = False     # serve the dataset's items as given (a test's garbage)
    faults: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def cursor_root(self) -> str:
        return f"http://127.0.0.1:{self.port}/cursor"

    @property
    def github_root(self) -> str:
        return f"http://127.0.0.1:{self.port}/github"


class BadRequest(Exception):
    pass


def _ms(event: Any) -> int | None:
    if not isinstance(event, dict):
        return None
    ts = str(event.get("timestamp"))
    return int(ts) if ts.isdigit() else None


def _cursor(srv: VendorAPIServer, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    page = body.get("page", 1)
    size = body.get("pageSize", 10)
    if type(page) is not int or page < 1 or type(size) is not int or not 1 <= size <= 1000:
        raise BadRequest("page and pageSize must be positive integers")
    end = body.get("endDate")
    start = body.get("startDate")
    end = int(end) if end is not None else 4_102_444_800_000
    start = int(start) if start is not None else end - 30 * DAY_MS
    if end - start > 30 * DAY_MS:
        raise BadRequest("Date range cannot exceed 30 days")
    # an event whose timestamp is not a number (a test's garbage) is in every window
    rows = [e for e in srv.cursor_events if (_ms(e) is None or start <= (_ms(e) or 0) <= end)
            and (body.get("email") is None
                 or (isinstance(e, dict) and e.get("userEmail") == body["email"]))]
    rows.sort(key=lambda e: -(_ms(e) or 0))
    pages = max(1, -(-len(rows) // size))
    part = rows[(page - 1) * size: page * size]
    return {"totalUsageEventsCount": len(rows),
            "pagination": {"numPages": pages, "currentPage": page, "pageSize": size,
                           "hasNextPage": page < pages, "hasPreviousPage": page > 1},
            "usageEvents": part, "period": {"startDate": start, "endDate": end}}


def _spend(srv: VendorAPIServer, body: Any) -> dict[str, Any]:
    """{teamMemberSpend: [{spendCents, fastPremiumRequests, name, email, role,
    hardLimitOverrideDollars}], subscriptionCycleStart, totalMembers, totalPages}: the
    usage-based events' chargedCents since the cycle start, per e-mail."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    page, size = body.get("page", 1), body.get("pageSize", 10)
    cents: dict[str, Decimal] = dict(srv.cursor_spend_extra)
    for e in srv.cursor_events:
        if (isinstance(e, dict) and (_ms(e) or 0) >= srv.cursor_cycle_start
                and "usage" in str(e.get("kind", "")).lower().replace("_", "-")
                and "based" in str(e.get("kind", "")).lower()):
            email = str(e.get("userEmail"))
            cents[email] = cents.get(email, Decimal(0)) + Decimal(str(
                e.get("chargedCents", e.get("tokenUsage", {}).get("totalCents", 0))))
    members = sorted(cents)
    pages = max(1, -(-len(members) // size))
    part = members[(page - 1) * size: page * size]
    return {"teamMemberSpend": [{"spendCents": cents[m], "fastPremiumRequests": 0,
                                 "name": m.split("@")[0], "email": m, "role": "member",
                                 "hardLimitOverrideDollars": 0} for m in part],
            "subscriptionCycleStart": srv.cursor_cycle_start, "totalMembers": len(members),
            "totalPages": pages}


def _github(srv: VendorAPIServer, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
    q = {k: v[-1] for k, v in query.items()}
    seats = f"/github/orgs/{srv.github_org}/copilot/billing/seats"
    if path == seats:
        per = int(q.get("per_page", "50"))
        page = int(q.get("page", "1"))
        if not 1 <= per <= 100:
            return 422, {"message": "per_page must be between 1 and 100"}
        part = srv.github_seats[(page - 1) * per: page * per]
        return 200, {"total_seats": len(srv.github_seats),
                     "seats": [{"created_at": "2026-01-01T00:00:00Z", "plan_type": "business",
                                "assignee": {"login": login, "id": 1000 + i, "type": "User"}}
                               for i, login in enumerate(part)]}
    prefix = f"/github/organizations/{srv.github_org}/settings/billing/"
    if not path.startswith(prefix) or not path.endswith("/usage"):
        return 404, {"message": "Not Found"}
    report = path[len(prefix):-len("/usage")]
    if report not in srv.github_reports:
        return 404, {"message": "Not Found"}
    now = datetime.now(UTC)
    year, month = int(q.get("year", now.year)), int(q.get("month", now.month))
    day = q.get("day")
    user = q.get("user")
    sums: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (rep, login, d), items in srv.github_usage.items():
        if rep != report or (d.year, d.month) != (year, month):
            continue
        if day is not None and d.day != int(day):
            continue
        if user is not None and login.casefold() != user.casefold():
            continue
        for item in items:
            if srv.github_raw:
                sums[(str(len(sums)), "", "")] = item
                continue
            k = (item["product"], item["sku"], item["model"])
            acc = sums.setdefault(k, {**item, **{n: 0 for n in (
                "grossQuantity", "grossAmount", "discountQuantity", "discountAmount",
                "netQuantity", "netAmount")}})
            for n in ("grossQuantity", "grossAmount", "discountQuantity", "discountAmount",
                      "netQuantity", "netAmount"):
                acc[n] = Decimal(str(acc[n])) + Decimal(str(item[n]))
    period: dict[str, int] = {"year": year, "month": month}
    if day is not None:
        period["day"] = int(day)
    out: dict[str, Any] = {"timePeriod": period, "organization": srv.github_org}
    if user is not None:
        out["user"] = user
    out["usageItems"] = list(sums.values())
    return 200, out


def serve(srv: VendorAPIServer) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(JSONHandler):
        def _seen(self, method: str, body: Any) -> tuple[str, dict[str, list[str]]]:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            path = unquote(parts.path)
            srv.requests.append(Seen(method, path, query, body,
                                     {k.lower(): v for k, v in self.headers.items()}))
            return path, query

        def _fault(self) -> bool:
            if srv.faults:
                status, body, headers = srv.faults.pop(0)
                self._send(status, body, headers)
                return True
            return False

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            path, _ = self._seen("POST", body)
            if self._fault():
                return
            if path not in (CURSOR_EVENTS, CURSOR_SPEND):
                self._send(404, {"error": "Not Found", "message": f"no route {path}"})
                return
            want = "Basic " + base64.b64encode(f"{srv.cursor_key}:".encode()).decode()
            if self.headers.get("authorization") != want:
                self._send(401, {"error": "Unauthorized", "message": "Invalid API key"})
                return
            try:
                self._send(200, _cursor(srv, body) if path == CURSOR_EVENTS
                           else _spend(srv, body))
            except BadRequest as exc:
                self._send(400, {"error": "Bad Request", "message": str(exc)})

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path, query = self._seen("GET", None)
            if self._fault():
                return
            if self.headers.get("authorization") != f"Bearer {srv.github_token}":
                self._send(401, {"message": "Bad credentials",
                                 "documentation_url": "https://docs.github.com/rest"})
                return
            status, body = _github(srv, path, query)
            self._send(status, body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread
