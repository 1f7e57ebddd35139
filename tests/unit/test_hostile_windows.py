"""Windows and times outside what can be reported (issue 18): exit 2 naming the value, in
a moment, with nothing written; and a window as wide as allowed stays bounded."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.periods import EARLIEST, LATEST, parse_month, parse_point, parse_week
from tests.cli_support import run
from tests.hostile_support import assert_one_line, snapshot

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture
def home_with_a_call(teamcost_home: Path) -> Path:
    assert run("init", "--team", "core").exit_code == 0
    r = run("record", "-m", "gpt-4o", "-i", "10", "-o", "5", "--call-id", "one")
    assert r.exit_code == 0, r.stderr
    return teamcost_home


@pytest.mark.parametrize("args, shown", [
    (["report", "--since", "0001-01-01"], "invalid --since: '0001-01-01'"),
    (["report", "--since", "1999-12-31"], "invalid --since: '1999-12-31'"),
    (["report", "--since", "7d", "--until", "9999-12-31"], "invalid --until: '9999-12-31'"),
    (["report", "--since", "2026-11-01", "--until", "2100-01-01"], "invalid --until: '2100-01-01'"),
    (["report", "--since", "99999w"], "invalid --since: '99999w'"),
    (["report", "--since", "0001-01-01T00:00:00+14:00"],
     "invalid --since: '0001-01-01T00:00:00+14:00'"),
    (["report", "--since", "7d", "--until", "9999-12-31T23:59:59-12:00"],
     "invalid --until: '9999-12-31T23:59:59-12:00'"),
    (["export", "--month", "9999-12"], "invalid --month: '9999-12'"),
    (["export", "--month", "0001-01"], "invalid --month: '0001-01'"),
    (["export", "--week", "9999-W52"], "invalid --week: '9999-W52'"),
    (["export", "--week", "1999-W52"], "invalid --week: '1999-W52'"),
    (["record", "-m", "gpt-4o", "--ts", "0001-01-01T00:00:00+14:00"],
     "invalid --ts: '0001-01-01T00:00:00+14:00'"),
    (["record", "-m", "gpt-4o", "--ts", "9999-12-31T23:59:59-12:00"],
     "invalid --ts: '9999-12-31T23:59:59-12:00'"),
    (["record", "-m", "gpt-4o", "--ts", "1970-01-01T00:00:00+00:00"],
     "invalid --ts: '1970-01-01T00:00:00+00:00'"),
])
def test_out_of_range_windows_and_times_exit_2_naming_the_value(home_with_a_call, tmp_path,
                                                                  monkeypatch, args, shown):
    monkeypatch.chdir(tmp_path)  # an export that ran by mistake would land here
    before = snapshot(home_with_a_call, tmp_path)
    result = run(*args, *(["--offline"] if args[0] in ("report", "export") else []))
    line = assert_one_line(result, 2, shown, "2000-01-01 .. 2099-12-31")
    assert len(line) < 400
    assert snapshot(home_with_a_call, tmp_path) == before


def test_the_bounds_themselves_are_accepted():
    assert parse_point("since", "2000-01-01", NOW, "UTC", end_of_day=False) == EARLIEST
    assert parse_point("until", "2099-12-31", NOW, "UTC", end_of_day=True) == LATEST
    assert parse_month("2099-12", NOW, "UTC").until == LATEST
    assert parse_week("2000-W01", NOW, "UTC").since == datetime(2000, 1, 3, tzinfo=UTC)
    with pytest.raises(InvalidValue, match="'1999-W52'"):  # ends 2000-01-02: starts before
        parse_week("1999-W52", NOW, "UTC")


def test_calls_outside_the_range_are_refused_before_any_write(tmp_path):
    with pytest.raises(InvalidValue) as info:
        CallRecord(call_id="x", ts=datetime(1999, 12, 31, 23, 59, tzinfo=UTC), team="t",
                   member="m", ledger_id="l", provider="p", model="m")
    assert info.value.field == "ts" and "1999-12-31T23:59:00+00:00" in str(info.value)
    with pytest.raises(InvalidValue):
        CallRecord(call_id="x", ts=datetime(2100, 1, 1, 0, 0, 1, tzinfo=UTC), team="t",
                   member="m", ledger_id="l", provider="p", model="m")


def test_the_widest_window_is_one_row_per_day_of_it(home_with_a_call):
    """2000-01-01 .. today: one trend row per day (~9,800), not per day since year 1, and
    the JSON document comes back (it used to run for minutes at 700 MB)."""
    result = run("report", "--since", "2000-01-01", "--format", "json", "--offline")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    today = datetime.now(UTC).date()
    days = doc["trend"]["day"]
    assert len(days) == (today - date(2000, 1, 1)).days + 1
    assert days[0]["day"] == "2000-01-01" and days[-1]["day"] == today.isoformat()
    weeks = doc["trend"]["week"]
    assert weeks[0]["start"] == "1999-12-27"        # the Monday of the week holding 2000-01-01
    assert sum(d["cost_nanos"] for d in days) == doc["summary"]["cost_nanos"] > 0
    assert sum(d["calls"] for d in days) == 1 and doc["spikes"] == []


def test_a_call_at_the_edge_of_the_range_is_reported(teamcost_home):
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record(CallRecord(call_id="edge", ts=EARLIEST, team="default", member="m",
                              ledger_id=led.ledger_id, provider="openai", model="gpt-4o",
                              cost_nanos=7))
    result = run("report", "--since", "2000-01-01", "--until", "2000-01-01", "--format",
                 "json", "--offline")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["cost_nanos"] == 7
    assert [d["day"] for d in doc["trend"]["day"]] == ["2000-01-01"]
    assert doc["window"]["until"] == (EARLIEST + timedelta(days=1)).isoformat()
