"""`teamcost reconcile` against a local server speaking Anthropic's Usage & Cost Admin API and
OpenAI's organisation Usage and Costs API (tests/admin_api_server.py), with the recorded side
built as a real team cache and ledger through teamcost's own classes.

The months are October 2026; every expected amount is worked out by hand below:
- Anthropic, per day d: claude-sonnet-4-5 billed 30d + 0.125 (input) + 45d (output) + 1.5
  (cache read) + 0.75 + 0.6 (cache writes) = 75d + 2.975 cents = 750,000,000 d + 29,750,000
  nanos; claude-haiku-4-5 billed 12.3456789 cents = 123,456,789 nanos. October: sonnet
  750,000,000 x 496 + 29,750,000 x 31 = 372,922,250,000; haiku 123,456,789 x 31 =
  3,827,160,459; together 376,749,410,459 nanos.
- OpenAI, per day d: gpt-4.1 billed $0.08d (input) + $0.005d + 0.0000000006 (cached input)
  + $0.04d + 0.0000000006 (output): summed exactly then rounded once, 125,000,000 d + 1
  nanos (rounding each line first would give + 2). October: 62,000,000,031 nanos.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from teamcost.config import Config, load_config, write_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.sync.cache import TeamCache
from tests.admin_api_server import (
    ANTHROPIC_COST,
    ANTHROPIC_USAGE,
    OPENAI_COST,
    OPENAI_USAGE,
    AdminAPIServer,
    serve,
)
from tests.cli_support import one_error_line, run

KEY = "sk-ant-admin01-T3stOnlyN0tAR3alK3y-Zq9X"
OKEY = "sk-admin-T3stOnlyOpenAIAdm1nK3y-Wv7Y"
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
GPT = "gpt-4.1-2025-04-14"
OCT = [date(2026, 10, d) for d in range(1, 32)]
SONNET_NANOS = 372_922_250_000
HAIKU_NANOS = 3_827_160_459
ANTHROPIC_NANOS = SONNET_NANOS + HAIKU_NANOS
OPENAI_NANOS = 62_000_000_031
WINDOW = ["--since", "2026-10-01", "--until", "2026-10-31"]
BIN = Path(sys.executable).parent


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[AdminAPIServer]:
    srv = AdminAPIServer(key=KEY)
    httpd, thread = serve(srv)
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.anthropic_root)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OKEY)
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_root)
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# -- the provider's side, in the documented shapes --

def anthropic_month(srv: AdminAPIServer) -> None:
    for day in OCT:
        d = day.day
        srv.anthropic_usage[day] = [
            {"model": SONNET, "uncached_input_tokens": 100_000 * d,
             "cache_creation": {"ephemeral_5m_input_tokens": 2_000,
                                "ephemeral_1h_input_tokens": 1_000},
             "cache_read_input_tokens": 50_000, "output_tokens": 20_000 * d,
             "server_tool_use": {"web_search_requests": 0}, "api_key_id": "apikey_team",
             "workspace_id": "wrkspc_core", "service_tier": "standard",
             "context_window": "0-200k"},
            {"model": HAIKU, "uncached_input_tokens": 4_000,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
             "cache_read_input_tokens": 0, "output_tokens": 1_000,
             "server_tool_use": {"web_search_requests": 0}, "api_key_id": "apikey_team",
             "workspace_id": "wrkspc_core", "service_tier": "standard",
             "context_window": "0-200k"}]
        srv.anthropic_cost[day] = [
            _cost(SONNET, "uncached_input_tokens", str(Decimal(30 * d) + Decimal("0.125"))),
            _cost(SONNET, "output_tokens", str(45 * d)),
            _cost(SONNET, "cache_read_input_tokens", "1.5"),
            _cost(SONNET, "cache_creation.ephemeral_5m_input_tokens", "0.75"),
            _cost(SONNET, "cache_creation.ephemeral_1h_input_tokens", "0.6"),
            _cost(HAIKU, "uncached_input_tokens", "12.3456789")]


def _cost(model: str, token_type: str, cents: str) -> dict[str, Any]:
    return {"amount": cents, "currency": "USD", "cost_type": "tokens",
            "description": f"{model} usage - {token_type}", "model": model,
            "token_type": token_type, "service_tier": "standard", "context_window": "0-200k",
            "inference_geo": None, "workspace_id": "wrkspc_core"}


def openai_month(srv: AdminAPIServer) -> None:
    srv.key = OKEY
    for day in OCT:
        d = day.day
        srv.openai_usage[day] = [{
            "object": "organization.usage.completions.result", "input_tokens": 50_000 * d,
            "input_cached_tokens": 10_000 * d, "output_tokens": 5_000 * d,
            "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 4,
            "project_id": "proj_core", "user_id": None, "api_key_id": "key_core",
            "model": GPT, "batch": False, "service_tier": None, "api_source": None}]
        srv.openai_cost[day] = [
            {"object": "organization.costs.result", "line_item": f"{GPT}, input",
             "project_id": "proj_core", "user_id": None, "api_key_id": None, "api_source": None,
             "amount": {"value": Decimal("0.08") * d, "currency": "usd"}},
            {"object": "organization.costs.result", "line_item": f"{GPT}, cached input",
             "project_id": "proj_core", "user_id": None, "api_key_id": None, "api_source": None,
             "amount": {"value": Decimal("0.005") * d + Decimal("0.0000000006"),
                        "currency": "usd"}},
            {"object": "organization.costs.result", "line_item": f"{GPT}, output",
             "project_id": "proj_core", "user_id": None, "api_key_id": None, "api_source": None,
             "amount": {"value": Decimal("0.04") * d + Decimal("0.0000000006"),
                        "currency": "usd"}}]


# -- the recorded side: a team cache and this machine's ledger --

def team_config(home: Path, project: str = "demo-reconcile") -> Config:
    # the team's timezone is Los Angeles: a call at 02:00 UTC is the previous local day, and
    # reconcile must still count it on its UTC day
    write_config(home, {"team": "core", "project": project,
                        "timezone": "America/Los_Angeles"})
    return load_config(home)


def call(call_id: str, day: date, hour: int, model: str, ledger_id: str, member: str, *,
         inp: int, out: int, cr: int = 0, cw: int = 0, nanos: int,
         provider: str = "anthropic") -> CallRecord:
    return CallRecord(call_id=call_id, ts=datetime.combine(day, time(hour, 0), UTC),
                      team="core", member=member, ledger_id=ledger_id, provider=provider,
                      model=model, input_tokens=inp, output_tokens=out, cache_read_tokens=cr,
                      cache_write_tokens=cw, cost_nanos=nanos, price_source="test")


def sonnet_calls(day: date, ledger_id: str = "ledger-bea", suffix: str = "") -> list[CallRecord]:
    d = day.day
    return [call(f"msg_s{d:02d}a{suffix}", day, 2, SONNET, ledger_id, "bea@example.com",
                 inp=60_000 * d, out=12_000 * d, cr=50_000, cw=3_000,
                 nanos=450_000_000 * d + 29_750_000),
            call(f"msg_s{d:02d}b{suffix}", day, 21, SONNET, ledger_id, "bea@example.com",
                 inp=40_000 * d, out=8_000 * d, nanos=300_000_000 * d)]


def haiku_call(day: date, ledger_id: str) -> CallRecord:
    # one day recorded under the alias, one the way LiteLLM names it
    model = {5: "claude-haiku-4-5", 6: f"anthropic/{HAIKU}"}.get(day.day, HAIKU)
    return call(f"msg_h{day.day:02d}", day, 12, model, ledger_id, "tester@example.com",
                inp=4_000, out=1_000, nanos=123_456_789)


def record_anthropic_team(config: Config, extra: list[CallRecord] = ()) -> None:
    """Bea's sonnet calls reached the team cache from Firestore; this machine's haiku calls
    are in its ledger, days 1-25 pushed and pulled back into the cache, 26-31 not pushed."""
    with Ledger.for_config(config) as ledger:
        mine = [haiku_call(day, ledger.ledger_id) for day in OCT]
        ledger.record_many([*mine, *extra])
        pushed = [c for c in mine if c.ts.day <= 25]
        ledger.mark_pushed([c.call_id for c in pushed])
    with TeamCache.for_config(config) as cache:
        cache.upsert([(c, 1_793_000_000_000_000 + i)
                      for i, c in enumerate([*(s for day in OCT for s in sonnet_calls(day)),
                                             *pushed])])


def record_openai_team(config: Config) -> None:
    """Two calls a day on this machine, at 01:00 and 23:00 UTC, adding up to the bill."""
    with Ledger.for_config(config) as ledger:
        ledger.record_many([
            call(f"chatcmpl-{day.day:02d}{part}", day, hour, GPT, ledger.ledger_id,
                 "tester@example.com", inp=20_000 * day.day, out=2_500 * day.day,
                 cr=5_000 * day.day, nanos=62_500_000 * day.day + extra, provider="openai")
            for day in OCT for part, hour, extra in (("a", 1, 0), ("b", 23, 1))])


def reconcile_json(*args: str) -> tuple[int, dict[str, Any], str]:
    result = run("reconcile", *args, "--offline", "--format", "json")
    return result.exit_code, json.loads(result.stdout), result.stderr


def rows_by_key(doc: dict[str, Any]) -> dict[tuple[str | None, str | None], dict[str, Any]]:
    return {(r["day"], r["model"]): r for r in doc["rows"]}


# -- Anthropic --

def test_anthropic_month_that_matches_exits_0_and_sends_the_documented_requests(
        api: AdminAPIServer, teamcost_home: Path) -> None:
    anthropic_month(api)
    record_anthropic_team(team_config(teamcost_home))
    code, doc, err = reconcile_json("--provider", "anthropic", *WINDOW)
    assert code == 0, (doc["verdict"], err)
    assert doc["source"] == "team"
    assert doc["window"] == {"since": "2026-10-01", "until": "2026-10-31", "days": 31,
                             "timezone": "UTC"}
    assert doc["totals"]["billed_nanos"] == ANTHROPIC_NANOS
    assert doc["totals"]["recorded_nanos"] == ANTHROPIC_NANOS
    assert doc["totals"]["recorded_calls"] == 31 * 3
    assert doc["verdict"]["status"] == "ok" and doc["verdict"]["findings"] == []
    assert doc["verdict"]["line"] == ("OK: teamcost recorded $376.75 of the $376.75 anthropic "
                                      "billed (+0.00%), within 2%")
    rows = rows_by_key(doc)
    assert len(rows) == 62 and all(r["status"] == "ok" for r in rows.values())
    oct14 = rows[("2026-10-14", SONNET)]
    assert oct14["billed_nanos"] == oct14["recorded_nanos"] == 750_000_000 * 14 + 29_750_000
    expected_tokens = {"input_tokens": 1_400_000, "output_tokens": 280_000,
                       "cache_read_tokens": 50_000, "cache_write_tokens": 3_000}
    assert oct14["provider_tokens"] == oct14["recorded_tokens"] == expected_tokens
    # the alias and the LiteLLM-prefixed name were matched to the billed model
    assert rows[("2026-10-05", HAIKU)]["recorded_nanos"] == 123_456_789
    assert rows[("2026-10-06", HAIKU)]["recorded_nanos"] == 123_456_789

    usage, cost = api.seen(ANTHROPIC_USAGE), api.seen(ANTHROPIC_COST)
    assert len(usage) == len(cost) == 1
    window = {"starting_at": ["2026-10-01T00:00:00Z"], "ending_at": ["2026-11-01T00:00:00Z"],
              "bucket_width": ["1d"], "limit": ["31"]}
    assert usage[0].query == {**window, "group_by[]": ["model"]}
    assert cost[0].query == {**window, "group_by[]": ["description"]}
    for r in (*usage, *cost):
        assert r.headers["x-api-key"] == KEY
        assert r.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in r.headers


def test_unrecorded_key_spend_exits_3_naming_the_day_and_model(
        api: AdminAPIServer, teamcost_home: Path) -> None:
    anthropic_month(api)
    # a CI job's own key spent $148.20 on Oct 14 without teamcost
    api.anthropic_usage[date(2026, 10, 14)].append(
        {**api.anthropic_usage[date(2026, 10, 14)][0], "api_key_id": "apikey_ci",
         "uncached_input_tokens": 30_000_000, "output_tokens": 3_880_000,
         "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
         "cache_read_input_tokens": 0})
    api.anthropic_cost[date(2026, 10, 14)] += [
        _cost(SONNET, "uncached_input_tokens", "9000"),
        _cost(SONNET, "output_tokens", "5820")]
    record_anthropic_team(team_config(teamcost_home))
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
    assert result.exit_code == 3, result.stderr
    assert ("UNRECORDED: $148.20 billed that no teamcost source recorded: "
            f"2026-10-14 {SONNET} $148.20 (tolerance 2%)") in result.stdout
    assert "31.4M / 1.4M" in result.stdout          # input tokens: provider / recorded
    code, doc, _ = reconcile_json("--provider", "anthropic", *WINDOW)
    assert code == 3
    assert doc["verdict"]["unrecorded_nanos"] == 148_200_000_000
    assert doc["verdict"]["findings"] == [{
        "day": "2026-10-14", "model": SONNET, "status": "unrecorded",
        "billed_nanos": 750_000_000 * 14 + 29_750_000 + 148_200_000_000,
        "recorded_nanos": 750_000_000 * 14 + 29_750_000, "difference_nanos": -148_200_000_000}]
    row = rows_by_key(doc)[("2026-10-14", SONNET)]
    assert row["provider_tokens"]["input_tokens"] == 1_400_000 + 30_000_000
    assert row["recorded_tokens"]["input_tokens"] == 1_400_000
    # judged per day instead, the same day is named without a model
    code, doc, _ = reconcile_json("--provider", "anthropic", *WINDOW, "--by", "day")
    assert code == 3
    assert [(f["day"], f["model"]) for f in doc["verdict"]["findings"]] == [("2026-10-14", None)]


def test_a_double_counted_day_exits_4(api: AdminAPIServer, teamcost_home: Path) -> None:
    anthropic_month(api)
    # Oct 20's sonnet calls arrived a second time under other ids (a second importer)
    config = team_config(teamcost_home)
    record_anthropic_team(config, extra=sonnet_calls(date(2026, 10, 20), "ledger-me", "-dup"))
    code, doc, _ = reconcile_json("--provider", "anthropic", *WINDOW)
    assert code == 4
    twice = 750_000_000 * 20 + 29_750_000
    assert doc["verdict"]["overcounted_nanos"] == twice
    assert [(f["day"], f["model"]) for f in doc["verdict"]["findings"]] == [
        ("2026-10-20", SONNET)]
    assert doc["verdict"]["line"] == (
        "OVERCOUNTED: $15.03 recorded that anthropic did not bill (double counting or wrong "
        f"prices): 2026-10-20 {SONNET} $15.03 (tolerance 2%)")
    # a tolerance wide enough for it passes: $15.03 is 100% of that day, 3.99% of the month
    code, doc, _ = reconcile_json("--provider", "anthropic", *WINDOW, "--by", "model",
                                  "--tolerance", "5%")
    assert code == 0, doc["verdict"]


def test_a_429_is_retried_after_the_wait_it_asks_for(api: AdminAPIServer,
                                                      teamcost_home: Path) -> None:
    anthropic_month(api)
    record_anthropic_team(team_config(teamcost_home))
    api.faults.append((429, {"type": "error", "error": {
        "type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit"}},
        {"retry-after": "0"}))
    code, doc, _ = reconcile_json("--provider", "anthropic", *WINDOW)
    assert code == 0
    assert doc["api"] == {"requests": 3, "retries": 1}
    usage = api.seen(ANTHROPIC_USAGE)
    assert len(usage) == 2 and usage[0].query == usage[1].query
    assert doc["totals"]["billed_nanos"] == ANTHROPIC_NANOS


def test_waits_follow_retry_after_else_back_off(api: AdminAPIServer) -> None:
    """The library's waits, with the sleep recorded instead of slept."""
    from teamcost.reconcile import anthropic
    from teamcost.reconcile.http import AdminKey

    anthropic_month(api)
    limited = {"type": "error", "error": {"type": "rate_limit_error", "message": "later"}}
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    api.faults += [(429, limited, {"retry-after": "7"}), (529, overloaded, {}),
                   (503, overloaded, {"retry-after-ms": "250"}), (429, limited, {})]
    waits: list[float] = []
    client = anthropic.api(AdminKey(KEY, "test"), {"ANTHROPIC_BASE_URL": api.anthropic_root},
                           sleep=waits.append)
    usage = anthropic.usage(client, OCT[0], OCT[-1] + timedelta(days=1))
    assert waits == [7.0, 2.0, 0.25, 8.0]      # asked for; else 1, 2, 4, 8 s by attempt
    assert client.stats.requests == 5 and client.stats.retries == 4
    assert sum(u.tokens.output for u in usage) == 20_000 * 496 + 1_000 * 31


