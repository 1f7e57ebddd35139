"""A local HTTP server speaking Anthropic's Usage & Cost Admin API and OpenAI's organisation
Usage and Costs API, as documented, over a dataset the test sets.

Anthropic (root ``http://host:port``):
  GET /v1/organizations/usage_report/messages  starting_at, ending_at (RFC 3339),
      bucket_width=1d, group_by[] (api_key_id, workspace_id, model, service_tier,
      context_window, ...), limit (1-31 daily buckets), page
  GET /v1/organizations/cost_report  same window, group_by[] (workspace_id, description),
      limit 1-31, page; ``amount`` a decimal string of cents
  headers x-api-key (the admin key) and anthropic-version; errors are
  {"type": "error", "error": {"type": ..., "message": ...}}
OpenAI (root ``http://host:port/v1``):
  GET /v1/organization/usage/completions  start_time, end_time (Unix s), bucket_width=1d,
      group_by[] (project_id, user_id, api_key_id, model, batch, service_tier; arrays in
      brackets, as the official SDK encodes them), limit (1-31), page
  GET /v1/organization/costs  group_by[] (project_id, line_item, ...), limit 1-180;
      ``amount.value`` a JSON number of dollars
  header Authorization: Bearer (the admin key); errors are {"error": {"message", "type",
  "param", "code"}}; a wrong key is echoed masked, as OpenAI does

Results are grouped by exactly the requested ``group_by`` fields (the others come back
null and numbers are summed), every day of the window gets a bucket (empty results
included), and pages hold ``min(limit, page_cap)`` buckets with an opaque ``next_page``.
``faults`` queues raw answers (status, body, headers) served before the next real one.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.json_http import JSONHandler

ANTHROPIC_USAGE = "/v1/organizations/usage_report/messages"
ANTHROPIC_COST = "/v1/organizations/cost_report"
OPENAI_USAGE = "/v1/organization/usage/completions"
OPENAI_COST = "/v1/organization/costs"

ANTHROPIC_USAGE_GROUPS = {"api_key_id", "workspace_id", "model", "service_tier",
                          "context_window", "inference_geo", "speed", "account_id",
                          "service_account_id"}
ANTHROPIC_COST_GROUPS = {"workspace_id", "description"}
# the fields of a cost result that group_by[]=description fills in
ANTHROPIC_DESCRIPTION_FIELDS = ("description", "cost_type", "token_type", "model",
                                "service_tier", "context_window", "inference_geo")
OPENAI_USAGE_GROUPS = {"project_id", "user_id", "api_key_id", "model", "batch",
                       "service_tier", "api_source"}
OPENAI_COST_GROUPS = {"project_id", "user_id", "line_item", "api_key_id", "api_source"}


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class AdminAPIServer:
    key: str
    anthropic_usage: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    anthropic_cost: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    openai_usage: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    openai_cost: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    page_cap: int | None = None
    faults: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def anthropic_root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_root(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]


class BadRequest(Exception):
    pass


def _rfc3339(value: str, name: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: invalid RFC 3339 timestamp") from None
    if ts.tzinfo is None:
        raise BadRequest(f"{name}: timestamp needs a timezone")
    return ts.astimezone(UTC)


def _one(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise BadRequest(f"{name}: given {len(values)} times")
    return values[0]


def _limit(query: dict[str, list[str]], default: int, maximum: int) -> int:
    raw = _one(query, "limit", str(default))
    try:
        n = int(raw or "")
    except ValueError:
        raise BadRequest("limit: not an integer") from None
    if not 1 <= n <= maximum:
        raise BadRequest(f"limit: must be between 1 and {maximum}")
    return n


def _group(rows: list[dict[str, Any]], keys: set[str], dims: tuple[str, ...]) -> list[dict]:
    """Sum ``rows`` over every dimension not in ``keys`` (those come back null)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        ident = tuple(row.get(d) if d in keys else None for d in dims)
        acc = out.get(ident)
        if acc is None:
            out[ident] = json.loads(json.dumps(row, default=str))  # a deep copy
            for d in dims:
                if d not in keys:
                    out[ident][d] = None
            continue
        _add(acc, row)
    return list(out.values())


