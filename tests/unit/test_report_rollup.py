"""The streamed aggregates: local days in any zone are pandas' wall-clock days, and a window
fed in many chunks gives the document one chunk gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from teamcost.ledger import ts_to_us
from teamcost.periods import Window
from teamcost.reports.frames import records_table
from teamcost.reports.report import table_document
from teamcost.reports.rollup import local_day_numbers

from tests.unit.test_report_partitions import calls_over

ZONES = ["UTC", "America/Los_Angeles", "Europe/Berlin", "Australia/Lord_Howe",
         "America/Santiago", "America/Havana", "Africa/Cairo", "Pacific/Apia", "Asia/Kolkata",
         "America/St_Johns", "Antarctica/Troll", "Asia/Tehran"]


@pytest.mark.parametrize("tz", ZONES)
def test_local_days_are_pandas_wall_clock_days(tz: str) -> None:
    since = datetime(2010, 6, 1, tzinfo=UTC)
    until = datetime(2027, 1, 1, tzinfo=UTC)
    rng = random.Random(tz)
    lo, hi = ts_to_us(since), ts_to_us(until)
    us = np.array(sorted(rng.randrange(lo, hi) for _ in range(20_000)), dtype=np.int64)
    # and every hour around each change of offset in the zone (where a day boundary moves)
    ts = pd.to_datetime(us, unit="us", utc=True)
    local = ts.tz_convert(tz).tz_localize(None)
    want = (local.floor("D") - pd.Timestamp("1970-01-01")).days.to_numpy()
    assert (local_day_numbers(us, tz, since, until) == want).all()


@pytest.mark.parametrize("tz", ["America/Santiago", "Pacific/Apia", "Australia/Lord_Howe"])
def test_local_days_at_every_minute_of_a_changeover(tz: str) -> None:
    since, until = datetime(2011, 1, 1, tzinfo=UTC), datetime(2013, 1, 1, tzinfo=UTC)
    start = ts_to_us(since)
    us = np.arange(start, ts_to_us(until), 60_000_000 * 7, dtype=np.int64)   # every 7 minutes
    ts = pd.to_datetime(us, unit="us", utc=True)
    local = ts.tz_convert(tz).tz_localize(None)
    want = (local.floor("D") - pd.Timestamp("1970-01-01")).days.to_numpy()
    assert (local_day_numbers(us, tz, since, until) == want).all()


def test_many_chunks_give_the_document_one_chunk_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    from teamcost.reports import rollup

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    calls = calls_over(40, 3000, 11, "c", end=now)
    table = records_table(calls)
    window = Window(now - timedelta(days=40), now, "w")
    args = dict(by=("member", "model", "agent", "session", "day"), tz="Europe/Berlin", now=now,
                team="core", source="team")
    whole = table_document(table, window, **args)
    real_add = rollup.Rollup.add

    def add_in_pieces(self: rollup.Rollup, t: object) -> None:
        for i in range(0, t.num_rows, 257):  # type: ignore[attr-defined]
            real_add(self, t.slice(i, 257))  # type: ignore[attr-defined]

    monkeypatch.setattr(rollup.Rollup, "add", add_in_pieces)
    assert table_document(table, window, **args) == whole
    assert whole["summary"]["calls"] == 3000
    assert whole["summary"]["cost_nanos"] == sum(c.cost_nanos for c in calls)


def _frame_document(config: object, window: Window, by: tuple[str, ...], tz: str,
                    now: datetime, filters: object, source: str) -> dict:
    """The report's figures the way the frame aggregations (teamcost.reports.aggregate)
    compute them from one pandas frame of everything the report looks at."""
    from teamcost.reports import aggregate as agg
    from teamcost.reports.frames import load_calls

    live = window.until >= now
    start = min(agg.baseline_start(window.since, tz),
                agg.earliest_needed(window.since, now, tz) if live else window.since)
    context, _ = load_calls(config, start, window.until, source=source,  # type: ignore[arg-type]
                            filters=filters)  # type: ignore[arg-type]
    df = context[(context["ts"] >= pd.Timestamp(window.since))
                 & (context["ts"] < pd.Timestamp(window.until))]
    days = agg.trend(df, window.since, window.until, tz, "day")
    breakdowns = {b: agg.breakdown(df, b) for b in by if b in agg.BREAKDOWNS}
    for required in ("member", "model"):
        breakdowns.setdefault(required, agg.breakdown(df, required))
    summary = agg.summary(df)
    return {"summary": summary,
            "rate": agg.spend_rate(summary["cost_nanos"], window.since, window.until, now),
            "projection": agg.projections(context, now, tz) if live else None,
            "breakdowns": breakdowns,
            "trend": {"day": days, "week": agg.trend(df, window.since, window.until, tz, "week")},
            "spikes": agg.spike_days(days, agg.daily_costs(context, tz)),
            "top_sessions": agg.top_sessions(df)}


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles", "Asia/Kathmandu"])
def test_the_streamed_report_is_the_frame_aggregations_document(
        teamcost_home: object, monkeypatch: pytest.MonkeyPatch, tz: str) -> None:
    """build_report (chunks of the window, two columns of the days before) against the
    frame functions over one frame: every figure of the document, for the team cache plus
    the ledger's calls it lacks and for the ledger alone, live windows and past ones, with
    and without a filter, with chunks far smaller than the window."""
    from pathlib import Path

    from teamcost.config import load_config, write_config
    from teamcost.ledger import Ledger
    from teamcost.reports import columnar
    from teamcost.reports.frames import Filters
    from teamcost.reports import billing
    from teamcost.reports.report import build_report
    from teamcost.sync.cache import TeamCache

    home = Path(str(teamcost_home))
    monkeypatch.setattr(columnar, "SCAN_ROWS", 333)
    monkeypatch.setattr(columnar, "CHUNK_ROWS", 1000)
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    calls = calls_over(80, 6000, 17, "f", end=now + timedelta(minutes=5))
    # a runaway day a week ago, so spikes are found and judged against the days before
    runaway = now - timedelta(days=7)
    calls = [c.replace(cost_nanos=c.cost_nanos * 40) if c.ts.date() == runaway.date() else c
             for c in calls]
    with TeamCache(home / "team-cache.db") as cache:
        cache.upsert((c, 1) for c in calls[:5000])
    with Ledger(home / "ledger.db") as led:
        led.record_many(calls[4500:])      # 500 in both, 1,000 only here
    write_config(home, {"team": "core", "project": "demo-streamed"})
    config = load_config()
    by = ("member", "model", "agent", "session", "provider", "task", "day", "week")
    windows = [Window(now - timedelta(days=7), now + timedelta(minutes=10), "7d"),
               Window(now - timedelta(days=30, hours=5), now + timedelta(minutes=10), "30d"),
               Window(now - timedelta(days=45), now - timedelta(days=20), "past"),
               Window(now - timedelta(days=9, hours=3), now - timedelta(days=2), "spike")]
    compared = spikes = 0
    for source in ("team", "local"):
        for window in windows:
            for filters in (Filters(), Filters(member="bo@x.io")):
                doc = build_report(config, window, by=by, filters=filters, tz=tz,
                                   source=source, now=now, refresh=False, budget=False)
                doc = billing.without(doc)   # the three numbers: tests/unit/test_billing.py
                want = _frame_document(config, window, by, tz, now, filters, source)
                for key, value in want.items():
                    assert doc[key] == value, (source, window.label, filters, key)
                compared += 1
                spikes += len(doc["spikes"])
    assert compared == 16 and spikes > 0