def test_an_unreadable_wait_is_no_wait_asked(api: AdminAPIServer) -> None:
    """retry-after-ms NaN or inf (time.sleep(NaN) raised; an infinite wait never ends) is
    treated as absent: the back-off's own 1, 2 s."""
    from teamcost.reconcile import anthropic
    from teamcost.reconcile.http import AdminKey

    anthropic_month(api)
    limited = {"type": "error", "error": {"type": "rate_limit_error", "message": "later"}}
    api.faults += [(429, limited, {"retry-after-ms": "NaN"}),
                   (429, limited, {"retry-after-ms": "inf", "retry-after": "-inf"})]
    waits: list[float] = []
    client = anthropic.api(AdminKey(KEY, "test"), {"ANTHROPIC_BASE_URL": api.anthropic_root},
                           sleep=waits.append)
    anthropic.usage(client, OCT[0], OCT[-1] + timedelta(days=1))
    assert waits == [1.0, 2.0]
    api.faults += [(429, limited, {"retry-after-ms": "NaN"})]
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
    assert result.exit_code in (0, 3, 4), (result.stderr, result.exception)


def test_rate_limits_that_never_end_give_up_with_one_line(api: AdminAPIServer) -> None:
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    api.faults += [(429, body, {"retry-after": "0"})] * 5
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line == (f"teamcost: error: anthropic {ANTHROPIC_USAGE}: HTTP 429 rate_limit_error "
                    "(slow down) after 5 attempts; run the command again later")
    # a server asking for an hour is not waited for
    api.faults[:] = [(429, body, {"retry-after": "3600"})]
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
    assert result.exit_code == 1
    assert "asks to wait 3600 s" in one_error_line(result)


def test_a_refused_key_is_one_line_without_the_key(api: AdminAPIServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-ant-admin01-Wr0ngK3yF0rT3sts-Pp3Q"
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", wrong)
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line == (f"teamcost: error: anthropic {ANTHROPIC_USAGE}: HTTP 401 "
                    "authentication_error (invalid x-api-key); the key in "
                    "ANTHROPIC_ADMIN_API_KEY was refused: the usage and cost reports need an "
                    "organisation admin key")
    assert wrong not in result.stdout + result.stderr and KEY not in result.stdout


def test_paging_across_three_pages(api: AdminAPIServer, teamcost_home: Path) -> None:
    anthropic_month(api)
    api.page_cap = 11                     # 31 days: 11 + 11 + 9 buckets
    record_anthropic_team(team_config(teamcost_home))
    code, doc, _ = reconcile_json("--provider", "anthropic", *WINDOW)
    assert code == 0
    assert doc["totals"]["billed_nanos"] == ANTHROPIC_NANOS
    assert doc["totals"]["provider_tokens"]["output_tokens"] == 20_000 * 496 + 1_000 * 31
    for path in (ANTHROPIC_USAGE, ANTHROPIC_COST):
        pages = api.seen(path)
        assert len(pages) == 3
        assert [p.query.get("page") for p in pages] == [
            None, ["page_b2Zmc2V0OjEx"], ["page_b2Zmc2V0OjIy"]]   # offsets 11 and 22
        base = {k: v for k, v in pages[0].query.items()}
        assert all({k: v for k, v in p.query.items() if k != "page"} == base for p in pages)


def test_today_is_partial_shown_and_not_judged_unless_asked(
        api: AdminAPIServer, teamcost_home: Path) -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    for day, cents in ((yesterday, "250"), (today, "999")):
        api.anthropic_cost[day] = [_cost(SONNET, "output_tokens", cents)]
    config = team_config(teamcost_home)
    with Ledger.for_config(config) as ledger:
        ledger.record_many([call("msg_y", yesterday, 1, SONNET, ledger.ledger_id,
                                 "tester@example.com", inp=1, out=1, nanos=2_500_000_000),
                            call("msg_t", today, 0, SONNET, ledger.ledger_id,
                                 "tester@example.com", inp=1, out=1, nanos=1_000_000_000)])
    result = run("reconcile", "--provider", "anthropic", "--since", "yesterday", "--offline")
    assert result.exit_code == 0, result.stdout
    assert (f"partial: {today.isoformat()} (UTC) is still being counted by anthropic: billed so "
            "far $9.99, recorded $1.00; not judged") in result.stdout
    code, doc, err = reconcile_json("--provider", "anthropic", "--since", "yesterday")
    assert doc["partial_days"] == [today.isoformat()]
    assert doc["partial_totals"]["billed_nanos"] == 9_990_000_000
    assert rows_by_key(doc)[(today.isoformat(), SONNET)]["status"] == "partial"
    code, doc, err = reconcile_json("--provider", "anthropic", "--since", "yesterday",
                                    "--include-today")
    assert code == 3
    assert doc["verdict"]["unrecorded_nanos"] == 8_990_000_000
    assert "judged anyway (--include-today)" in err


def test_the_key_can_come_from_the_config_file(api: AdminAPIServer, teamcost_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    anthropic_month(api)
    record_anthropic_team(team_config(teamcost_home))
    monkeypatch.delenv("ANTHROPIC_ADMIN_API_KEY")
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        "teamcost: error: no anthropic admin key: set ANTHROPIC_ADMIN_API_KEY or [reconcile] "
        f"anthropic_admin_key in {teamcost_home / 'config.toml'} (an organisation admin key; "
        "the usage and cost reports need one)")
    with (teamcost_home / "config.toml").open("a") as fh:
        fh.write(f'\n[reconcile]\nanthropic_admin_key = "{KEY}"\n')
    code, doc, _ = reconcile_json("--provider", "anthropic", *WINDOW)
    assert code == 0 and doc["totals"]["billed_nanos"] == ANTHROPIC_NANOS
    assert api.seen(ANTHROPIC_USAGE)[-1].headers["x-api-key"] == KEY


@pytest.mark.parametrize("args,flag", [
    (["--provider", "google"], "--provider"),
    (["--provider", "anthropic", "--tolerance", "2"], "--tolerance"),
    (["--provider", "anthropic", "--by", "member"], "--by"),
    (["--provider", "anthropic", "--since", "2099-01-01"], "--since"),
    (["--provider", "anthropic", "--since", "2026-10-05", "--until", "2026-10-01"], "--since"),
    (["--provider", "anthropic", "--format", "xml"], "--format")])
def test_bad_usage_exits_2_with_one_line(api: AdminAPIServer, args: list[str],
                                         flag: str) -> None:
    result = run("reconcile", *args, "--offline")
    assert result.exit_code == 2
    assert flag in one_error_line(result)
    assert api.requests == []             # nothing was asked of the provider


@pytest.mark.parametrize("fault,expected", [
    ((200, b"<html>gateway login</html>", {}), "answered HTTP 200 with a body that is not JSON"),
    ((200, {"data": [], "has_more": True}, {}), "said has_more without a next_page cursor"),
    ((200, {"data": [{"starting_at": "2026-10-01T00:00:00Z", "results": [
        {"model": SONNET, "output_tokens": "12"}]}], "has_more": False}, {}),
     "field 'output_tokens' is '12', expected a non-negative integer"),
    ((404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}, {}),
     "HTTP 404 not_found_error (Not found)"),
    # nested deeper than the JSON parser recurses (RecursionError once escaped)
    ((200, b"[" * 100_000 + b"]" * 100_000, {}), "answered HTTP 200 with a body that is not JSON"),
    ((400, b'{"error":' * 100_000 + b"1" + b"}" * 100_000, {}), "HTTP 400")])
