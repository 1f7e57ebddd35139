"""`teamcost import cursor|copilot` against a local server speaking Cursor's Admin API and
GitHub's Copilot billing API as documented (tests/vendor_api_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from teamcost.capture.vendors import copilot, cursor
from teamcost.config import load_config
from teamcost.errors import ProviderAPIError
from teamcost.httpapi import RetryPolicy
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.periods import Window
from tests.cli_support import one_error_line, run
from tests.vendor_api_server import CURSOR_EVENTS, VendorAPIServer, serve

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def ms(ts: datetime) -> str:
    return str(int(ts.timestamp() * 1000))


@pytest.fixture()
def server() -> Iterator[VendorAPIServer]:
    srv = VendorAPIServer()
    httpd, thread = serve(srv)
    yield srv
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def env(srv: VendorAPIServer, **extra: str) -> dict[str, str]:
    return {"CURSOR_ADMIN_API_KEY": srv.cursor_key, "CURSOR_API_BASE_URL": srv.cursor_root,
            "GITHUB_TOKEN": srv.github_token, "GITHUB_API_URL": srv.github_root, **extra}


def aliases(home: Path, table: dict[str, str]) -> None:
    lines = ["[member_aliases]"] + [f'"{k}" = "{v}"' for k, v in table.items()]
    with (home / "config.toml").open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def ledger_rows() -> list[CallRecord]:
    led = Ledger.for_config(load_config())
    try:
        return sorted(led.calls(), key=lambda r: (r.ts, r.call_id))
    finally:
        led.close()


def cursor_event(ts: datetime, email: str, kind: str, total: str | None,
                 charged: str | None = None, tokens: tuple[int, int] = (100, 20)) -> dict:
    e: dict = {"timestamp": ms(ts), "model": "claude-4-sonnet", "kind": kind,
               "maxMode": False, "requestsCosts": 1, "isTokenBasedCall": kind == "Usage-based",
               "isFreeBugbot": False, "userEmail": email}
    if total is not None:
        e["tokenUsage"] = {"inputTokens": tokens[0], "outputTokens": tokens[1],
                           "cacheWriteTokens": 0, "cacheReadTokens": 0,
                           "totalCents": Decimal(total)}
    if charged is not None:
        e["chargedCents"] = Decimal(charged)
    return e


def fast() -> dict:
    return {"policy": RetryPolicy(attempts=3, base_s=0.0, max_wait_s=5.0),
            "sleep": lambda s: None}


def test_cursor_pages_windows_and_counts_each_event_once(
        server: VendorAPIServer, teamcost_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cursor, "PAGE_SIZE", 2)
    aliases(teamcost_home, {"Dev@Corp.com": "dev"})
    base = NOW - timedelta(days=40)
    server.cursor_events = [
        # usage-based: chargedCents is what Cursor bills
        cursor_event(base + timedelta(days=1), "dev@corp.com", "Usage-based", "20.18232",
                     "21.36232"),
        # newer answers: the enum kind, no chargedCents: totalCents
        cursor_event(base + timedelta(days=35), "dev@corp.com",
                     "USAGE_EVENT_KIND_USAGE_BASED", "40.167"),
        # included in the seat: value at list price, billing plan
        cursor_event(base + timedelta(days=36), "dev@corp.com", "Included in Business", "7.5"),
        # included, not token based: no amount -> unpriced, visible
        cursor_event(base + timedelta(days=37), "other@corp.com", "Included in Business", None),
        # two identical events in the same millisecond are two calls
        cursor_event(base + timedelta(days=38), "other@corp.com", "Usage-based", "1", "1"),
        cursor_event(base + timedelta(days=38), "other@corp.com", "Usage-based", "1", "1"),
        # a kind teamcost does not know: no billing tag
        cursor_event(base + timedelta(days=39), "dev@corp.com", "Bugbot Special", "3"),
    ]
    window = Window(base, NOW, "x")
    result = cursor.import_cursor(load_config(), window, env(server), now=NOW, **fast())
    assert (result.imported, result.already, result.skipped) == (7, 0, 0)
    assert result.unmapped == ["other@corp.com"]
    assert result.rows_by_billing == {"metered": 4, "plan": 2, "unknown": 1}
    # 40 days = a 30-day span and a 10-day span; each paged by 2
    bodies = [r.body for r in server.requests if r.path == CURSOR_EVENTS]
    assert all(b["endDate"] - b["startDate"] < 30 * 86_400_000 for b in bodies)
    assert {b["page"] for b in bodies} >= {1, 2, 3}
    rows = ledger_rows()
    cents: dict[str, int] = {}
    for r in rows:
        cents[r.member] = cents.get(r.member, 0) + r.cost_nanos
    # by hand: dev 21.36232 + 40.167 + 7.5 + 3 cents; other 0 + 1 + 1 cents
    assert cents == {"dev": 720_293_200, "other@corp.com": 20_000_000}
    assert all(r.price_source == "reported:cursor" and r.provider == "cursor" for r in rows)
    unpriced = [r for r in rows if not r.priced]
    assert [(r.member, r.tags["billing"]) for r in unpriced] == [("other@corp.com", "plan")]
    assert sorted(r.tags.get("billing", "-") for r in rows) == \
        ["-", "metered", "metered", "metered", "metered", "plan", "plan"]

    # again, and an overlapping window: nothing new
    again = cursor.import_cursor(load_config(), Window(base + timedelta(days=30), NOW, "y"),
                                 env(server), now=NOW, **fast())
    assert (again.imported, again.already) == (0, 6)   # days 35..39: six events
    assert len(ledger_rows()) == 7
    # /teams/spend agrees with the usage-based calls recorded this cycle: nothing said
    assert result.bad == [] and again.bad == []


def test_cursor_rate_limit_waits_as_asked(server: VendorAPIServer, teamcost_home: Path) -> None:
    server.cursor_events = [cursor_event(NOW - timedelta(days=1), "a@corp.com", "Usage-based",
                                         "5", "5")]
    server.faults.append((429, {"error": "Too Many Requests", "message": "slow down"},
                          {"Retry-After": "3"}))
    waits: list[float] = []
    result = cursor.import_cursor(load_config(), Window(NOW - timedelta(days=2), NOW, "x"),
                                  env(server), now=NOW,
                                  policy=RetryPolicy(attempts=3, max_wait_s=10),
                                  sleep=waits.append)
    assert waits == [3.0] and result.imported == 1


def test_cursor_refused_key_is_one_line_without_the_key(
        server: VendorAPIServer, teamcost_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "key_" + "w" * 64
    for k, v in env(server, CURSOR_ADMIN_API_KEY=wrong).items():
        monkeypatch.setenv(k, v)
    result = run("import", "cursor", "--since", "2d")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "HTTP 401" in line and "CURSOR_ADMIN_API_KEY" in line
    assert wrong not in result.output + result.stderr
    assert wrong[4:20] not in result.output + result.stderr
    for f in teamcost_home.rglob("*"):
        if f.is_file():
            assert wrong.encode() not in f.read_bytes()


@pytest.mark.parametrize(("status", "body", "expect"), [
    (200, b"<html>hello</html>", "not JSON"),
    (200, {"usageEvents": "nope"}, "without a usageEvents list"),
])
def test_cursor_garbage_is_one_line(server: VendorAPIServer, teamcost_home: Path,
                                    monkeypatch: pytest.MonkeyPatch, status: int, body: object,
                                    expect: str) -> None:
    for k, v in env(server).items():
        monkeypatch.setenv(k, v)
    server.faults.append((status, body, {}))
    result = run("import", "cursor", "--since", "2d")
    assert result.exit_code == 1
    assert expect in one_error_line(result)
    assert ledger_rows() == []


def test_cursor_server_errors_give_up_after_the_retries(server: VendorAPIServer,
                                                        teamcost_home: Path) -> None:
    server.faults.extend([(500, {"error": "boom"}, {})] * 3)
    with pytest.raises(ProviderAPIError, match="HTTP 500 boom after 3 attempts"):
        cursor.import_cursor(load_config(), Window(NOW - timedelta(days=1), NOW, "x"),
                             env(server), now=NOW, **fast())


def test_cursor_bad_event_is_reported_and_the_rest_recorded(
        server: VendorAPIServer, teamcost_home: Path) -> None:
    good = cursor_event(NOW - timedelta(hours=5), "a@corp.com", "Usage-based", "2", "2")
    server.cursor_events = [good, {**good, "timestamp": "soon"},
                            {**good, "timestamp": ms(NOW - timedelta(hours=4)),
                             "tokenUsage": {"inputTokens": -1, "totalCents": 1}},
                            {**good, "userEmail": "x" * 10_000},
                            {**good, "userEmail": "a" * 200 + "@corp.com"},
                            {**good, "model": "gpt\udcff"},
                            {**good, "chargedCents": "NaN"},
                            [1, 2], None]
    result = cursor.import_cursor(load_config(), Window(NOW - timedelta(days=1), NOW, "x"),
                                  env(server), now=NOW, **fast())
    assert result.imported == 1 and result.skipped == 8
    assert result.unmapped == ["a@corp.com"]
    assert any("timestamp" in b for b in result.bad)


def _item(model: str, gross: int, included: int, price: str = "0.04") -> dict:
    p = Decimal(price)
    return {"product": "Copilot", "sku": "Copilot Premium Request", "model": model,
            "unitType": "requests", "pricePerUnit": p, "grossQuantity": gross,
            "grossAmount": p * gross, "discountQuantity": included,
            "discountAmount": p * included, "netQuantity": gross - included,
            "netAmount": p * (gross - included)}


def test_copilot_month_per_seat_holder_split_included_and_billed(
        server: VendorAPIServer, teamcost_home: Path) -> None:
    aliases(teamcost_home, {"octo-cat": "cat"})
    server.github_seats = ["octo-cat", "stranger"]
    server.github_reports = ("premium_request",)   # ai_credit: 404, skipped and said
    server.github_usage = {
        ("premium_request", "octo-cat", date(2026, 11, 3)): [_item("claude-sonnet-4", 250, 250)],
        ("premium_request", "octo-cat", date(2026, 11, 20)): [_item("claude-sonnet-4", 100, 50),
                                                              _item("gpt-5", 10, 0)],
        ("premium_request", "stranger", date(2026, 11, 5)): [_item("gpt-5", 4, 4)],
        # not settled yet at NOW (day ends 11-28 00:00 + 24 h > NOW): not read
        ("premium_request", "octo-cat", date(2026, 11, 27)): [_item("gpt-5", 7, 0)],
    }
    result = copilot.import_copilot(load_config(), "acme", "2026-11", env(server), now=NOW,
                                    **fast())
    assert result.unmapped == ["stranger"]
    assert any("ai-credit report is not offered" in b for b in result.bad)
    rows = ledger_rows()
    got = sorted((r.member, r.ts.date(), r.model, r.cost_nanos) for r in rows)
    billing: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r.member, r.tags["billing"])
        billing[key] = billing.get(key, 0) + r.cost_nanos
    # by hand at $0.04 a request: cat included 250 + 50 = $12.00; billed 50 + 10 = $2.40;
    # stranger included 4 = $0.16
    assert billing == {("cat", "plan"): 12_000_000_000, ("cat", "metered"): 2_400_000_000,
                       ("stranger", "plan"): 160_000_000}
    assert len(got) == 5
    days = {r.query["day"][0] for r in server.requests if "usage" in r.path}
    assert "27" not in days and "26" in days
    again = copilot.import_copilot(load_config(), "acme", "2026-11", env(server), now=NOW,
                                   **fast())
    assert (again.imported, again.already) == (0, 5)


def test_copilot_refused_token_is_one_line_without_it(
        server: VendorAPIServer, teamcost_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "ghp_" + "x" * 36
    for k, v in env(server, GITHUB_TOKEN=wrong).items():
        monkeypatch.setenv(k, v)
    result = run("import", "copilot", "--org", "acme", "--month", "2026-10")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "HTTP 401" in line and "GITHUB_TOKEN" in line
    assert wrong not in result.output + result.stderr


def test_copilot_rate_limit_403_waits_for_reset(server: VendorAPIServer,
                                                teamcost_home: Path) -> None:
    server.github_seats = []
    server.faults.append((403, {"message": "API rate limit exceeded"},
                          {"x-ratelimit-remaining": "0", "retry-after": "2"}))
    waits: list[float] = []
    copilot.import_copilot(load_config(), "acme", "2026-10", env(server), now=NOW,
                           policy=RetryPolicy(attempts=3), sleep=waits.append)
    assert waits == [2.0]


def test_missing_key_and_bad_month_are_one_line(teamcost_home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CURSOR_ADMIN_API_KEY", raising=False)
    r = run("import", "cursor")
    assert r.exit_code == 1 and "CURSOR_ADMIN_API_KEY" in one_error_line(r)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "y" * 36)
    r = run("import", "copilot", "--org", "acme", "--month", "2026-13")
    assert r.exit_code == 2 and "--month" in one_error_line(r)


def test_provider_error_type() -> None:
    assert issubclass(ProviderAPIError, Exception)


def test_copilot_garbage_items_are_reported_and_the_rest_recorded(
        server: VendorAPIServer, teamcost_home: Path) -> None:
    server.github_seats = ["octo", "bad\nlogin", "x" * 500]
    good = _item("gpt-5", 10, 4)
    items = [good,
             {**_item("gpt-4o", 1, 0), "model": None, "sku": None},
             {**_item("o3", 1, 0), "netAmount": "NaN"},
             {**_item("o4", 1, 0), "netQuantity": -5},
             {**_item("o5", 1, 0), "netAmount": Decimal("1e30")},
             "not an item"]
    server.github_usage = {("premium_request", "octo", date(2026, 10, 3)): items}
    server.github_reports = ("premium_request",)
    server.github_raw = True
    result = copilot.import_copilot(load_config(), "acme", "2026-10", env(server), now=NOW,
                                    **fast())
    assert result.imported == 2            # gpt-5: the included and the billed part
    assert result.skipped == 5
    asked = {r.query["user"][0] for r in server.requests if "user" in r.query}
    assert asked == {"octo"}


def test_the_agent_imports_both_vendors_on_its_schedule(
        server: VendorAPIServer, teamcost_home: Path, tmp_path: Path) -> None:
    from teamcost.agent.loop import Agent, AgentOptions

    server.cursor_events = [cursor_event(NOW - timedelta(hours=3), "a@corp.com",
                                         "Usage-based", "5", "5")]
    server.github_seats = ["octo"]
    server.github_reports = ("premium_request",)
    server.github_usage = {("premium_request", "octo", date(2026, 11, 20)): [_item("gpt-5", 3, 1)]}
    events: list[tuple[str, dict]] = []
    empty = tmp_path / "none"
    empty.mkdir()
    bad = {**env(server), "GITHUB_TOKEN": "ghp_" + "z" * 36}
    opts = AgentOptions(vendors_every=3600, copilot_org="acme", vendor_env=bad, otlp_port=0,
                        claude_dirs=[empty], codex_dirs=[empty], gemini_dirs=[empty])
    agent = Agent(load_config(), opts, emit=lambda e, **f: events.append((e, f)))
    try:
        agent.import_vendors(now=NOW)       # a refused token: the job fails, says so, no key
        assert events[-1][0] == "vendors-failed"
        assert "HTTP 401" in events[-1][1]["error"] and "zzzz" not in str(events)
        agent.options.vendor_env = env(server)
        agent.import_vendors(now=NOW)
        agent.import_vendors(now=NOW)       # again: nothing new
    finally:
        agent.close()
    assert events[-2][0] == events[-1][0] == "vendors-imported"
    # the failed run had recorded Cursor's call already (each import stands alone)
    assert events[-2][1]["cursor"]["imported"] == 0
    assert events[-2][1]["copilot"]["2026-11"]["imported"] == 2
    assert events[-1][1]["copilot"]["2026-11"]["imported"] == 0
    assert len(ledger_rows()) == 3


def test_cursor_spend_that_differs_from_the_record_is_said(server: VendorAPIServer,
                                                           teamcost_home: Path) -> None:
    server.cursor_events = [cursor_event(NOW - timedelta(days=1), "a@corp.com",
                                         "Usage-based", "5", "5")]
    server.cursor_spend_extra = {"b@corp.com": Decimal("250")}   # billed, no event seen
    result = cursor.import_cursor(load_config(), Window(NOW - timedelta(days=2), NOW, "x"),
                                  env(server), now=NOW, **fast())
    assert result.imported == 1
    assert result.bad == ["cursor spend this cycle (since 2026-11-01 00:00 UTC): b@corp.com "
                          "$2.50 by Cursor, $0.00 usage-based recorded"]


def test_a_past_figure_the_vendor_changes_is_a_conflict_not_an_overwrite(
        server: VendorAPIServer, teamcost_home: Path) -> None:
    event = cursor_event(NOW - timedelta(hours=5), "a@corp.com", "Usage-based", "5", "5")
    server.cursor_events = [event]
    window = Window(NOW - timedelta(days=1), NOW, "x")
    assert cursor.import_cursor(load_config(), window, env(server), now=NOW,
                                **fast()).imported == 1
    server.cursor_events = [{**event, "chargedCents": Decimal("7")}]
    again = cursor.import_cursor(load_config(), window, env(server), now=NOW, **fast())
    assert again.imported == 0 and again.skipped == 1
    assert "already recorded with different cost_nanos" in again.bad[0]
    assert [r.cost_nanos for r in ledger_rows()] == [50_000_000]
