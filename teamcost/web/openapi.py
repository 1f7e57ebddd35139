"""The OpenAPI 3.1 document the server serves at ``/openapi.json``.

Written by hand next to the handlers (tests check that every API route is in it and
that real responses validate against it). The report response is the report's own
JSON Schema, ``teamcost/reports/report.schema.json``, embedded by value.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

NANOS = {"type": "integer", "minimum": 0, "description": "nano-dollars (1e-9 USD)"}
COUNT = {"type": "integer", "minimum": 0}
STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}


def _param(name: str, desc: str, *, schema: dict[str, Any] | None = None,
           where: str = "query", required: bool = False, multi: bool = False
           ) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": where, "required": required or where == "path",
                         "description": desc, "schema": schema or STR}
    if multi:
        p["schema"] = {"type": "array", "items": schema or STR}
        p["style"], p["explode"] = "form", True
    return p


SINCE = _param("since", "Start: 30m, 24h, 7d, 2w, today, yesterday, YYYY-MM-DD or an ISO "
               "time (default 7d), as `teamcost report --since`.")
UNTIL = _param("until", "End, same forms; a date includes that day (default now).")
TZ = _param("tz", "IANA timezone for day boundaries (default the team's).")
FILTERS = [_param("member", "Only this member's calls."),
           _param("model", "Only this model's calls."),
           _param("agent", "Only this agent's calls."),
           _param("repo", "Only calls made in this repository (the repo tag)."),
           _param("branch", "Only calls made on this branch (the branch tag)."),
           _param("ticket", "Only calls for this ticket (the ticket tag).")]
WINDOW = [SINCE, UNTIL, *FILTERS, TZ]


def _ok(schema_ref: str, desc: str) -> dict[str, Any]:
    return {"description": desc,
            "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


ERRORS = {
    "400": _ok("#/components/schemas/Error", "A bad query value; `parameter` names it."),
    "401": _ok("#/components/schemas/Error", "The server has a token and the request "
               "carried none (or a wrong one)."),
}


def _op(summary: str, params: list[dict[str, Any]], ok: dict[str, Any],
        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params,
                    "responses": {"200": ok, **ERRORS, **(extra or {})}}}


ROW = {"type": "object", "required": ["cost_nanos", "calls", "share"],
       "properties": {"cost_nanos": NANOS, "cost_usd": {"type": "number"}, "calls": COUNT,
                      "input_tokens": COUNT, "output_tokens": COUNT,
                      "cache_read_tokens": COUNT, "cache_write_tokens": COUNT,
                      "unpriced_calls": COUNT, "failed_calls": COUNT,
                      "share": {"type": "number", "minimum": 0, "maximum": 1}}}
CALL = {"type": "object",
        "required": ["call_id", "ts", "team", "member", "provider", "model", "cost_nanos",
                     "priced", "success"],
        "properties": {"call_id": STR, "ts": TIME, "team": STR, "member": STR,
                       "ledger_id": STR, "provider": STR, "model": STR,
                       "session_id": NSTR, "agent": NSTR, "task_id": NSTR,
                       "correlation_id": NSTR, "input_tokens": COUNT, "output_tokens": COUNT,
                       "cache_read_tokens": COUNT, "cache_write_tokens": COUNT,
                       "cost_nanos": NANOS, "cost_usd": {"type": "number"},
                       "priced": {"type": "boolean"}, "price_source": STR,
                       "duration_s": {"type": ["number", "null"]},
                       "success": {"type": "boolean"}, "error": NSTR,
                       "tags": {"type": "object", "additionalProperties": STR},
                       "estimated": {"type": "boolean"}}}
SHARE = {"type": "object", "required": ["key", "cost_nanos", "calls"],
         "properties": {"key": STR, "cost_nanos": NANOS, "calls": COUNT}}
BUDGET = {"type": "object",
          "required": ["team", "period", "period_key", "start", "end", "now", "limit_nanos",
                       "spent_nanos", "pushed_nanos", "unpushed_nanos", "estimate_nanos",
                       "remaining_nanos", "fraction", "projected_nanos", "level",
                       "exit_code", "line"],
          "properties": {"team": STR, "period": {"enum": ["day", "week", "month"]},
                         "period_key": STR, "timezone": STR, "start": TIME, "end": TIME,
                         "now": TIME, "limit_nanos": NANOS, "spent_nanos": NANOS,
                         "pushed_nanos": NANOS, "pushed_calls": COUNT,
                         "unpushed_nanos": NANOS, "unpushed_calls": COUNT,
                         "estimate_nanos": NANOS, "remaining_nanos": {"type": "integer"},
                         "fraction": {"type": "number"}, "projected_nanos": NANOS,
                         "thresholds": {"type": "array", "items": {"type": "number"}},
                         "hard_stop": {"type": "boolean"},
                         "level": {"enum": ["OK", "WARN", "EXHAUSTED"]},
                         "exit_code": {"enum": [0, 3, 4]}, "line": STR,
                         "alerts": {"type": "array", "items": STR}}}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": STR, "parameter": STR}},
    "Budget": BUDGET,
    "Live": {"type": "object",
             "required": ["team", "now", "period", "today_nanos", "today_calls",
                          "period_nanos", "period_calls", "limit_nanos",
                          "rate_nanos_per_hour", "last_hour_nanos", "projected_nanos",
                          "by_member", "by_model", "latest", "unpriced_calls"],
             "properties": {"team": STR, "now": TIME, "tz": STR,
                            "period": {"enum": ["day", "week", "month"]},
                            "period_start": TIME, "period_end": TIME,
                            "today_nanos": NANOS, "today_calls": COUNT,
                            "period_nanos": NANOS, "period_calls": COUNT,
                            "limit_nanos": {"type": ["integer", "null"]},
                            "rate_nanos_per_hour": NANOS, "last_hour_nanos": NANOS,
                            "projected_nanos": NANOS,
                            "by_member": {"type": "array", "items": SHARE},
                            "by_model": {"type": "array", "items": SHARE},
                            "latest": {"type": "array", "items": {"type": "object"}},
                            "unpriced_calls": COUNT, "source": {"enum": ["team", "local"]},
                            "pull": {"type": "object"}}},
    "Chart": {"type": "object",
              "required": ["by", "days", "series", "total_nanos", "calls", "tz",
                           "daily_allowance_nanos", "projection_days",
                           "projected_daily_nanos"],
              "properties": {"by": {"enum": ["member", "model", "agent", "provider"]},
                             "days": {"type": "array", "items": {"type": "string",
                                                                 "format": "date"}},
                             "series": {"type": "object", "additionalProperties": {
                                 "type": "array", "items": NANOS}},
                             "total_nanos": NANOS, "calls": COUNT, "tz": STR, "title": STR,
                             "budget": {"type": ["object", "null"]},
                             "daily_allowance_nanos": {"type": ["integer", "null"]},
                             "projection_days": {"type": "array", "items": STR},
                             "projected_daily_nanos": NANOS,
                             "projected_period_nanos": {"type": ["integer", "null"]},
                             "period_end": NSTR}},
    "Tags": {"type": "object", "required": ["key", "rows"],
             "properties": {"key": STR, "rows": {"type": "array", "items": ROW}}},
    "Call": CALL,
    "CallsPage": {"type": "object", "required": ["calls", "next_cursor"],
                  "properties": {"calls": {"type": "array",
                                           "items": {"$ref": "#/components/schemas/Call"}},
                                 "next_cursor": NSTR}},
    "Session": {"type": "object", "required": ["session", "summary", "calls", "truncated"],
                "properties": {"session": STR, "first": TIME, "last": TIME,
                               "truncated": {"type": "boolean"},
                               "summary": {"type": "object",
                                           "required": ["cost_nanos", "calls"]},
                               "calls": {"type": "array",
                                         "items": {"$ref": "#/components/schemas/Call"}}}},
    "Alerts": {"type": "object", "required": ["alerts"],
               "properties": {"alerts": {"type": "array", "items": {
                   "type": "object", "required": ["alert_id", "message", "created_at"],
                   "properties": {"alert_id": STR, "period": STR, "threshold": STR,
                                  "message": STR, "spent_nanos": NANOS,
                                  "limit_nanos": NANOS, "created_at": NSTR}}}}},
}


def _rebase(node: Any, base: str) -> Any:
    """The schema's own ``#/...`` references, pointing into this document instead."""
    if isinstance(node, dict):
        return {k: (base + v[1:] if k == "$ref" and isinstance(v, str) and v.startswith("#/")
                    else _rebase(v, base)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v, base) for v in node]
    return node


def _report_schema() -> dict[str, Any]:
    text = resources.files("teamcost.reports").joinpath("report.schema.json").read_text()
    schema = json.loads(text)
    schema.pop("$schema", None)  # OpenAPI 3.1's dialect is JSON Schema 2020-12 already
    # embedded by value: many OpenAPI tools ignore an embedded $id, so its references
    # are rewritten to this document's paths and the $id kept only as a note
    schema["x-schema-id"] = schema.pop("$id")
    return _rebase(schema, "#/components/schemas/Report")


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    report_params = [SINCE, UNTIL,
                     _param("by", "member, model, provider, agent, session, task, project, "
                            "repo, branch, ticket, pr, tag:NAME, day, week "
                            "(comma list or repeat), as `teamcost report --by`.", multi=True),
                     *FILTERS, TZ]
    paths = {
        "/api/report": _op("The teamcost.report/1 document `teamcost report --format json` "
                           "prints for the same arguments.", report_params,
                           _ok("#/components/schemas/Report", "The report document.")),
        "/api/chart": _op("Spend per day stacked by a dimension (top 8, the rest as "
                          "'other'), the budget's daily allowance and the projection.",
                          [*WINDOW, _param("stack", "member, model, agent or provider "
                                           "(default member).")],
                          _ok("#/components/schemas/Chart", "The chart's numbers.")),
        "/api/tags": _op("Spend by the value of one tag in the window.",
                         [*WINDOW, _param("key", "The tag name (default project).")],
                         _ok("#/components/schemas/Tags", "Breakdown rows by tag value.")),
        "/api/live": _op("Today and the budget period so far (`teamcost watch --format "
                         "json`, without a pull).", [],
                         _ok("#/components/schemas/Live", "The live snapshot.")),
        "/api/budget": _op("The budget status (`teamcost budget check --format json`); "
                           "never sends alerts.",
                           [_param("estimate", "Dollars about to be spent.")],
                           _ok("#/components/schemas/Budget", "The status."),
                           {"404": _ok("#/components/schemas/Error", "No project or no "
                                       "budget set."),
                            "503": _ok("#/components/schemas/Error",
                                       "Firestore could not be reached.")}),
        "/api/alerts": _op("The team's most recent budget alerts, newest first.",
                           [_param("limit", "1 to 100 (default 10).",
                                   schema={"type": "integer", "minimum": 1, "maximum": 100})],
                           _ok("#/components/schemas/Alerts", "Recent alerts.")),
        "/api/sessions/{session_id}": _op(
            "One session's summary and calls, newest first.",
            [_param("session_id", "The session id.", where="path")],
            _ok("#/components/schemas/Session", "The session."),
            {"404": _ok("#/components/schemas/Error", "No call has that session id.")}),
        "/api/calls": _op(
            "Calls newest first, a page at a time. Pages are cut by a (ts, call_id) "
            "cursor, so every call is listed exactly once even while new ones arrive.",
            [_param("since", "Only calls at or after this time (forms of --since)."),
             _param("limit", "Calls per page, 1 to 1000 (default 50).",
                    schema={"type": "integer", "minimum": 1, "maximum": 1000}),
             _param("cursor", "next_cursor of the previous page.")],
            _ok("#/components/schemas/CallsPage", "One page.")),
        "/api/events": {"get": {
            "summary": "Server-Sent Events: `hello` on connect, `calls` when new calls are "
                       "stored (checked every second), `budget` when the budget level "
                       "or the budget changes.",
            "parameters": [],
            "responses": {"200": {"description": "An event stream.",
                                  "content": {"text/event-stream": {"schema": STR}}},
                          "401": ERRORS["401"]}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "teamcost dashboard API", "version": "1",
                 "description": "Money is integer nano-dollars (`*_nanos`); `*_usd` floats "
                                "are for display only. With a token, send "
                                "`Authorization: Bearer <token>`."},
        "paths": paths,
        "components": {"schemas": {"Report": _report_schema(), **SCHEMAS},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def openapi_document() -> dict[str, Any]:
    return copy.deepcopy(_document())