def test_a_broken_answer_is_one_line_never_a_traceback(api: AdminAPIServer, fault: Any,
                                                       expected: str) -> None:
    api.faults.append(fault)
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
    assert result.exit_code == 1
    assert expected in one_error_line(result)


def test_an_unreachable_or_malformed_base_url_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                          api: AdminAPIServer) -> None:
    for bad in ("api.anthropic.com", "http://[::1", "http://[::1]:99999", "http://h:port"):
        monkeypatch.setenv("ANTHROPIC_BASE_URL", bad)
        result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
        assert result.exit_code == 1, (bad, result.exception)
        assert "ANTHROPIC_BASE_URL must be an http:// or https:// URL" in one_error_line(result)


def test_an_openai_amount_without_a_value_is_refused_not_zero(api: AdminAPIServer) -> None:
    """{"value": null} is a cost we cannot read: one line, exit 1, as Anthropic's parser
    does for the same; counting it as $0 would let money through unseen."""
    openai_month(api)
    api.openai_cost[OCT[3]][0]["amount"] = {"value": None, "currency": "usd"}
    result = run("reconcile", "--provider", "openai", *WINDOW, "--offline")
    assert result.exit_code == 1, (result.stdout, result.exception)
    assert "amount.value is None, expected a decimal amount" in one_error_line(result)


def test_hostile_labels_are_shown_inert(api: AdminAPIServer, teamcost_home: Path) -> None:
    evil = "evil[bold]x[/bold]\x1b[2J\x07"
    config = team_config(teamcost_home)
    with Ledger.for_config(config) as ledger:
        ledger.record(call("msg_evil", date(2026, 10, 3), 9, evil, ledger.ledger_id,
                           "tester@example.com", inp=1, out=1, nanos=2 * 10**9))
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline")
    assert result.exit_code == 4
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "evil[bold]x[/bold]\\x1b[2J\\x07" in result.stdout     # labels.one_line
    code, doc, _ = reconcile_json("--provider", "anthropic", *WINDOW)
    assert doc["verdict"]["findings"][0]["model"] == evil      # JSON keeps it exactly


def test_by_model_and_csv(api: AdminAPIServer, teamcost_home: Path) -> None:
    anthropic_month(api)
    record_anthropic_team(team_config(teamcost_home))
    result = run("reconcile", "--provider", "anthropic", *WINDOW, "--offline", "--by", "model",
                 "--format", "csv")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("day,model,status,billed_usd,recorded_usd,difference_usd,")
    assert lines[1:] == [
        f",{HAIKU},ok,3.827160459,3.827160459,0.000000000,0.000000,3827160459,3827160459,0,"
        "124000,124000,31000,31000,0,0,0,0,,31,0",
        f",{SONNET},ok,372.922250000,372.922250000,0.000000000,0.000000,372922250000,"
        "372922250000,0,49600000,49600000,9920000,9920000,1550000,1550000,93000,93000,,62,0"]
    assert result.stderr.strip().startswith("OK: teamcost recorded $376.75")


