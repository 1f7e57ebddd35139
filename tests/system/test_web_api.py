"""`teamcost serve`'s JSON API against real SQLite files and the real Firestore emulator.

The team cache is filled the real way (ledger -> push -> pull) with the golden fortnight
of tests/test_report_golden.py; the API is compared with the CLI's own JSON for the same
arguments at the same (pinned) moment, and with sums worked out here in plain Python.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from teamcost.config import load_config, write_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.sync.cache import TeamCache
from teamcost.web.app import api_paths, create_app
from teamcost.web.security import CSP
from tests.cli_support import run
from tests.system.web_support import (
    TEAMCOST,
    EventStream,
    frozen_datetime,
    push_calls,
    serving,
    team_home,
)

try:  # the golden fortnight (tests/unit/ once the suite is split)
    from tests.unit.test_report_golden import CALLS, NOW
except ImportError:
    from tests.test_report_golden import CALLS, NOW

TOTAL = sum(c.cost_nanos for c in CALLS)
pytestmark = pytest.mark.emulator


def _client(app: Any) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1")


def _openapi_validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource(
        "urn:teamcost-openapi", Resource.from_contents(doc, default_specification=DRAFT202012)
    ).crawl()
    return jsonschema.Draft202012Validator(
        {"$ref": f"urn:teamcost-openapi#/components/schemas/{name}"}, registry=registry)


def _cli_args(query: list[tuple[str, str]]) -> list[str]:
    return [x for name, value in query for x in (f"--{name}", value)]


@pytest.fixture
def golden(firestore_emulator, teamcost_home, monkeypatch):
    """The golden fortnight in the team cache, a $4.20 monthly budget (85% used: WARN),
    webhooks that point nowhere, and every clock pinned to the golden NOW."""
    cfg = team_home(teamcost_home, firestore_emulator, CALLS, budget_usd="4.20", extra={
        "budget": {"slack_webhook_url": "http://127.0.0.1:9/services/SLACK-SECRET-7f3a",
                   "webhook_url": "http://127.0.0.1:9/hook?key=HOOK-SECRET-91c2"}})
    frozen = frozen_datetime(NOW)
    for module in ("teamcost.commands.report", "teamcost.budget.check",
                   "teamcost.reports.live"):
        monkeypatch.setattr(f"{module}.datetime", frozen)
    return cfg


REPORT_QUERIES = [
    [("since", "2026-11-02"), ("until", "2026-11-11")],                  # ended: no projection
    [],                                                                   # the defaults (7d)
    [("since", "30d"), ("by", "member,model"), ("by", "day"), ("tz", "America/Los_Angeles")],
    [("since", "2026-11-01"), ("member", "ana@example.com"), ("by", "agent,session,provider")],
    [("since", "14d"), ("model", "in-house-7b"), ("agent", "coder"), ("by", "task,week")],
    [("since", "yesterday"), ("until", "today"), ("by", "model")],
    [("since", "2026-11-09T12:00:00+01:00"), ("until", "2026-11-10T06:30:00Z")],
]


def test_report_is_the_cli_document(golden):
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        validator = _openapi_validator(client.get("/openapi.json").json(), "Report")
        for query in REPORT_QUERIES:
            got = client.get("/api/report", params=query)
            assert got.status_code == 200, (query, got.text)
            cli = run("report", *_cli_args(query), "--format", "json")
            assert cli.exit_code == 0, cli.output
            api_doc, cli_doc = got.json(), json.loads(cli.stdout)
            # the one fact that differs by design: the CLI pulls before it reports, the API
            # reads the cache as an agent or --pull-every keeps it
            api_cache, cli_cache = api_doc.pop("cache"), cli_doc.pop("cache")
            assert (api_cache["pulled_now"], cli_cache["pulled_now"]) == (False, True)
            assert api_doc == cli_doc, query
            validator.validate(got.json())
        # and against sums worked out here: the whole fortnight, and the budget
        doc = client.get("/api/report", params={"since": "2026-11-01"}).json()
    assert doc["summary"]["cost_nanos"] == TOTAL and doc["summary"]["calls"] == len(CALLS)
    per_member: dict[str, int] = defaultdict(int)
    for c in CALLS:
        per_member[c.member] += c.cost_nanos
    assert {r["member"]: r["cost_nanos"] for r in doc["breakdowns"]["member"]} == per_member
    b = doc["budget"]
    assert (b["spent_nanos"], b["limit_nanos"], b["level"]) == (TOTAL, 4_200_000_000, "WARN")
    assert b["now"] == NOW.isoformat() == doc["generated_at"]


def test_budget_and_alerts_are_the_cli_check(golden):
    first = run("budget", "check", "--format", "json")   # claims the 80% alert
    assert first.exit_code == 3, first.output
    assert [a for a in json.loads(first.stdout)["alerts"]]
    again = run("budget", "check", "--format", "json")
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        got = client.get("/api/budget")
        assert got.status_code == 200
        assert got.json() == json.loads(again.stdout)
        assert got.json()["alerts"] == []            # reading the page sends nothing
        doc = client.get("/openapi.json").json()
        _openapi_validator(doc, "Budget").validate(got.json())
        est = client.get("/api/budget", params={"estimate": "1.5"}).json()
        assert est["estimate_nanos"] == 1_500_000_000 and est["level"] == "EXHAUSTED"
        alerts = client.get("/api/alerts").json()
        _openapi_validator(doc, "Alerts").validate(alerts)
    assert [(a["alert_id"], a["threshold"], a["spent_nanos"], a["limit_nanos"])
            for a in alerts["alerts"]] == [("core_2026-11_80", "80", TOTAL, 4_200_000_000)]
    assert alerts["alerts"][0]["created_at"]


def test_live_is_what_watch_shows(golden):
    cli = run("watch", "--format", "json")
    assert cli.exit_code == 0, cli.output
    watched = json.loads(cli.stdout)
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        live = client.get("/api/live").json()
        _openapi_validator(client.get("/openapi.json").json(), "Live").validate(live)
    for key in ("refreshed", "source"):
        watched.pop(key)
    assert {k: v for k, v in live.items() if k in watched} == watched
    assert live["source"] == "team"            # not this machine's file paths
    # by hand: NOW is Thursday 2026-11-12 15:00 UTC; the fortnight is all in November
    today = sum(c.cost_nanos for c in CALLS if datetime(2026, 11, 12, tzinfo=UTC) <= c.ts <= NOW)
    assert (live["today_nanos"], live["period_nanos"], live["limit_nanos"]) == \
        (today, TOTAL, 4_200_000_000)


def test_chart_stacks_are_the_days_and_breakdowns(golden):
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        q = {"since": "2026-11-02", "until": "2026-11-11"}
        for stack, attr in (("member", "member"), ("model", "model"), ("agent", "agent"),
                            ("provider", "provider")):
            chart = client.get("/api/chart", params={**q, "stack": stack}).json()
            expected: dict[str, list[int]] = defaultdict(lambda: [0] * 10)
            for c in CALLS:
                expected[getattr(c, attr)][(c.ts - datetime(2026, 11, 2, tzinfo=UTC)).days] += \
                    c.cost_nanos
            assert chart["by"] == stack
            assert chart["days"] == [f"2026-11-{d:02d}" for d in range(2, 12)]
            assert {k: v for k, v in chart["series"].items() if any(v)} == \
                {k: v for k, v in expected.items() if any(v)}
            assert chart["total_nanos"] == TOTAL
            # the budget's daily allowance: $4.20 over November's 30 days, exactly
            assert chart["daily_allowance_nanos"] == round(Fraction(4_200_000_000, 30))
            assert chart["projection_days"] == []        # the window ended before NOW
        live_chart = client.get("/api/chart", params={"since": "7d"}).json()
        assert live_chart["projection_days"][0] == "2026-11-13"
        assert live_chart["projection_days"][-1] == "2026-11-30"


def test_session_lists_its_calls_newest_first(golden):
    mine = sorted((c for c in CALLS if c.session_id == "s8-1"), key=lambda c: (c.ts, c.call_id),
                  reverse=True)
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        got = client.get("/api/sessions/s8-1")
        assert got.status_code == 200
        body = got.json()
        _openapi_validator(client.get("/openapi.json").json(), "Session").validate(body)
        missing = client.get("/api/sessions/no-such-session")
    assert [c["call_id"] for c in body["calls"]] == [c.call_id for c in mine]
    assert body["summary"]["cost_nanos"] == sum(c.cost_nanos for c in mine)
    assert body["summary"]["calls"] == len(mine) == 15
    assert body["first"] == mine[-1].ts.isoformat() and not body["truncated"]
    assert missing.status_code == 404 and "no-such-session" in missing.json()["error"]


# -- bad values ------------------------------------------------------------------------

BAD_REPORT = [
    ("since", [("since", "7x")]), ("since", [("since", "-3d")]),
    ("since", [("since", "2026-13-01")]), ("since", [("since", "0d")]),
    ("since", [("since", "1d"), ("until", "3d")]),
    ("since", [("until", "yesterday"), ("since", "today")]),
    ("until", [("until", "someday")]), ("by", [("by", "colour")]), ("by", [("by", "")]),
    ("tz", [("tz", "Mars/Olympus")]),
]


@pytest.fixture
def local_home(teamcost_home):
    """No project: the ledger alone (no emulator needed)."""
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(CALLS[:20])
    return teamcost_home


@pytest.mark.parametrize("param, query", BAD_REPORT)
def test_a_bad_report_value_is_a_400_with_the_clis_words(local_home, monkeypatch, param, query):
    monkeypatch.setattr("teamcost.commands.report.datetime", frozen_datetime(NOW))
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        got = client.get("/api/report", params=query)
    cli = run("report", *_cli_args(query), "--format", "json")
    assert got.status_code == 400 and cli.exit_code == 2
    body = got.json()
    assert body["parameter"] == param
    # the CLI's line, naming the query parameter where the CLI names its option
    expected = cli.stderr.strip().removeprefix("teamcost: error: ")
    for option, name in (("--since", "since"), ("--until", "until"), ("--by", "by"),
                         ("--tz", "tz")):
        expected = re.sub(rf"{re.escape(option)}(?![\w-])", name, expected)
    assert body["error"] == expected
    assert body["error"].startswith(f"invalid {param}: ")


@pytest.mark.parametrize("path, params, param", [
    ("/api/report", {"foo": "1"}, "foo"),
    ("/api/report", [("since", "7d"), ("since", "1d")], "since"),
    ("/api/chart", {"stack": "colour"}, "stack"),
    ("/api/chart", {"since": "7x"}, "since"),
    ("/api/tags", {"key": 'pro"ject'}, "key"),
    ("/api/tags", {"key": ""}, "key"),
    ("/api/tags", {"tz": "Nowhere/Else"}, "tz"),
    # a zone name is a path under the tz database: too long, a directory, outside it
    ("/api/report", {"tz": "A" * 300}, "tz"),
    ("/api/chart", {"tz": "A" * 300}, "tz"),
    ("/api/tags", {"tz": "A" * 300}, "tz"),
    ("/api/report", {"tz": "America"}, "tz"),
    ("/api/report", {"tz": "../../../etc/passwd"}, "tz"),
    ("/api/budget", {"estimate": "12,50"}, "estimate"),
    ("/api/budget", {"estimate": "1e3"}, "estimate"),
    ("/api/calls", {"limit": "0"}, "limit"),
    ("/api/calls", {"limit": "1001"}, "limit"),
    ("/api/calls", {"limit": "ten"}, "limit"),
    ("/api/calls", {"cursor": "!!!"}, "cursor"),
    ("/api/calls", {"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),   # base64 of "not a cursor"
    ("/api/calls", {"since": "7x"}, "since"),
    ("/api/alerts", {"limit": "0"}, "limit"),
    ("/api/alerts", {"limit": "many"}, "limit"),
    ("/api/budget", {"estimate": "lots"}, "estimate"),
    ("/api/budget", {"estimate": "-5"}, "estimate"),
    ("/api/live", {"x": "1"}, "x"),
    ("/api/events", {"x": "1"}, "x"),
    ("/api/sessions/s1", {"x": "1"}, "x"),
])
def test_every_bad_query_value_is_a_400_naming_it(local_home, path, params, param):
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        got = client.get(path, params=params)
        schema = client.get("/openapi.json").json()
    assert got.status_code == 400, got.text
    body = got.json()
    assert body["parameter"] == param and body["error"].startswith(f"invalid {param}: ")
    assert "Traceback" not in got.text
    _openapi_validator(schema, "Error").validate(body)


# -- paging ----------------------------------------------------------------------------

def _paging_calls() -> tuple[list[CallRecord], list[CallRecord], list[CallRecord]]:
    """(cache, ledger, union): 180 calls with many sharing a timestamp, hostile labels;
    the ledger holds 30 unpushed calls and 20 that are also cached."""
    base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def call(i: int) -> CallRecord:
        return CallRecord(
            call_id=f"p{(i * 7919) % 1000:03d}-{i}", ts=base + timedelta(seconds=(i // 4) * 30),
            team="core", member=["ana@example.com", "bo@example.com"][i % 2],
            ledger_id="lap", provider="openai",
            model=["gpt-4o", "<img src=x onerror=alert(1)>"][i % 5 == 0],
            cost_nanos=1_000_003 * (i + 1), priced=i % 5 != 0, price_source="test",
            session_id=["s/a", "<b>s</b>", None][i % 3], agent="coder",
            tags={"project": ["apollo", "<i>zeus</i>", "x"][i % 3]} if i % 4 else {})
    union = [call(i) for i in range(180)]
    return union[:150], union[130:], union


@pytest.fixture
def paging_home(firestore_emulator, teamcost_home):
    cache_calls, ledger_calls, union = _paging_calls()
    write_config(teamcost_home, {"team": "core", "project": firestore_emulator.project,
                                 "emulator_host": firestore_emulator.host})
    with TeamCache(teamcost_home / "team-cache.db") as cache:
        assert cache.upsert((c, 1) for c in cache_calls) == len(cache_calls)
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(ledger_calls)
    return union


def _walk(client: TestClient, size: int, params: dict[str, str] | None = None,
          between: Any = None) -> list[str]:
    ids: list[str] = []
    cursor = None
    pages = 0
    while True:
        q = {"limit": str(size), **(params or {})}
        if cursor:
            q["cursor"] = cursor
        got = client.get("/api/calls", params=q)
        assert got.status_code == 200, got.text
        page = got.json()
        assert len(page["calls"]) <= size
        ids += [c["call_id"] for c in page["calls"]]
        cursor = page["next_cursor"]
        pages += 1
        if between and pages == 1:
            between()
        if not cursor:
            return ids


def test_paging_lists_every_call_exactly_once(paging_home):
    union = paging_home
    expected = [c.call_id for c in sorted(union, key=lambda c: (c.ts, c.call_id), reverse=True)]
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        first = client.get("/api/calls", params={"limit": "5"}).json()
        _openapi_validator(client.get("/openapi.json").json(), "CallsPage").validate(first)

        @settings(max_examples=25, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(st.integers(min_value=1, max_value=200))
        def every_size(size: int) -> None:
            assert _walk(client, size) == expected

        every_size()
        since = datetime(2026, 11, 20, 9, 10, tzinfo=UTC)
        assert _walk(client, 7, {"since": since.isoformat()}) == \
            [i for i, c in zip(expected, sorted(union, key=lambda c: (c.ts, c.call_id),
                                                reverse=True)) if c.ts >= since]


def test_calls_arriving_while_paging_never_shift_a_page(paging_home, teamcost_home):
    union = paging_home
    expected = {c.call_id for c in union}
    newer = CallRecord(call_id="late-new", ts=datetime(2026, 11, 21, tzinfo=UTC), team="core",
                       member="cy@example.com", ledger_id="L2", provider="openai",
                       model="gpt-4o", cost_nanos=5, price_source="test")
    older = newer.replace(call_id="late-old", ts=datetime(2026, 11, 20, 9, 0, 1, tzinfo=UTC))

    def arrive() -> None:  # a pull lands two calls, one newer than every page, one older
        with TeamCache(teamcost_home / "team-cache.db") as cache:
            cache.upsert([(newer, 2), (older, 2)])

    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        ids = _walk(client, 9, between=arrive)
    assert len(ids) == len(set(ids))                 # nothing twice
    assert expected <= set(ids)                      # nothing missed
    assert "late-new" not in ids and "late-old" in ids


def test_tags_sum_by_project_value(paging_home):
    union = paging_home
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in union:
        if c.member == "ana@example.com":
            e = expected[c.tags.get("project", "(none)")]
            e[0] += c.cost_nanos
            e[1] += 1
            e[2] += 0 if c.priced else 1
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        got = client.get("/api/tags", params={"since": "2026-11-20", "until": "2026-11-21",
                                               "member": "ana@example.com"}).json()
        none = client.get("/api/tags", params={"since": "2026-11-20", "until": "2026-11-21",
                                                "key": "absent"}).json()
    assert {r["project"]: [r["cost_nanos"], r["calls"], r["unpriced_calls"]]
            for r in got["rows"]} == expected
    assert [r["cost_nanos"] for r in got["rows"]] == sorted(
        (v[0] for v in expected.values()), reverse=True)
    assert none["rows"][0]["absent"] == "(none)" and none["rows"][0]["calls"] == len(union)


def test_session_ids_with_slashes_and_markup(paging_home):
    union = paging_home
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        slash = client.get("/api/sessions/s%2Fa").json()
        markup = client.get("/api/sessions/%3Cb%3Es%3C%2Fb%3E").json()
    assert {c["call_id"] for c in slash["calls"]} == {c.call_id for c in union
                                                      if c.session_id == "s/a"}
    assert markup["session"] == "<b>s</b>" and len(markup["calls"]) == 60


# -- live: Server-Sent Events from the real server -------------------------------------

def _zed_call(cost: int, i: int = 0) -> CallRecord:
    # made now: in the budget's month even in the month's first minute
    return CallRecord(call_id=f"zed-{i}", ts=datetime.now(UTC),
                      team="core", member="zed@example.com", ledger_id="zed-box",
                      provider="openai", model="gpt-5", cost_nanos=cost, agent="coder",
                      price_source="test")


def test_events_announce_a_pulled_call_and_the_budget_level(firestore_emulator, teamcost_home,
                                                             tmp_path):
    # the budget period is today's month: whatever the fortnight adds to it (nothing
    # after November 2026), the limit puts spend just under 80% before zed's $0.10 call
    # and over it after
    now = datetime.now(UTC)
    month = sum(c.cost_nanos for c in CALLS if c.ts >= now.replace(day=1, hour=0, minute=0,
                                                                   second=0, microsecond=0))
    limit = -(-(month + 50_000_000) * 10 // 8 // 10_000_000) * 10_000_000  # up to a cent
    assert month < 0.8 * limit <= month + 100_000_000
    cfg = team_home(teamcost_home, firestore_emulator, CALLS, budget_usd=str(limit / 1e9))
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    with serving(teamcost_home, "--pull-every", "0", env=env) as srv:
        before = srv.get("api/report?since=2026-11-01").json()
        assert before["budget"]["level"] == "OK"
        stream = EventStream(srv.url + "api/events")
        assert stream.status == 200
        assert stream.headers_seen["content-type"].startswith("text/event-stream")
        assert stream.headers_seen["content-security-policy"] == CSP
        stream.wait("hello", 10)
        push_calls(cfg, [_zed_call(100_000_000)], tmp_path / "zed.db")
        pulled = subprocess.run([TEAMCOST, "sync", "pull"], capture_output=True, text=True, check=False,
                                env={**os.environ, "TEAMCOST_HOME": str(teamcost_home), **env},
                                timeout=120)
        assert pulled.returncode == 0, pulled.stderr
        done = time.monotonic()
        _data, when = stream.wait("calls", 5)
        assert when - done < 2.0, f"announced {when - done:.2f} s after the pull"
        level, _ = stream.wait("budget", 15, lambda d: d["level"] != "OK")
        assert level["limit_nanos"] == limit and level["level"] in ("WARN", "EXHAUSTED")
        after = srv.get("api/report?since=2026-11-01").json()
        # the stream stays open: the server must still stop cleanly (checked on exit)
    assert after["summary"]["cost_nanos"] == before["summary"]["cost_nanos"] + 100_000_000
    assert "zed@example.com" in {r["member"] for r in after["breakdowns"]["member"]}
    assert after["budget"]["level"] == level["level"]
    assert after["budget"]["spent_nanos"] == month + 100_000_000


def test_background_pull_brings_new_calls(firestore_emulator, teamcost_home, tmp_path):
    cfg = team_home(teamcost_home, firestore_emulator, CALLS[:30])
    with serving(teamcost_home, "--pull-every", "1s",
                 env={"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}) as srv:
        stream = EventStream(srv.url + "api/events")
        stream.wait("hello", 10)
        push_calls(cfg, [_zed_call(7_000_000_001, 1)], tmp_path / "zed.db")
        stream.wait("calls", 15)
        live = srv.get("api/live").json()
        stream.close()
    assert live["pull"]["error"] is None
    assert live["latest"][0]["member"] == "zed@example.com"
    assert live["latest"][0]["cost_nanos"] == 7_000_000_001


# -- who may read it -------------------------------------------------------------------

def test_a_non_loopback_host_needs_a_token(teamcost_home):
    env = {**os.environ, "TEAMCOST_HOME": str(teamcost_home)}
    env.pop("TEAMCOST_SERVE_TOKEN", None)
    refused = subprocess.run([TEAMCOST, "serve", "--host", "0.0.0.0", "--port", "0"], env=env,
                             capture_output=True, text=True, check=False, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [(
        "teamcost: error: invalid --host: '0.0.0.0'; expected a loopback address (127.0.0.1, "
        "::1, localhost), or also a --token (or TEAMCOST_SERVE_TOKEN) so that only people "
        "with it can read the dashboard")]
    weak = subprocess.run([TEAMCOST, "serve", "--host", "0.0.0.0", "--token", "hunter2"],
                          env=env, capture_output=True, text=True, check=False, timeout=60)
    assert weak.returncode == 2 and "--token" in weak.stderr and "hunter2" not in weak.stderr


def test_with_a_token_every_request_carries_it(local_home):
    token = "tok-" + "k3y" * 8
    with serving(local_home, "--host", "0.0.0.0", env={"TEAMCOST_SERVE_TOKEN": token},
                 headers={"Authorization": f"Bearer {token}"}) as srv:
        bare = srv.get("api/live")
        page = srv.get("")
        wrong = srv.get("api/live", headers={"Authorization": "Bearer " + token[:-1] + "X"})
        good = srv.get("api/live", headers={"Authorization": f"Bearer {token}"})
        bad_login = srv.get("login", params={"token": "nope"})
        login = srv.get("login", params={"token": token})
        proxied = srv.get("login", params={"token": token},
                          headers={"X-Forwarded-Proto": "https"})  # an HTTPS proxy here
        cookie = login.cookies.get("teamcost_session")
        with_cookie = srv.get("", headers={"Cookie": f"teamcost_session={cookie}"})
        api_cookie = srv.get("api/report", headers={"Cookie": f"teamcost_session={cookie}"})
        forged = srv.get("api/live", headers={"Cookie": f"teamcost_session={token}"})
        events = EventStream(srv.url + "api/events")
        out = "".join(srv.stderr)
    assert bare.status_code == 401 and bare.json()["error"].startswith("this dashboard needs")
    assert bare.headers["www-authenticate"].startswith("Bearer")
    assert page.status_code == 401 and "/login?token=" in page.text
    assert wrong.status_code == 401 and good.status_code == 200
    assert bad_login.status_code == 401
    assert login.status_code == 303 and login.headers["location"] == "/"
    set_cookie = login.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert cookie and token not in set_cookie        # the cookie proves the token, is not it
    assert "Secure" not in set_cookie and "Secure" in proxied.headers["set-cookie"]
    assert with_cookie.status_code == 200 and "app.js" in with_cookie.text
    assert api_cookie.status_code == 200 and forged.status_code == 401
    assert events.status == 401
    assert token not in out


def test_loopback_without_token_answers_only_loopback_names(local_home):
    with TestClient(create_app(load_config()), base_url="http://127.0.0.1:8787") as client:
        assert client.get("/api/live").status_code == 200
        assert client.get("/api/live", headers={"Host": "localhost:8787"}).status_code == 200
        assert client.get("/api/live", headers={"Host": "[::1]:8787"}).status_code == 200
        rebound = client.get("/api/live", headers={"Host": "attacker.example:8787"})
    assert rebound.status_code == 403 and "loopback" in rebound.json()["error"]


SECRETS = ("SLACK-SECRET-7f3a", "HOOK-SECRET-91c2", "TOKEN-SECRET-5d0e-0123456789")


def test_no_secret_reaches_a_page_or_an_api_response(golden, teamcost_home, firestore_emulator):
    assert run("budget", "check").exit_code == 3      # alerts exist (delivery fails: no server)
    token = SECRETS[2]
    auth = {"Authorization": f"Bearer {token}"}
    paths = ["", "static/app.js", "static/app.css", "static/index.html", "favicon.ico",
             "openapi.json", "api/report", "api/report?since=2026-11-01&by=session,provider",
             "api/report?since=nope", "api/chart?since=30d&stack=model", "api/tags?since=30d",
             "api/live", "api/budget", "api/budget?estimate=2", "api/alerts",
             "api/calls?limit=500", "api/sessions/s1-1", "api/sessions/nope", "api/missing",
             "static/missing.js"]
    with serving(teamcost_home, "--token", token, env={
            "FIRESTORE_EMULATOR_HOST": firestore_emulator.host}, headers=auth) as srv:
        seen = []
        for p in paths:
            r = srv.get(p, headers=auth)
            seen.append(f"{p} {r.status_code} {dict(r.headers)} {r.text}")
        r = srv.get("login", params={"token": token}, follow_redirects=False)
        seen.append(f"login {dict(r.headers)} {r.text}")
        stream = EventStream(srv.url + "api/events", headers=auth)
        hello, _ = stream.wait("hello", 10)
        seen.append(json.dumps(hello))
        stream.close()
        seen.append("".join(srv.stderr))
    everything = "\n".join(seen)
    assert "api/alerts 200" in everything and "core_2026-11_80" in everything
    for secret in SECRETS:
        assert secret not in everything, secret


def test_every_response_carries_the_csp(local_home):
    with _client(create_app(load_config())) as client:
        for path in ("/", "/static/app.js", "/static/app.css", "/favicon.ico", "/openapi.json",
                     "/api/report", "/api/report?since=x", "/api/nope", "/nope", "/login"):
            r = client.get(path, follow_redirects=False)
            assert r.headers["content-security-policy"] == CSP, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
    assert CSP == ("default-src 'self'; script-src 'self'; style-src 'self'; object-src "
                   "'none'; base-uri 'none'; frame-ancestors 'none'")


def test_the_openapi_document_lists_every_route(local_home):
    app = create_app(load_config())
    with _client(app) as client:
        doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == api_paths(app)
    jsonschema.Draft202012Validator.check_schema(doc["components"]["schemas"]["Report"])
    report_params = {p["name"] for p in doc["paths"]["/api/report"]["get"]["parameters"]}
    assert report_params == {"since", "until", "by", "member", "model", "agent",
                             "repo", "branch", "ticket", "tz"}


def test_budget_without_a_project_is_a_404(local_home):
    with _client(create_app(load_config())) as client:
        got = client.get("/api/budget")
        alerts = client.get("/api/alerts").json()
    assert got.status_code == 404 and "no project is configured" in got.json()["error"]
    assert alerts == {"alerts": []}


def test_money_in_the_report_is_integer_nanos(golden):
    """The page formats money from *_nanos integers only; check every one is an int."""
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        doc = client.get("/api/report", params={"since": "30d"}).json()

    def walk(x: Any, path: str = "") -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k.endswith("_nanos"):
                    assert isinstance(v, int) or (k == "median_before_nanos"), path + k
                walk(v, f"{path}{k}.")
        elif isinstance(x, list):
            for v in x:
                walk(v, path)

    walk(doc)
    assert Decimal(doc["summary"]["cost_nanos"]) / 10**9 == Decimal(TOTAL) / 10**9


def test_serve_refuses_a_busy_port_and_a_bad_one_in_one_line(local_home):
    import socket

    env = {**os.environ, "TEAMCOST_HOME": str(local_home)}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([TEAMCOST, "serve", "--port", str(port)], env=env, check=False,
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [(
        f"teamcost: error: cannot listen on 127.0.0.1:{port}: Address already in use; pick "
        "another --port (0 picks a free one)")]
    bad = subprocess.run([TEAMCOST, "serve", "--port", "70000"], env=env, check=False,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid --port: 70000" in bad.stderr


def test_open_starts_the_browser_at_the_login_link(local_home, tmp_path):
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    script.chmod(0o755)
    token = "open-" + "t0k" * 6
    with serving(local_home, "--open", env={"BROWSER": f"{script} %s",
                                            "TEAMCOST_SERVE_TOKEN": token},
                 headers={"Authorization": f"Bearer {token}"}) as srv:
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text().strip() == f"{srv.url}login?token={token}"
        # the link works: it signs the browser in and sends it to the page
        login = srv.get(f"login?token={token}")
        assert login.status_code == 303 and login.headers["location"] == "/"


def test_attribution_breakdowns_and_filters_are_the_clis(teamcost_home, monkeypatch):
    """by=repo,branch,ticket,pr and the repo/branch/ticket filters (issue 25): the same
    document as `teamcost report`, and the numbers worked out from the calls."""
    branches = ["feature/PAY-142-refunds", "main", None]
    calls = [c.replace(call_id=f"attr-{i}", tags={
        **c.tags, "repo": "github.com/acme/shop" if i % 2 else "github.com/acme/api",
        **({"branch": branches[i % 3]} if branches[i % 3] else {}),
        **({"ticket": "PAY-142"} if i % 3 == 0 else {})}) for i, c in enumerate(CALLS[:30])]
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(calls)
    monkeypatch.setattr("teamcost.commands.report.datetime", frozen_datetime(NOW))
    query = [("since", "30d"), ("by", "repo,branch,ticket,pr"), ("branch", "main"),
             ("repo", "github.com/acme/shop")]
    with _client(create_app(load_config(), clock=lambda: NOW)) as client:
        got = client.get("/api/report", params=query)
    assert got.status_code == 200, got.text
    cli = run("report", "--since", "30d", "--by", "repo,branch,ticket,pr", "--branch", "main",
              "--repo", "github.com/acme/shop", "--format", "json", "--offline")
    doc = got.json()
    want = json.loads(cli.stdout)
    for d in (doc, want):
        d.pop("generated_at"), d.pop("budget")
    assert doc == want
    mine = [c for c in calls if c.tags.get("branch") == "main"
            and c.tags["repo"] == "github.com/acme/shop"
            and NOW - timedelta(days=30) <= c.ts < NOW]
    assert mine and doc["summary"]["cost_nanos"] == sum(c.cost_nanos for c in mine)
    assert [(r["branch"], r["calls"]) for r in doc["breakdowns"]["branch"]] == [("main", len(mine))]
    assert [r["pr"] for r in doc["breakdowns"]["pr"]] == ["(none)"]
    assert doc["filters"]["branch"] == "main" and doc["filters"]["repo"] == "github.com/acme/shop"
