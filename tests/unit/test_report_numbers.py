"""Numbers a reader questions (issue 18), on the seeded demo month: the runaway day is the
spike (judged against days before the window, weekdays apart from weekends), and
"projected" is one number in the report, the budget check, watch and the chart."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest

from teamcost.budget.model import Budget, BudgetStatus
from teamcost.config import load_config
from teamcost.demo.generate import daily_totals, generate_calls
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.money import format_usd
from teamcost.periods import parse_window
from teamcost.reports.chart import chart_data
from teamcost.reports.frames import records_frame
from teamcost.reports.live import BudgetLine, snapshot
from teamcost.reports.report import build_report

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "teamcost" / "reports"
                     / "report.schema.json").read_text())

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)   # a Wednesday; the demo month ends here
RUNAWAY = date(2026, 11, 20)                        # the seeded month's runaway-agent Friday


@pytest.fixture(scope="module")
def month():
    return generate_calls(NOW)


@pytest.fixture
def demo_home(teamcost_home: Path, month) -> Path:
    """The demo's local mode: the whole team's month in this home's one ledger."""
    (teamcost_home / "config.toml").write_text('team = "demo-team"\n')
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(month.calls)
    return teamcost_home


def per_day(month) -> dict[date, int]:
    return {d.date(): n for d, n in daily_totals(month.calls).items()}


def test_the_seeded_month_is_the_one_the_issue_describes(month):
    days = per_day(month)
    assert month.spike_day.date() == RUNAWAY
    assert days[RUNAWAY] == 183_778_101_325                       # $183.78
    weekdays = [n for d, n in days.items() if d.weekday() < 5 and d != RUNAWAY]
    assert days[RUNAWAY] > 5 * sorted(weekdays)[len(weekdays) // 2]  # ~6x a normal day


@pytest.mark.parametrize("since", ["7d", "14d", "30d"])
def test_the_runaway_day_is_the_spike_and_ordinary_weekdays_are_not(demo_home, month, since):
    window = parse_window(since, None, NOW, "UTC")
    doc = build_report(load_config(), window, now=NOW, refresh=False, budget=False)
    jsonschema.validate(doc, SCHEMA)
    assert [s["day"] for s in doc["spikes"]] == [RUNAWAY.isoformat()]
    spike = doc["spikes"][0]
    assert spike["cost_nanos"] == 183_778_101_325
    # the baseline, worked out here: the Fridays' kind (weekdays) in the 14 days before
    days = per_day(month)
    before = [RUNAWAY - timedelta(days=k) for k in range(1, 15)]
    weekdays = sorted(days.get(d, 0) for d in before if d.weekday() < 5)
    assert len(weekdays) == 10 and spike["baseline_days"] == 10
    assert spike["baseline_nanos"] == spike["median_before_nanos"] == weekdays[4]
    assert spike["baseline_kind"] == "weekday"
    assert (spike["baseline_from"], spike["baseline_to"]) == ("2026-11-06", "2026-11-19")
    assert spike["factor"] == pytest.approx(183_778_101_325 / weekdays[4])
    assert spike["factor"] > 5
    # every day shows its baseline, and no ordinary weekday is above 3x its own (the demo
    # month's first days have no history: a zero baseline, nothing judged)
    for row in doc["trend"]["day"]:
        d = date.fromisoformat(row["day"])
        same = sorted(days.get(d - timedelta(days=k), 0) for k in range(1, 15)
                      if ((d - timedelta(days=k)).weekday() >= 5) == (d.weekday() >= 5))
        assert row["baseline_nanos"] == same[(len(same) - 1) // 2], d
        if d != RUNAWAY and d.weekday() < 5 and d >= date(2026, 11, 9):
            assert row["cost_nanos"] <= 3 * row["baseline_nanos"], d
    assert doc["spike_rule"]["baseline_days"] == 14 and doc["spike_rule"]["factor"] == 3


def test_the_7d_window_judges_its_first_days_against_days_before_it(demo_home):
    """The 7-day window starts on a Tuesday; the Monday after a quiet weekend is not a
    spike, because it is judged against weekdays, most of them before the window."""
    doc = build_report(load_config(), parse_window("7d", None, NOW, "UTC"), now=NOW,
                       refresh=False, budget=False)
    days = {r["day"]: r for r in doc["trend"]["day"]}
    assert list(days)[0] == "2026-11-18"
    monday = days["2026-11-23"]
    assert monday["cost_nanos"] > 3 * max(days["2026-11-21"]["cost_nanos"],
                                          days["2026-11-22"]["cost_nanos"])
    assert "2026-11-23" not in {s["day"] for s in doc["spikes"]}


def test_projected_is_one_number_in_report_budget_check_watch_and_chart(month, capsys,
                                                                         monkeypatch):
    """The month projection: spent x 30 days / days elapsed, by hand, and every view's."""
    calls = month.calls
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    spent = sum(c.cost_nanos for c in calls if start <= c.ts < NOW)
    elapsed_us = int((NOW - start).total_seconds()) * 10**6
    expected = round(Fraction(spent * 30 * 86_400 * 10**6, elapsed_us))
    df = records_frame(calls)

    # the report document (table, JSON, CSV and dashboard render this)
    from teamcost.reports.report import report_document
    window = parse_window("7d", None, NOW, "UTC")
    inside = df[(df["ts"] >= window.since) & (df["ts"] < window.until)]
    budget = Budget(team="demo-team", amount_nanos=900 * 10**9, period="month")
    status = BudgetStatus(budget, NOW, start, end, "2026-11", spent, 100, 0, 0)
    doc = report_document(inside, df, window, by=("member", "model"), tz="UTC", now=NOW,
                          team="demo-team", source="local", history=df,
                          budget=status.to_dict())
    assert doc["projection"]["month"]["spent_nanos"] == spent
    assert doc["projection"]["month"]["projected_nanos"] == expected
    # budget check (its JSON and its line)
    assert status.projected_nanos == expected
    assert doc["budget"]["projected_nanos"] == expected
    assert f"projected {format_usd(expected, 2)} by month end" in status.line
    # watch
    snap = snapshot(df, NOW, team="demo-team", budget=BudgetLine(900 * 10**9, "month"))
    assert snap.period_nanos == spent and snap.projected_nanos == expected
    # chart: the dashed days continue the same rate to the same total
    chart = chart_data(df, window.since, NOW, budget=BudgetLine(900 * 10**9, "month"),
                       now=NOW)
    assert chart.projected_period_nanos == expected
    assert chart.projected_daily_nanos == doc["projection"]["month"]["per_day_nanos"] == round(
        Fraction(spent * 86_400 * 10**6, elapsed_us))
    # the report's table prints both with the same figure
    from teamcost.commands.report import render_table
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    render_table(doc)
    text = capsys.readouterr().out
    assert text.count(format_usd(expected, 2)) >= 2, text


@pytest.mark.parametrize("period", ["day", "week"])
def test_week_and_day_budgets_project_like_the_report(month, period):
    df = records_frame(month.calls)
    doc_proj = build_projection(df, period)
    snap = snapshot(df, NOW, team="t", budget=BudgetLine(10**12, period))
    budget = Budget(team="t", amount_nanos=10**12, period=period)
    status = BudgetStatus(budget, NOW, snap.period_start, snap.period_end, "k",
                          snap.period_nanos, 1, 0, 0)
    assert doc_proj["spent_nanos"] == snap.period_nanos
    assert doc_proj["projected_nanos"] == snap.projected_nanos == status.projected_nanos


def build_projection(df, period):
    from teamcost.reports.aggregate import projections
    return projections(df, NOW, "UTC")[period]


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kathmandu", "America/St_Johns",
                                "Australia/Lord_Howe", "America/Los_Angeles"])