def _add(acc: dict[str, Any], row: dict[str, Any]) -> None:
    for k, v in row.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            acc[k] = acc.get(k, 0) + v
        elif isinstance(v, dict):
            _add(acc.setdefault(k, {}), v)
        elif k in ("amount", "value") and isinstance(v, (str, Decimal)):
            acc[k] = str(Decimal(str(acc.get(k, "0"))) + Decimal(str(v)))


def _token(offset: int) -> str:
    return "page_" + base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(page: str | None) -> int:
    if page is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(page.removeprefix("page_")).decode()
                   .removeprefix("offset:"))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("page: invalid cursor") from None


def _days(start: date, end: date) -> Iterator[date]:
    d = start
    while d < end:
        yield d
        d += timedelta(days=1)


def _anthropic(srv: AdminAPIServer, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
    usage = path == ANTHROPIC_USAGE
    allowed = ({"starting_at", "ending_at", "bucket_width", "group_by[]", "limit", "page",
                "models[]", "api_key_ids[]", "workspace_ids[]", "service_tiers[]",
                "context_window[]"} if usage else
               {"starting_at", "ending_at", "bucket_width", "group_by[]", "limit", "page"})
    unknown = set(query) - allowed
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    start_raw = _one(query, "starting_at")
    if start_raw is None:
        raise BadRequest("starting_at: Field required")
    start = _rfc3339(start_raw, "starting_at")
    width = _one(query, "bucket_width", "1d")
    if width != "1d":
        raise BadRequest("bucket_width: this server serves daily buckets only" if usage
                         else "bucket_width: Input should be '1d'")
    end_raw = _one(query, "ending_at")
    end = _rfc3339(end_raw, "ending_at") if end_raw else start + timedelta(days=7)
    groups = set(query.get("group_by[]", []))
    valid = ANTHROPIC_USAGE_GROUPS if usage else ANTHROPIC_COST_GROUPS
    if groups - valid:
        raise BadRequest(f"group_by[]: unsupported value(s) {sorted(groups - valid)}")
    limit = _limit(query, 7, 31)
    data = srv.anthropic_usage if usage else srv.anthropic_cost
    # buckets snap to the start of the UTC day; those ending after ending_at are left out
    days = [d for d in _days(start.date(), end.date() + timedelta(days=1))
            if datetime.combine(d + timedelta(days=1), time(0), UTC) <= end]
    offset = _offset(_one(query, "page"))
    size = min(limit, srv.page_cap or limit)
    page_days = days[offset:offset + size]
    if usage:
        dims: tuple[str, ...] = tuple(sorted(ANTHROPIC_USAGE_GROUPS))
        keys = groups
    else:
        dims = ("workspace_id", *ANTHROPIC_DESCRIPTION_FIELDS)
        keys = ({"workspace_id"} & groups) | (set(ANTHROPIC_DESCRIPTION_FIELDS)
                                              if "description" in groups else set())
    buckets = [{"starting_at": f"{d.isoformat()}T00:00:00Z",
                "ending_at": f"{(d + timedelta(days=1)).isoformat()}T00:00:00Z",
                "results": _group(data.get(d, []), keys, dims)} for d in page_days]
    more = offset + size < len(days)
    return {"data": buckets, "has_more": more, "next_page": _token(offset + size) if more else None}


def _openai(srv: AdminAPIServer, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
    usage = path == OPENAI_USAGE
    allowed = {"start_time", "end_time", "bucket_width", "group_by[]", "limit", "page",
               "project_ids[]", "api_key_ids[]"} | (
        {"user_ids[]", "models[]", "batch"} if usage else {"line_items[]"})
    unknown = set(query) - allowed
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    raw = _one(query, "start_time")
    if raw is None or not raw.isdigit():
        raise BadRequest("start_time: required, Unix seconds")
    start = datetime.fromtimestamp(int(raw), UTC)
    end_raw = _one(query, "end_time")
    if end_raw is not None and not end_raw.isdigit():
        raise BadRequest("end_time: Unix seconds")
    end = datetime.fromtimestamp(int(end_raw), UTC) if end_raw else start + timedelta(days=7)
    if _one(query, "bucket_width", "1d") != "1d":
        raise BadRequest("bucket_width: this server serves daily buckets only")
    groups = set(query.get("group_by[]", []))
    valid = OPENAI_USAGE_GROUPS if usage else OPENAI_COST_GROUPS
    if groups - valid:
        raise BadRequest(f"group_by[]: unsupported value(s) {sorted(groups - valid)}")
    limit = _limit(query, 7, 31 if usage else 180)
    data = srv.openai_usage if usage else srv.openai_cost
    days = [d for d in _days(start.date(), end.date() + timedelta(days=1))
            if datetime.combine(d, time(0), UTC) < end]
    offset = _offset(_one(query, "page"))
    size = min(limit, srv.page_cap or limit)
    dims = tuple(sorted(valid))
    buckets = []
    for d in days[offset:offset + size]:
        t0 = int(datetime.combine(d, time(0), UTC).timestamp())
        buckets.append({"object": "bucket", "start_time": t0, "end_time": t0 + 86400,
                        "results": _group(data.get(d, []), groups, dims)})
    more = offset + size < len(days)
    return {"object": "page", "data": buckets, "has_more": more,
            "next_page": _token(offset + size) if more else None}


def _openai_decimals(body: dict[str, Any]) -> dict[str, Any]:
    for bucket in body["data"]:
        for r in bucket["results"]:
            amount = r.get("amount")
            if isinstance(amount, dict) and amount.get("value") is not None:
                amount["value"] = Decimal(str(amount["value"]))
    return body


def _masked(key: str) -> str:
    return key[:8] + "*" * 10 + key[-4:] if len(key) > 12 else "****"


def serve(srv: AdminAPIServer) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(JSONHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            srv.requests.append(Seen(parts.path, query, {k.lower(): v for k, v in
                                                         self.headers.items()}))
            anthropic = parts.path in (ANTHROPIC_USAGE, ANTHROPIC_COST)
            openai = parts.path in (OPENAI_USAGE, OPENAI_COST)
            if srv.faults:
                status, body, headers = srv.faults.pop(0)
                self._send(status, body, headers)
                return
            if not anthropic and not openai:
                self._send(404, {"type": "error", "error": {"type": "not_found_error",
                                                            "message": "Not found"}})
                return
            if anthropic:
                if self.headers.get("x-api-key") != srv.key:
                    self._send(401, {"type": "error", "error": {
                        "type": "authentication_error", "message": "invalid x-api-key"}})
                    return
                if not self.headers.get("anthropic-version"):
                    self._send(400, {"type": "error", "error": {
                        "type": "invalid_request_error",
                        "message": "anthropic-version: header is required"}})
                    return
                try:
                    self._send(200, _anthropic(srv, parts.path, query))
                except BadRequest as exc:
                    self._send(400, {"type": "error", "error": {
                        "type": "invalid_request_error", "message": str(exc)}})
                return
            auth = self.headers.get("authorization", "")
            if auth != f"Bearer {srv.key}":
                given = auth.removeprefix("Bearer ")
                self._send(401, {"error": {
                    "message": f"Incorrect API key provided: {_masked(given)}. You can find "
                               "your API key at https://platform.openai.com/account/api-keys.",
                    "type": "invalid_request_error", "param": None,
                    "code": "invalid_api_key"}})
                return
            try:
                self._send(200, _openai_decimals(_openai(srv, parts.path, query)))
            except BadRequest as exc:
                self._send(400, {"error": {"message": str(exc), "type": "invalid_request_error",
                                           "param": None, "code": None}})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread
