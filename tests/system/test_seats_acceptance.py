"""The acceptance team of four (issue 29): what the team pays, three numbers never mixed.

ann and bob hold Claude Max ($200) and use Claude Code; cy pays per call with an API key and
holds a Copilot seat ($19) with premium requests over quota; dee holds a Cursor seat ($40)
with usage-based overage. Claude Code calls are recorded; Cursor's and Copilot's are
imported from local servers speaking their APIs; everything is pushed to the Firestore
emulator and reported from the team cache. Every expected figure below was worked out by
hand from the fixture (November 2026 has 30 days).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from teamcost.budget.check import check, set_team_budget
from teamcost.capture.vendors import copilot, cursor
from teamcost.config import load_config, write_config
from teamcost.httpapi import RetryPolicy
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.periods import Window
from teamcost.plans.model import Cover, Plan, Plans, Seat
from teamcost.plans.store import put_plans
from teamcost.reports.report import build_report
from teamcost.sync.service import run_push
from teamcost.web.app import create_app
from tests.vendor_api_server import VendorAPIServer, serve

pytestmark = pytest.mark.emulator

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)      # November settled for Copilot's report
MID = datetime(2026, 11, 16, 10, tzinfo=UTC)     # a window starting mid-month, mid-day
ANN, BOB, CY, DEE = "ann@acme.dev", "bob@acme.dev", "cy@acme.dev", "dee@acme.dev"

PLANS = {
    "Claude Max": Plan("Claude Max", 200_000_000_000,
                       (Cover(source="claude-code", provider="anthropic"),)),
    "Cursor Business": Plan("Cursor Business", 40_000_000_000, (Cover(source="cursor"),)),
    "Copilot Business": Plan("Copilot Business", 19_000_000_000, (Cover(source="copilot"),)),
}
SEATS = (Seat(ANN, "Claude Max", NOV), Seat(BOB, "Claude Max", NOV),
         Seat(DEE, "Cursor Business", NOV), Seat(CY, "Copilot Business", NOV))


def t(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def recorded_calls(ledger_id: str) -> list[CallRecord]:
    def call(n: int, member: str, ts: datetime, provider: str, model: str, nanos: int,
             source: str | None) -> CallRecord:
        return CallRecord(call_id=f"acc-{n}", ts=ts, team="acme", member=member,
                          ledger_id=ledger_id, provider=provider, model=model,
                          input_tokens=1000, output_tokens=100, cost_nanos=nanos,
                          price_source="genai-prices",
                          agent="claude-code" if source == "claude-code" else None,
                          tags={"source": source} if source else {})
    return [
        call(1, ANN, t(3, 10), "anthropic", "claude-opus-4-5", 12_345_678_901, "claude-code"),
        call(2, ANN, t(20, 15), "anthropic", "claude-opus-4-5", 30_000_000_003, "claude-code"),
        call(3, BOB, t(10, 9), "anthropic", "claude-sonnet-4-5", 7_500_000_000, "claude-code"),
        call(4, BOB, t(25), "anthropic", "claude-sonnet-4-5", 2_250_000_000, "claude-code"),
        # cy: an API key through the SDK, and Claude Code with that key (no Max seat)
        call(5, CY, t(5), "openai", "gpt-5", 1_100_000_000, None),
        call(6, CY, t(18), "openai", "gpt-5", 900_000_000, None),
        call(7, CY, t(21), "anthropic", "claude-sonnet-4-5", 3_000_000_000, "claude-code"),
    ]


def cursor_events() -> list[dict[str, Any]]:
    def ev(ts: datetime, kind: str, total: str, charged: str | None) -> dict[str, Any]:
        e: dict[str, Any] = {
            "timestamp": str(int(ts.timestamp() * 1000)), "model": "claude-4-sonnet",
            "kind": kind, "maxMode": False, "requestsCosts": 1,
            "isTokenBasedCall": charged is not None, "isFreeBugbot": False,
            "userEmail": "Dee@Acme.dev",
            "tokenUsage": {"inputTokens": 500, "outputTokens": 50, "cacheWriteTokens": 0,
                           "cacheReadTokens": 0, "totalCents": Decimal(total)}}
        if charged is not None:
            e["chargedCents"] = Decimal(charged)
        return e
    return [ev(t(4), "Included in Business", "50.5", None),          # plan  $0.505
            ev(t(19), "Usage-based", "110", "120.25"),               # metered $1.2025
            ev(t(26), "USAGE_EVENT_KIND_USAGE_BASED", "70", "80")]   # metered $0.80


def premium(gross: int, included: int) -> dict[str, Any]:
    p = Decimal("0.04")
    return {"product": "Copilot", "sku": "Copilot Premium Request", "model": "gpt-5",
            "unitType": "requests", "pricePerUnit": p, "grossQuantity": gross,
            "grossAmount": p * gross, "discountQuantity": included,
            "discountAmount": p * included, "netQuantity": gross - included,
            "netAmount": p * (gross - included)}


@pytest.fixture()
def acme(firestore_emulator, firestore_client, teamcost_home: Path) -> Iterator[Any]:
    srv = VendorAPIServer(cursor_events=cursor_events(), github_org="acme",
                          github_seats=["cy-gh"],
                          github_usage={("premium_request", "cy-gh", date(2026, 11, 8)):
                                        [premium(300, 300)],                 # plan $12.00
                                        ("premium_request", "cy-gh", date(2026, 11, 22)):
                                        [premium(120, 0)]})                  # metered $4.80
    httpd, thread = serve(srv)
    write_config(teamcost_home, {"team": "acme", "member": "admin@acme.dev",
                                 "project": firestore_emulator.project})
    with (teamcost_home / "config.toml").open("a") as fh:
        fh.write('[member_aliases]\n"dee@acme.dev" = "dee@acme.dev"\n"cy-gh" = "cy@acme.dev"\n')
    config = load_config()
    env = {"CURSOR_ADMIN_API_KEY": srv.cursor_key, "CURSOR_API_BASE_URL": srv.cursor_root,
           "GITHUB_TOKEN": srv.github_token, "GITHUB_API_URL": srv.github_root}
    fast = {"policy": RetryPolicy(attempts=2, base_s=0), "sleep": lambda s: None}
    try:
        with Ledger.for_config(config) as led:
            led.record_many(recorded_calls(led.ledger_id))
        got = cursor.import_cursor(config, Window(NOV, DEC, "nov"), env, now=NOW, **fast)
        assert got.imported == 3 and not got.unmapped
        got = copilot.import_copilot(config, "acme", "2026-11", env, reports=(
            "premium-request",), now=NOW, **fast)
        assert got.imported == 2 and not got.unmapped
        run_push(config, client=firestore_client)
        put_plans(firestore_client, Plans("acme", PLANS, SEATS))
        yield config, firestore_client
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# by hand: metered = cy 1.10 + 0.90 + 3.00 (API key) + 4.80 (Copilot over quota)
#                    + dee 1.2025 + 0.80 (Cursor usage-based)
#          plan usage = ann 12.345678901 + 30.000000003, bob 7.50 + 2.25,
#                       dee 0.505 (Cursor included), cy 12.00 (Copilot included)
#          seats = 200 + 200 + 40 + 19
FULL = {"summary": (11_802_500_000, 459_000_000_000, 64_600_678_904),
        "member": {ANN: (0, 200_000_000_000, 42_345_678_904),
                   BOB: (0, 200_000_000_000, 9_750_000_000),
                   CY: (9_800_000_000, 19_000_000_000, 12_000_000_000),
                   DEE: (2_002_500_000, 40_000_000_000, 505_000_000)}}
# from Nov 16 10:00: 350 of November's 720 hours = 35/72 of each seat, rounded half-even
# once per member: 200e9*35/72 = 97,222,222,222.2 -> ...222; 40e9*35/72 = 19,444,444,444.4;
# 19e9*35/72 = 9,236,111,111.1
HALF = {"summary": (10_702_500_000, 223_124_999_999, 32_250_000_003),
        "member": {ANN: (0, 97_222_222_222, 30_000_000_003),
                   BOB: (0, 97_222_222_222, 2_250_000_000),
                   CY: (8_700_000_000, 9_236_111_111, 0),
                   DEE: (2_002_500_000, 19_444_444_444, 0)}}


def three(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["metered_nanos"], row["seats_nanos"], row["plan_usage_nanos"]


def check_doc(doc: dict[str, Any], want: dict[str, Any]) -> None:
    assert three(doc["summary"]) == want["summary"]
    assert {r["member"]: three(r) for r in doc["breakdowns"]["member"]} == want["member"]
    # never mixed: cost_nanos stays every call's list value, metered + plan usage
    s = doc["summary"]
    assert s["cost_nanos"] == s["metered_nanos"] + s["plan_usage_nanos"]
    assert sum(r["seats_nanos"] for r in doc["breakdowns"]["member"]) == s["seats_nanos"]
    assert sum(r["seats_nanos"] for r in doc["breakdowns"]["model"]) == 0


def test_report_full_month_and_mid_month_to_the_nano(acme) -> None:
    config, client = acme
    for window, want in ((Window(NOV, DEC, "nov"), FULL), (Window(MID, DEC, "half"), HALF)):
        doc = build_report(config, window, now=NOW, client=client)
        check_doc(doc, want)
    doc = build_report(config, Window(NOV, DEC, "nov"), now=NOW, client=client)
    # which rule classified how many: 9 tagged by their source (3 Cursor, 2 Copilot)...
    assert doc["summary"]["billing_rules"] == {"source": 5, "plan": 4, "no-plan": 3,
                                               "plans-unknown": 0}
    assert doc["summary"]["plans"] == "read"
    # the day trend carries each day's share of the seats: 459 / 30 = $15.30 a day
    assert {r["seats_nanos"] for r in doc["trend"]["day"]} == {15_300_000_000}


def test_offline_report_uses_the_plans_kept_from_the_last_read(acme) -> None:
    config, client = acme
    build_report(config, Window(NOV, DEC, "nov"), now=NOW, client=client)
    doc = build_report(config, Window(NOV, DEC, "nov"), now=NOW, refresh=False, budget=False)
    check_doc(doc, FULL)


def test_budget_counts_metered_plus_prorated_seats(acme) -> None:
    config, client = acme
    set_team_budget(config, "1000", "month", tz="UTC", client=client)
    st = check(config, client=client, now=NOW - timedelta(days=2), alerts=False)
    assert (st.metered_nanos, st.seats_nanos, st.plan_usage_nanos) == FULL["summary"]
    assert st.spent_nanos == 11_802_500_000 + 459_000_000_000
    assert "metered $11.80 + seats $459.00" in st.line
    # a week (Mon Nov 16 - Mon Nov 23): 7/30 of $459 = $107.10; metered in it: cy 0.90 +
    # 3.00 + 4.80, dee 1.2025
    set_team_budget(config, "1000", "week", tz="UTC", client=client)
    st = check(config, client=client, now=t(18), alerts=False)
    assert (st.metered_nanos, st.seats_nanos) == (9_902_500_000, 107_100_000_000)
    assert st.to_dict()["counts"] == "metered + seats"


def test_dashboard_shows_the_same_three_numbers(acme) -> None:
    config, client = acme
    app = create_app(config, clock=lambda: NOW)
    with TestClient(app, base_url="http://127.0.0.1") as web:
        got = web.get("/api/report", params={"since": "2026-11-16T10:00:00Z",
                                             "until": "2026-12-01T00:00:00Z"})
        assert got.status_code == 200, got.text
        check_doc(got.json(), HALF)


def test_a_mid_month_plan_change_changes_only_later_calls(acme) -> None:
    config, client = acme
    switch = datetime(2026, 11, 15, tzinfo=UTC)
    # bob leaves Claude Max on the 15th and pays per call from then on
    put_plans(client, Plans("acme", PLANS, (*SEATS, Seat(BOB, "Claude Max", switch,
                                                         holds=False))))
    doc = build_report(config, Window(NOV, DEC, "nov"), now=NOW, client=client)
    rows = {r["member"]: three(r) for r in doc["breakdowns"]["member"]}
    # bob's Nov 10 call stays plan usage, his Nov 25 call becomes metered; his seat is
    # 14/30 of $200 = 93,333,333,333.3 -> 93,333,333,333
    assert rows[BOB] == (2_250_000_000, 93_333_333_333, 7_500_000_000)
    assert rows[ANN] == FULL["member"][ANN]
    json.dumps(doc)   # still one JSON document


def test_a_mid_month_plan_change_in_the_focus_export(acme, tmp_path: Path) -> None:
    config, client = acme
    switch = datetime(2026, 11, 15, tzinfo=UTC)
    put_plans(client, Plans("acme", PLANS, (*SEATS, Seat(BOB, "Claude Max", switch,
                                                         holds=False))))
    rows, _csv, _parquet = _focus_rows(config, Window(NOV, DEC, "nov"), tmp_path)
    # the same figures as the report's: bob's seat ends with the 14th, his Nov 25 call
    # is billed per use from then on
    assert _focus_three(rows, BOB) == (2_250_000_000, 93_333_333_333, 7_500_000_000)
    bobs = sorted(r["ChargePeriodStart"][:10] for r in rows
                  if r["x_Member"] == BOB and r["ChargeCategory"] == "Purchase")
    assert (bobs[0], bobs[-1], len(bobs)) == ("2026-11-01", "2026-11-14", 14)
    late = [r for r in rows if r["x_Member"] == BOB and r["ChargePeriodStart"].startswith(
        "2026-11-25")]
    assert late and {(r["x_Billing"], r["CommitmentDiscountId"]) for r in late} == {
        ("metered", "")}


def test_the_table_shows_the_three_numbers_side_by_side(acme) -> None:
    from teamcost.commands.report import report_view
    from teamcost.commands.tables import to_text

    config, client = acme
    doc = build_report(config, Window(NOV, DEC, "nov"), now=NOW, client=client)
    text = " ".join(to_text(report_view(doc, 400), 400).split())
    assert "metered $11.80 · seats $459.00 · plan usage $64.60 at list price" in text
    assert "4 by plan" in text and "3 by no-plan" in text


# ---- the dashboard in Chromium: the three numbers of the hand-computed table ----

from tests.system.test_web_browser import browser, free_port  # noqa: E402,F401 (a fixture)
from tests.system.web_support import serving  # noqa: E402

HOSTILE = '<img src=x onerror=alert(1)>"\n&amp;'


def _dollars(nanos: int) -> str:
    """The page's digits for an amount, worked out here with exact decimals (half-even):
    cents from $1 up and for zero, three significant digits below (trailing zeros dropped
    down to cents), the rule of the CLI's tables."""
    d = Decimal(nanos) / 10**9
    if 0 < d < 1:
        whole, frac = f"{d.quantize(Decimal(1).scaleb(d.adjusted() - 2), ROUND_HALF_EVEN)}" \
            .split(".")
        return f"${whole}.{frac.rstrip('0').ljust(2, '0')}"
    return f"${d.quantize(Decimal('0.01'), ROUND_HALF_EVEN):,}"