# -- OpenAI --

def test_openai_month_matches_to_the_nano_and_sends_the_documented_requests(
        api: AdminAPIServer, teamcost_home: Path) -> None:
    openai_month(api)
    api.page_cap = 11
    record_openai_team(team_config(teamcost_home))
    code, doc, err = reconcile_json("--provider", "openai", *WINDOW)
    assert code == 0, (doc["verdict"], err)
    assert doc["totals"]["billed_nanos"] == OPENAI_NANOS
    assert doc["totals"]["recorded_nanos"] == OPENAI_NANOS
    oct3 = rows_by_key(doc)[("2026-10-03", GPT)]
    # input_tokens 150,000 include 30,000 cached: teamcost's input is the other 120,000
    assert oct3["provider_tokens"] == {"input_tokens": 120_000, "output_tokens": 15_000,
                                       "cache_read_tokens": 30_000, "cache_write_tokens": 0}
    assert oct3["provider_tokens"] == oct3["recorded_tokens"]
    assert oct3["provider_requests"] == 4 and oct3["recorded_calls"] == 2
    start, end = "1790812800", "1793491200"     # 2026-10-01 and 2026-11-01, 00:00 UTC
    assert datetime.fromtimestamp(int(start), UTC) == datetime(2026, 10, 1, tzinfo=UTC)
    assert datetime.fromtimestamp(int(end), UTC) == datetime(2026, 11, 1, tzinfo=UTC)
    usage, cost = api.seen(OPENAI_USAGE), api.seen(OPENAI_COST)
    assert len(usage) == 3 and len(cost) == 3        # 11 + 11 + 9 daily buckets
    window = {"start_time": [start], "end_time": [end], "bucket_width": ["1d"]}
    assert usage[0].query == {**window, "group_by[]": ["model"], "limit": ["31"]}
    assert cost[0].query == {**window, "group_by[]": ["line_item"], "limit": ["180"]}
    assert usage[2].query == {**window, "group_by[]": ["model"], "limit": ["31"],
                              "page": ["page_b2Zmc2V0OjIy"]}
    for r in (*usage, *cost):
        assert r.headers["authorization"] == f"Bearer {OKEY}"
        assert "x-api-key" not in r.headers


