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