def test_the_days_before_a_window_are_summed_like_the_window_itself(teamcost_home, tz):
    """load_daily_costs (15-minute buckets, no frame) against a plain per-day sum, for a
    ledger alone and for the team cache plus this machine's calls it lacks (counted once)."""
    from zoneinfo import ZoneInfo

    from teamcost.config import write_config
    from teamcost.reports.columnar import refresh
    from teamcost.reports.frames import load_daily_costs
    from teamcost.sync.cache import TeamCache

    start = datetime(2026, 10, 20, tzinfo=UTC)
    calls = [CallRecord(call_id=f"d{i}", ts=start + timedelta(minutes=37 * i), team="core",
                        member=f"m{i % 3}", ledger_id="lap", provider="openai",
                        model="gpt-4o", cost_nanos=1_000_003 * (i % 7 + 1))
             for i in range(1500)]                     # ~38.5 days, every 37 minutes
    zone = ZoneInfo(tz)
    since, until = start + timedelta(days=3, hours=5), start + timedelta(days=30)

    def by_hand(cs) -> dict[date, int]:
        out: dict[date, int] = {}
        for c in cs:
            if since <= c.ts < until:
                d = c.ts.astimezone(zone).date()
                out[d] = out.get(d, 0) + c.cost_nanos
        return out

    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(calls[:1000])
    write_config(teamcost_home, {"team": "core"})
    assert load_daily_costs(load_config(), since, until, tz, source="local") == by_hand(
        calls[:1000])
    # the cache holds calls 500..1499; the ledger adds 0..499, and 500..999 are in both
    with TeamCache(teamcost_home / "team-cache.db") as cache:
        cache.upsert((c, 1) for c in calls[500:])
        refresh(cache)
    write_config(teamcost_home, {"project": "demo-days"})
    got = load_daily_costs(load_config(), since, until, tz, source="team")
    assert got == by_hand(calls)
    from teamcost.reports.frames import Filters
    only = load_daily_costs(load_config(), since, until, tz, source="team",
                            filters=Filters(member="m1"))
    assert only == by_hand([c for c in calls if c.member == "m1"])


def test_trend_sums_are_exact_integers_even_near_int64():
    """Buckets are summed in int64 (no float weights): 2**61 + 1 and 2**61 + 3 add to
    exactly 2**62 + 4, which a float64 sum would round."""
    base = datetime(2026, 11, 2, 10, tzinfo=UTC)
    calls = [CallRecord(call_id=f"big{i}", ts=base + timedelta(hours=i), team="t", member="m",
                        ledger_id="l", provider="p", model="m", input_tokens=10**12 - i)
             for i in range(2)]
    from teamcost.reports.aggregate import trend
    frame = records_frame(calls)
    # above the per-call maximum a CallRecord allows: sums of many calls reach such values
    frame["cost_nanos"] = [2**61 + 1, 2**61 + 3]
    days = trend(frame, base, base + timedelta(days=2), "UTC", "day")
    assert [d["cost_nanos"] for d in days] == [2**62 + 4, 0, 0]   # Nov 2, 3, 4 (to 10:00)
    assert days[0]["input_tokens"] == 2 * 10**12 - 1 and days[0]["calls"] == 2
    weeks = trend(frame, base, base + timedelta(days=2), "UTC", "week")
    assert [(w["week"], w["cost_nanos"]) for w in weeks] == [("2026-W45", 2**62 + 4)]