def test_the_official_openai_sdk_sends_what_teamcost_sends(api: AdminAPIServer,
                                                           teamcost_home: Path) -> None:
    """The test server's dialect is the SDK's: the same query, and the SDK reads its pages."""
    openai = pytest.importorskip("openai")
    openai_month(api)
    record_openai_team(team_config(teamcost_home))
    code, _, _ = reconcile_json("--provider", "openai", *WINDOW)
    assert code == 0
    ours = api.seen(OPENAI_USAGE)[0].query
    client = openai.OpenAI(admin_api_key=OKEY, api_key="unused", base_url=api.openai_root)
    page = client.admin.organization.usage.completions(
        start_time=1790812800, end_time=1793491200, bucket_width="1d", group_by=["model"],
        limit=31)
    sdk = api.seen(OPENAI_USAGE)[-1]
    assert sdk.query == ours
    assert sdk.headers["authorization"] == f"Bearer {OKEY}"
    assert page.data[2].results[0].input_cached_tokens == 30_000
    ours = api.seen(OPENAI_COST)[0].query
    costs = client.admin.organization.usage.costs(
        start_time=1790812800, end_time=1793491200, bucket_width="1d", group_by=["line_item"],
        limit=180)
    assert api.seen(OPENAI_COST)[-1].query == ours
    assert costs.data[0].results[0].line_item == f"{GPT}, input"