def _page_three(page: Any) -> tuple[str, str, str]:
    return (page.text_content("#pays-metered") or "", page.text_content("#pays-seats") or "",
            page.text_content("#pays-plan") or "")


def _member_cells(page: Any) -> dict[str, tuple[str, str, str]]:
    rows = page.eval_on_selector_all(
        "#breakdown[data-dim='member'] tbody tr[data-key]",
        "trs => trs.map(tr => [tr.dataset.key, ...['metered_nanos', 'seats_nanos', "
        "'plan_usage_nanos'].map(c => tr.querySelector(`td[data-col='${c}']`).textContent)])")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _open(page: Any, url: str, since: str) -> None:
    page.goto(url)
    page.wait_for_function("s => document.body.dataset.since === s && "
                           "document.body.dataset.ready === '1'", arg=since, timeout=30_000)


@pytest.mark.slow
def test_the_dashboard_shows_the_three_numbers_in_chromium(acme, browser,
                                                           firestore_emulator) -> None:
    config, client = acme
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    with serving(config.home, "--pull-every", "0", env=env, port=free_port()) as srv:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        for since, until, want in (("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", FULL),
                                   ("2026-11-16T10:00:00Z", "2026-12-01T00:00:00Z", HALF)):
            _open(page, f"{srv.url}?since={since}&until={until}&window=custom&tab=member",
                  since)
            assert page.is_visible("#pays")
            assert _page_three(page) == tuple(_dollars(n) for n in want["summary"])
            cells = _member_cells(page)
            assert {m: cells[m] for m in want["member"]} == {
                m: tuple(_dollars(n) for n in v)
                for m, v in want["member"].items()}
        # the window from Nov 16 10:00: Cursor's two events and Copilot's overage by their
        # source, ann's and bob's late calls by their plan, cy's two by no plan
        assert page.text_content("#pays-rules") == \
            "calls classified 3 by source, 2 by plan, 2 by no-plan"

        # a seat holder with a hostile name and no calls: a row of text, $200 of seats more
        put_plans(client, Plans("acme", PLANS, (*SEATS, Seat(HOSTILE, "Claude Max", NOV))))
        _open(page, f"{srv.url}?since=2026-11-01T00:00:00Z&until=2026-12-01T00:00:00Z"
                    "&window=custom&tab=member", "2026-11-01T00:00:00Z")
        metered, seats, plan = FULL["summary"]
        assert _page_three(page) == (_dollars(metered), _dollars(seats + 200_000_000_000),
                                     _dollars(plan))
        label = page.eval_on_selector_all(
            "#breakdown tbody tr td.label", "tds => tds.map(td => td.textContent)")
        assert HOSTILE in label
        assert _member_cells(page)[HOSTILE] == ("$0.00", "$200.00", "$0.00")
        assert page.eval_on_selector_all("#breakdown img", "els => els.length") == 0
        assert problems == []
        page.close()


