"""Golden tests: a hand-built team fortnight, every figure recomputed in plain Python
(no pandas) and compared with the report to the nano-dollar."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from teamcost.models import CallRecord
from teamcost.periods import Window
from teamcost.reports.frames import records_frame
from teamcost.reports.report import report_document

UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
MEMBERS = ["ana@example.com", "bo@example.com", "cy@example.com"]
MODELS = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"),
          ("google", "gemini-2.5-flash"), ("acme", "in-house-7b")]  # the last is unpriced
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
# minutes after UTC midnight: 07:30 UTC is 23:30 the day before in Los Angeles (PST),
# 08:30 UTC is 00:30 the same day there; 23:50 UTC stays the same UTC day
SLOTS = [30, 7 * 60 + 30, 8 * 60 + 30, 13 * 60, 23 * 60 + 50]
NOW = datetime(2026, 11, 12, 15, 0, tzinfo=UTC)  # Thursday of the second week


def dataset() -> list[CallRecord]:
    out = []
    i = 0
    for day in range(10):
        for slot in SLOTS:
            for k in range(6):
                member = MEMBERS[(day + k) % 3]
                provider, model = MODELS[(i * 7 + day) % 4]
                priced = model != "in-house-7b"
                # awkward exact costs; day 8 is a spike (x10)
                cost = (1_000_003 * (k + 1) + 7_919 * slot + day * 13) * (10 if day == 8 else 1)
                out.append(CallRecord(
                    call_id=f"g{i:05d}", ts=START + timedelta(days=day, minutes=slot, seconds=k),
                    team="core", member=member, ledger_id=f"lap-{k % 2}", provider=provider,
                    model=model, input_tokens=100 * (k + 1), output_tokens=10 * (slot % 7 + 1),
                    cache_read_tokens=50 * (k % 3), cache_write_tokens=5 * (k % 2),
                    cost_nanos=cost if priced else 0, priced=priced, price_source="test",
                    session_id=f"s{day}-{k % 2}", agent=["planner", "coder", "reviewer"][k % 3],
                    success=(i % 17 != 0), error=None if i % 17 else "timeout"))
                i += 1
    return out


CALLS = dataset()
WINDOW = Window(START, START + timedelta(days=10), "fortnight")


def doc_for(tz: str, calls=CALLS, window=WINDOW, now=NOW, by=("member", "model", "agent")):
    df = records_frame(calls)
    inside = [c for c in calls if window.since <= c.ts < window.until]
    return report_document(records_frame(inside), df, window, by=by, tz=tz, now=now,
                           team="core", source="local")


def test_dataset_shape() -> None:
    assert len(CALLS) == 300
    assert {c.member for c in CALLS} == set(MEMBERS)
    assert len({c.model for c in CALLS}) == 4


def test_summary_exact() -> None:
    s = doc_for("UTC")["summary"]
    assert s["cost_nanos"] == sum(c.cost_nanos for c in CALLS)
    assert s["calls"] == 300
    assert s["input_tokens"] == sum(c.input_tokens for c in CALLS)
    assert s["output_tokens"] == sum(c.output_tokens for c in CALLS)
    assert s["cache_read_tokens"] == sum(c.cache_read_tokens for c in CALLS)
    assert s["cache_write_tokens"] == sum(c.cache_write_tokens for c in CALLS)
    failed = sum(1 for c in CALLS if not c.success)
    assert s["failed_calls"] == failed and s["success_rate"] == (300 - failed) / 300
    unpriced = [c for c in CALLS if not c.priced]
    assert s["unpriced_calls"] == len(unpriced) > 0
    assert s["unpriced_input_tokens"] == sum(c.input_tokens for c in unpriced)
    assert s["unpriced_output_tokens"] == sum(c.output_tokens for c in unpriced)
    assert s["unpriced_models"] == ["in-house-7b"]
    assert (s["members"], s["models"], s["sessions"]) == (3, 4, 20)


@pytest.mark.parametrize("by, attr", [("member", "member"), ("model", "model"),
                                      ("agent", "agent")])
def test_breakdowns_exact_and_sorted(by: str, attr: str) -> None:
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in CALLS:
        e = expected[getattr(c, attr)]
        e[0] += c.cost_nanos
        e[1] += 1
        e[2] += 0 if c.priced else 1
    rows = doc_for("UTC")["breakdowns"][by]
    assert {r[by]: [r["cost_nanos"], r["calls"], r["unpriced_calls"]] for r in rows} == \
        {k: v for k, v in expected.items()}
    costs = [r["cost_nanos"] for r in rows]
    assert costs == sorted(costs, reverse=True)
    # the unpriced model is listed (count and tokens), never hidden as a silent $0
    if by == "model":
        ih = next(r for r in rows if r["model"] == "in-house-7b")
        assert ih["cost_nanos"] == 0 and ih["unpriced_calls"] == ih["calls"] > 0


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles"])
def test_day_buckets_follow_the_timezone(tz: str) -> None:
    zone = ZoneInfo(tz)
    expected: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    for c in CALLS:
        d = c.ts.astimezone(zone).date().isoformat()
        expected[d] += c.cost_nanos
        counts[d] += 1
    days = doc_for(tz)["trend"]["day"]
    got = {d["day"]: d["cost_nanos"] for d in days if d["calls"]}
    assert got == dict(expected)
    assert {d["day"]: d["calls"] for d in days if d["calls"]} == dict(counts)
    if tz == "UTC":
        assert [d["day"] for d in days] == [(date(2026, 11, 2) + timedelta(n)).isoformat()
                                            for n in range(10)]
    else:
        # 2026-11-02 00:00 UTC is 2026-11-01 16:00 in Los Angeles: the window starts a day early
        assert days[0]["day"] == "2026-11-01" and days[-1]["day"] == "2026-11-11"
        # the 07:30 UTC calls land on the previous LA day; 08:30 UTC on the same day
        la_nov_3 = sum(c.cost_nanos for c in CALLS
                       if START + timedelta(days=1, hours=8) <= c.ts < START + timedelta(days=2, hours=8))
        assert got["2026-11-03"] == la_nov_3


def test_week_buckets_and_spike() -> None:
    doc = doc_for("UTC")
    weeks = {w["week"]: w["cost_nanos"] for w in doc["trend"]["week"]}
    w45 = sum(c.cost_nanos for c in CALLS if c.ts < START + timedelta(days=7))
    assert weeks == {"2026-W45": w45, "2026-W46": sum(c.cost_nanos for c in CALLS) - w45}
    # a spike costs > 3x the (low) median of the same kind of day (weekday / weekend) in
    # the 14 days before it, and more than their median weekday; days before the data are $0
    per_day: dict[date, int] = defaultdict(int)
    for c in CALLS:
        per_day[c.ts.date()] += c.cost_nanos
    expected = []
    for n in range(10):
        d = date(2026, 11, 2) + timedelta(days=n)
        same = [d - timedelta(days=k) for k in range(1, 15)
                if ((d - timedelta(days=k)).weekday() >= 5) == (d.weekday() >= 5)]
        med = statistics.median_low(per_day[x] for x in same)
        assert doc["trend"]["day"][n]["baseline_nanos"] == med, d
        working = statistics.median_low(per_day[d - timedelta(days=k)] for k in range(1, 15)
                                        if (d - timedelta(days=k)).weekday() < 5)
        if med > 0 and per_day[d] > 3 * med and per_day[d] > working:
            expected.append(d.isoformat())
    assert expected == ["2026-11-10"]      # day 8, the x10 day, and no other
    assert [s["day"] for s in doc["spikes"]] == expected
    spike = doc["spikes"][0]
    assert (spike["baseline_kind"], spike["baseline_days"]) == ("weekday", 10)
    assert (spike["baseline_from"], spike["baseline_to"]) == ("2026-10-27", "2026-11-09")


def _round(fr: Fraction) -> int:
    return round(fr)  # Fraction rounds half to even


def test_rate_and_projection_by_hand() -> None:
    # window 2026-11-02 .. 2026-11-12 (10 days, ended before NOW? no: it ends 11-12 00:00,
    # NOW is 11-12 15:00) -> use a live window ending at NOW instead
    window = Window(START, NOW, "live")
    doc = doc_for("UTC", window=window)
    total = sum(c.cost_nanos for c in CALLS)
    span_us = int((NOW - START).total_seconds()) * 1_000_000  # 10 days 15 hours
    assert doc["rate"]["per_hour_nanos"] == _round(Fraction(total * 3_600_000_000, span_us))
    assert doc["rate"]["per_day_nanos"] == _round(Fraction(total * 86_400_000_000, span_us))
    # periods worked out by hand: Thursday 2026-11-12, ISO week from Monday 11-09, November
    periods = {"day": (datetime(2026, 11, 12, tzinfo=UTC), datetime(2026, 11, 13, tzinfo=UTC)),
               "week": (datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)),
               "month": (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))}
    # "projected" is the period's spend so far at the period's own average rate to its
    # end (the budget check's definition too): spent x period length / time elapsed
    for name, (lo, hi) in periods.items():
        spent = sum(c.cost_nanos for c in CALLS if lo <= c.ts < NOW)
        elapsed_us = int((NOW - lo).total_seconds()) * 1_000_000
        length_us = int((hi - lo).total_seconds()) * 1_000_000
        p = doc["projection"][name]
        assert p["spent_nanos"] == spent, name
        assert p["projected_nanos"] == _round(Fraction(spent * length_us, elapsed_us)), name
        assert p["per_day_nanos"] == _round(Fraction(spent * 86_400_000_000, elapsed_us)), name
        assert p["start"] == lo.isoformat() and p["end"] == hi.isoformat()
    month = doc["projection"]["month"]
    assert month["projected_nanos"] > month["spent_nanos"] > 0  # 11 of 30 days spent


def test_projection_in_los_angeles_uses_local_midnights() -> None:
    window = Window(START, NOW, "live")
    doc = doc_for("America/Los_Angeles", window=window)
    # NOW = 07:00 PST on Thursday 11-12; LA day starts 08:00 UTC, month 2026-11-01 07:00 UTC
    # (PDT, DST ended 11-01 09:00 UTC), week Monday 11-09 08:00 UTC
    assert doc["projection"]["day"]["start"] == "2026-11-12T08:00:00+00:00"
    assert doc["projection"]["week"]["start"] == "2026-11-09T08:00:00+00:00"
    assert doc["projection"]["month"]["start"] == "2026-11-01T07:00:00+00:00"
    assert doc["projection"]["month"]["end"] == "2026-12-01T08:00:00+00:00"
    lo = datetime(2026, 11, 9, 8, tzinfo=UTC)
    assert doc["projection"]["week"]["spent_nanos"] == sum(c.cost_nanos for c in CALLS
                                                           if lo <= c.ts < NOW)


def test_empty_window() -> None:
    doc = doc_for("UTC", calls=[], window=WINDOW)
    assert doc["summary"]["calls"] == 0 and doc["summary"]["cost_nanos"] == 0
    assert doc["summary"]["success_rate"] is None
    assert all(d["cost_nanos"] == 0 for d in doc["trend"]["day"]) and doc["spikes"] == []
    assert doc["breakdowns"]["member"] == []


def test_top_sessions() -> None:
    per: dict[str, int] = defaultdict(int)
    for c in CALLS:
        per[c.session_id] += c.cost_nanos
    expected = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    got = [(s["session"], s["cost_nanos"]) for s in doc_for("UTC")["top_sessions"]]
    assert got == expected