def test_openai_refused_key_is_scrubbed_from_the_message(api: AdminAPIServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    openai_month(api)
    wrong = "sk-admin-Wr0ngOpenAIK3yForT3sts-Mm4N"
    monkeypatch.setenv("OPENAI_ADMIN_KEY", wrong)
    result = run("reconcile", "--provider", "openai", *WINDOW, "--offline")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith(f"teamcost: error: openai {OPENAI_USAGE.removeprefix('/v1')}: HTTP "
                           "401 invalid_request_error (Incorrect API key provided: sk-... You "
                           "can find your API key at")
    assert "the key in OPENAI_ADMIN_KEY was refused" in line
    for fragment in (wrong, wrong[:8] + "*", wrong[-4:]):
        assert fragment not in result.stdout + result.stderr


# -- the key is never written anywhere --

def _cli(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "teamcost"), "reconcile", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _files_holding(root: Path, secret: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and secret in path.read_bytes():
            hits.append(str(path))
    return hits


@pytest.mark.emulator
def test_the_admin_key_is_never_printed_logged_or_stored(
        api: AdminAPIServer, tmp_path: Path, firestore_emulator: Any,
        firestore_client: Any) -> None:
    """Two machines share a team in the (real) Firestore emulator; machine B reconciles after
    pulling what A pushed, in real subprocesses, in every format, successfully and not.
    Neither key appears in any output, any file under either home, or any document."""
    from teamcost.sync.service import run_push

    anthropic_month(api)
    home_a, home_b = tmp_path / "machine-a", tmp_path / "machine-b"
    config_a = team_config(home_a, firestore_emulator.project)
    with Ledger.for_config(config_a) as ledger:
        ledger.record_many([c for day in OCT for c in sonnet_calls(day, ledger.ledger_id)])
    assert run_push(config_a).pushed == 62
    config_b = team_config(home_b, firestore_emulator.project)
    with Ledger.for_config(config_b) as ledger:
        ledger.record_many([haiku_call(day, ledger.ledger_id) for day in OCT])

    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMCOST_")}
    env |= {"TEAMCOST_HOME": str(home_b), "TEAMCOST_MEMBER": "tester@example.com",
            "COLUMNS": "200", "ANTHROPIC_ADMIN_API_KEY": KEY, "OPENAI_ADMIN_KEY": OKEY}
    outputs = []
    first = _cli(home_b, env, "--provider", "anthropic", *WINDOW, "--format", "json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["source"] == "team" and doc["totals"]["recorded_nanos"] == ANTHROPIC_NANOS
    outputs.append(first)
    for fmt in ("table", "csv"):
        outputs.append(_cli(home_b, env, "--provider", "anthropic", *WINDOW, "--format", fmt))
        assert outputs[-1].returncode == 0, outputs[-1].stderr
    api.faults.append((500, {"type": "error", "error": {"type": "api_error",
                                                        "message": f"echo {KEY}"}}, {}))
    outputs.append(_cli(home_b, env, "--provider", "anthropic", *WINDOW, "--offline"))
    assert outputs[-1].returncode == 0      # the 500 was retried
    api.faults.append((400, {"type": "error", "error": {"type": "invalid_request_error",
                                                        "message": f"bad key {KEY}!"}}, {}))
    outputs.append(_cli(home_b, env, "--provider", "anthropic", *WINDOW, "--offline"))
    assert outputs[-1].returncode == 1
    assert "(bad key [admin key]!)" in outputs[-1].stderr
    outputs.append(_cli(home_b, dict(env, ANTHROPIC_ADMIN_API_KEY=KEY + "x"),
                        "--provider", "anthropic", *WINDOW, "--offline"))
    assert outputs[-1].returncode == 1
    outputs.append(_cli(home_b, env, "--provider", "openai", *WINDOW, "--offline"))
    assert outputs[-1].returncode == 1       # the server holds the Anthropic key only
    for p in outputs:
        for secret in (KEY, OKEY):
            assert secret not in p.stdout and secret not in p.stderr
    for secret in (KEY, OKEY):
        assert _files_holding(tmp_path, secret.encode()) == []
    documents = [json.dumps(d.to_dict(), default=str)
                 for d in firestore_client.collection("trinity_costs").stream()]
    assert len(documents) == 62
    assert not [d for d in documents if KEY in d or OKEY in d]