@pytest.mark.slow
def test_a_team_without_plans_keeps_todays_page(browser, firestore_emulator,
                                                teamcost_home: Path) -> None:
    from tests.system.web_support import team_home

    calls = [c for c in recorded_calls("lap") if c.member == CY]
    team_home(teamcost_home, firestore_emulator, calls, team="acme")
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    with serving(teamcost_home, "--pull-every", "0", env=env, port=free_port()) as srv:
        page = browser.new_page()
        _open(page, f"{srv.url}?since=2026-11-01T00:00:00Z&until=2026-12-01T00:00:00Z"
                    "&window=custom&tab=member", "2026-11-01T00:00:00Z")
        assert not page.is_visible("#pays")
        heads = page.eval_on_selector_all("#breakdown th", "ths => ths.map(t => t.dataset.key)")
        assert "seats_nanos" not in heads and "cost_nanos" in heads
        assert page.text_content("#window-cost") == _dollars(5_000_000_000)
        page.close()


# ---- the FOCUS export: seats as recurring purchases, plan usage billed at 0 ----

SPEC_DEFECT = {"CommitmentDiscountStatus-C-004-C",   # and the two rules made of it
               "CommitmentDiscountStatus-C-002-C", "CommitmentDiscountStatus-C-000-C"}


def _focus_rows(config: Any, window: Window, out: Path) -> tuple[list[dict[str, str]], Path,
                                                                  Path]:
    import csv

    from teamcost.reports.export import export_period

    got = export_period(config, window, out, fmt="focus", now=NOW)
    csv_path = next(Path(f) for f in got.files if f.endswith("-focus.csv"))
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows, csv_path, next(Path(f) for f in got.files if f.endswith(".parquet"))


