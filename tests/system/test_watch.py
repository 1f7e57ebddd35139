"""`teamcost watch`: the snapshot maths by hand, the CLI's errors, and a real terminal."""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teamcost.cli import app
from teamcost.money import format_usd as usd
from teamcost.commands.watch import parse_interval
from teamcost.models import CallRecord
from teamcost.reports.frames import records_frame
from teamcost.reports.live import BudgetLine, snapshot

UTC = timezone.utc
TEAMCOST = str(Path(sys.executable).with_name("teamcost"))


def call(i: int, ts: datetime, cost: int, member: str = "a", model: str = "m1",
         priced: bool = True) -> CallRecord:
    return CallRecord(call_id=f"c{i}", ts=ts, team="t", member=member, ledger_id="L",
                      provider="openai", model=model, cost_nanos=cost, priced=priced,
                      price_source="reported" if priced else "unpriced", agent="coder")


# -- pure maths ---------------------------------------------------------------------

def test_snapshot_numbers_by_hand():
    now = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)  # 10.5 days into November
    calls = [
        call(1, datetime(2026, 10, 31, 23, 59, tzinfo=UTC), 999_000_000_000),  # last month
        call(2, datetime(2026, 11, 2, 9, tzinfo=UTC), 3_000_000_000, "a", "m1"),
        call(3, datetime(2026, 11, 5, 9, tzinfo=UTC), 1_500_000_000, "b", "m2"),
        call(4, datetime(2026, 11, 11, 8, tzinfo=UTC), 1_000_000_000, "b", "m1"),
        call(5, datetime(2026, 11, 11, 11, 30, tzinfo=UTC), 750_000_000, "c", "m2",
             priced=False),
        call(6, datetime(2026, 11, 11, 12, 1, tzinfo=UTC), 5_000_000_000),  # after now
    ]
    s = snapshot(records_frame(calls), now, team="t",
                 budget=BudgetLine(21_000_000_000, "month"))
    assert s.period_start == datetime(2026, 11, 1, tzinfo=UTC)
    assert s.period_nanos == 6_250_000_000 and s.period_calls == 4
    assert s.today_nanos == 1_750_000_000 and s.today_calls == 2
    assert s.last_hour_nanos == 750_000_000
    assert s.unpriced_calls == 1
    # 252 hours elapsed, 468 left: rate = $6.25/252 h = 24,801,587.3 n$/h;
    # projection = 6.25 + 6.25 * 468/252 = 6.25 * 720/252 = $17.857142857...
    assert s.rate_nanos_per_hour == 24_801_587
    assert s.projected_nanos == 17_857_142_857
    assert s.used_fraction == pytest.approx(6.25 / 21)
    assert [(x.key, x.cost_nanos, x.calls) for x in s.by_member] == [
        ("a", 3_000_000_000, 1), ("b", 2_500_000_000, 2), ("c", 750_000_000, 1)]
    assert [(x.key, x.cost_nanos) for x in s.by_model] == [("m1", 4_000_000_000),
                                                            ("m2", 2_250_000_000)]
    assert [c.call_id for c in s.latest] == ["c5", "c4", "c3", "c2"]
    # a weekly budget changes the period
    w = snapshot(records_frame(calls), now, team="t", budget=BudgetLine(10**9, "week"))
    assert w.period_start == datetime(2026, 11, 9, tzinfo=UTC)
    assert w.period_nanos == 1_750_000_000


def test_snapshot_of_nothing():
    s = snapshot(records_frame([]), datetime(2026, 11, 11, tzinfo=UTC), team="t")
    assert (s.period_nanos, s.today_nanos, s.projected_nanos, s.by_member) == (0, 0, 0, [])
    assert s.limit_nanos is None and s.used_fraction is None


@pytest.mark.parametrize("text, seconds", [("5s", 5), ("1s", 1), ("500ms", 0.5), ("2m", 120),
                                           ("3", 3), ("1.5s", 1.5)])