def _n(text: str) -> int:
    """Nano-dollars of a FOCUS decimal, exactly."""
    value = Decimal(text) * 10**9
    assert value == value.to_integral_value(), text
    return int(value)


def _focus_three(rows: list[dict[str, str]], member: str | None = None
                 ) -> tuple[int, int, int]:
    mine = [r for r in rows if member is None or r["x_Member"] == member]
    metered = sum(_n(r["BilledCost"]) for r in mine if r["ChargeCategory"] == "Usage")
    seats = sum(_n(r["BilledCost"]) for r in mine if r["ChargeCategory"] == "Purchase")
    plan = sum(_n(r["ListCost"]) for r in mine if r["x_Billing"] == "plan")
    return metered, seats, plan


@pytest.mark.slow
def test_focus_export_carries_the_three_numbers(acme, tmp_path: Path) -> None:
    from tests.focus_support import SEAT_CRITERIA, require_validator, validate

    require_validator()
    config, _client = acme
    for window, want in ((Window(NOV, DEC, "nov"), FULL), (Window(MID, DEC, "half"), HALF)):
        rows, csv_path, parquet_path = _focus_rows(config, window, tmp_path / window.label)
        # per category, to the nano-dollar: metered usage is billed, seats are purchases,
        # plan usage is usage at its list value whose BilledCost is 0
        assert _focus_three(rows) == want["summary"]
        assert {m: _focus_three(rows, m) for m in want["member"]} == want["member"]
        plan_rows = [r for r in rows if r["x_Billing"] == "plan"]
        assert plan_rows and all(_n(r["BilledCost"]) == 0 for r in plan_rows)
        purchases = [r for r in rows if r["ChargeCategory"] == "Purchase"]
        assert {(r["ChargeFrequency"], r["x_Billing"]) for r in purchases} == {("Recurring",
                                                                               "seat")}
        assert all(_n(r["EffectiveCost"]) == 0 for r in purchases)
        # what the team pays, on either basis: metered + seats (the budget's sum)
        metered, seats, _plan = want["summary"]
        assert sum(_n(r["BilledCost"]) for r in rows) == metered + seats
        assert sum(_n(r["EffectiveCost"]) for r in rows) == metered + seats
        # each seat's fee is amortized into the usage it covered (or its Unused rows):
        # EffectiveCost of its Used and Unused rows = BilledCost of its purchases
        by_seat: dict[str, list[int]] = {}
        for r in rows:
            if r["CommitmentDiscountId"]:
                acc = by_seat.setdefault(r["CommitmentDiscountId"], [0, 0])
                acc[0 if r["ChargeCategory"] == "Purchase" else 1] += _n(
                    r["BilledCost"] if r["ChargeCategory"] == "Purchase"
                    else r["EffectiveCost"])
        assert len(by_seat) == 4 and all(a == b for a, b in by_seat.values())
        # a seat's purchase rows are its UTC days in the window, clipped to it
        anns = sorted((r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in purchases
                      if r["x_Member"] == ANN)
        assert anns[0][0] == window.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert anns[-1][1] == "2026-12-01T00:00:00Z"
        assert len(anns) == (30 if window.since == NOV else 15)
        # ann's seat covered her calls of the 3rd and the 20th: those days' fees are the
        # EffectiveCost of those calls' rows; every other day is an Unused row of its fee
        for day in ("2026-11-03", "2026-11-20"):
            if window.since > datetime.fromisoformat(day).replace(tzinfo=UTC):
                continue
            mine = [r for r in rows if r["x_Member"] == ANN
                    and r["ChargePeriodStart"].startswith(day)]
            fee = sum(_n(r["BilledCost"]) for r in mine if r["ChargeCategory"] == "Purchase")
            used = [r for r in mine if r["CommitmentDiscountStatus"] == "Used"]
            assert used and sum(_n(r["EffectiveCost"]) for r in used) == fee > 0
            assert all(r["PricingCategory"] == "Committed" for r in used)
        unused = [r for r in rows if r["x_Member"] == ANN
                  and r["CommitmentDiscountStatus"] == "Unused"]
        assert len(unused) == (28 if window.since == NOV else 14)
        assert all(r["ConsumedQuantity"] == "" and _n(r["BilledCost"]) == 0 for r in unused)
        assert all("Claude Max seat ($200.00 per seat per month)" in r["ChargeDescription"]
                   for r in purchases if r["x_Member"] == ANN)
        # the spec's own text of CommitmentDiscountStatus-C-004-C, checked here: not null
        # when CommitmentDiscountId is not null and ChargeCategory is "Usage"
        assert all(r["CommitmentDiscountStatus"] in ("Used", "Unused") for r in rows
                   if r["CommitmentDiscountId"] and r["ChargeCategory"] == "Usage")
        assert all(not r["CommitmentDiscountStatus"] for r in rows
                   if not r["CommitmentDiscountId"] or r["ChargeCategory"] == "Purchase")
        for path in (csv_path, parquet_path):
            result = validate(path, criteria=SEAT_CRITERIA)
            # set aside: the 1.2 requirements model encodes C-004-C's condition as
            # "CommitmentDiscountId IS null", the very condition of C-003-C with the opposite
            # requirement (FOCUS_Spec issue #2393), so a dataset with any row outside a
            # commitment fails one of the two; C-003-C (the same rows) must pass
            assert set(result.failed) <= SPEC_DEFECT, (path.name, result.failed,
                                                       result.output[-3000:])
            assert result.statuses["CommitmentDiscountStatus-C-003-C"] == "PASS"
            assert result.statuses["CommitmentDiscountStatus-C-005-M"] == "PASS"
            assert result.passed > 200
            # the amortization rules (EffectiveCost-C-012-C, DiscountHandling-A-011-C) are
            # among those the validator skips; the sums per seat above check them