def test_parse_interval(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("bad", ["", "fast", "5h", "-1s", "0s", "10ms", "2d", "61m"])
def test_watch_refuses_bad_interval(bad):
    r = CliRunner().invoke(app, ["watch", "--interval", bad])
    assert r.exit_code == 2
    assert "--interval" in r.output and repr(bad) in r.output and "5s" in r.output


def test_watch_once_on_the_local_ledger(teamcost_home):
    """No project configured: the local ledger is the source; --format json shows it."""
    import json

    from teamcost.ledger import Ledger

    import time_machine

    # three minutes into a month: the call of five minutes ago is last month's (and day's)
    now = datetime(2026, 12, 1, 0, 3, tzinfo=UTC)
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many([call(1, now - timedelta(minutes=5), 1_230_000_000, "me"),
                         call(2, now - timedelta(minutes=1), 40_000_000, "me", "m2")])
    with time_machine.travel(now):
        r = CliRunner().invoke(app, ["watch", "--format", "json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        assert (doc["today_nanos"], doc["today_calls"]) == (40_000_000, 1)
        assert (doc["period_nanos"], doc["period_calls"]) == (40_000_000, 1)
        assert doc["source"].startswith("local ledger")
        r = CliRunner().invoke(app, ["watch", "--once"])
    assert r.exit_code == 0 and "m2" in r.output and "$0.04" in r.output


# -- a real terminal against the emulator --------------------------------------------

def _month_total(calls, now):
    """A second, plain computation of the period spend (the month so far, UTC)."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return sum(c.cost_nanos for c in calls if start <= c.ts <= now)


@pytest.mark.emulator
def test_watch_in_a_terminal_updates_when_calls_are_pushed(firestore_emulator, teamcost_home,
                                                           tmp_path):
    import pexpect

    from teamcost.config import load_config, write_config
    from teamcost.demo.generate import DEMO_TEAM, write_ledgers
    from teamcost.ledger import Ledger
    from teamcost.sync.push import push

    now = datetime.now(UTC)
    written = write_ledgers(tmp_path / "ledgers", now, scale=0.15)
    # and one call of alice's now: watch runs on the real clock, and in a month's first
    # hours the demo's calls are all last month's
    with Ledger(written.paths["alice-laptop"]) as led:
        fresh = CallRecord(call_id="watch-alice-now", ts=now, team=DEMO_TEAM,
                           member="alice@demo.teamcost.dev", ledger_id=led.ledger_id,
                           provider="openai", model="gpt-5", cost_nanos=2_500_000_000,
                           agent="coder")
        led.record_many([fresh])
    write_config(teamcost_home, {"team": DEMO_TEAM, "project": firestore_emulator.project,
                                 "emulator_host": firestore_emulator.host,
                                 "member": "alice@demo.teamcost.dev",
                                 "ledger_path": str(written.paths["alice-laptop"])})
    cfg = load_config(teamcost_home, env={})
    for path in written.paths.values():
        with Ledger(path) as led:
            assert push(cfg, led).pushed == len(written.data.calls_by_machine[path.stem]) + \
                (path.stem == "alice-laptop")
    before = _month_total([*written.data.calls, fresh], now)

    env = dict(os.environ, TEAMCOST_HOME=str(teamcost_home), TERM="xterm-256color",
               COLUMNS="200", LINES="70", TZ="UTC")
    env.pop("TEAMCOST_MEMBER", None)
    child = pexpect.spawn(TEAMCOST, ["watch", "--interval", "1s"], env=env,
                          dimensions=(70, 200), encoding="utf-8", timeout=30)
    try:
        child.expect_exact("teamcost watch")
        child.expect_exact(usd(before))
        child.expect_exact("alice@demo.teamcost.dev")
        # another machine records and pushes three calls of known cost
        new = [CallRecord(call_id=f"watch-new-{i}", ts=datetime.now(UTC), team=DEMO_TEAM,
                          member="zed@demo.teamcost.dev", ledger_id="zed-box",
                          provider="openai", model="gpt-5", cost_nanos=123_456_000_000,
                          agent="coder") for i in range(3)]
        zed = tmp_path / "zed.db"
        with Ledger(zed) as led:
            led.record_many(new)
            assert push(cfg, led).pushed == 3
        after = before + 3 * 123_456_000_000
        child.expect_exact(usd(after))          # the period total moved by exactly that
        child.expect_exact("zed@demo.teamcost.dev")
        child.expect(re.escape(usd(3 * 123_456_000_000)))  # zed's share of the month
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus)
