"""`budget check` against the real emulator: exact spend at period edges, exit codes, CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from teamcost.budget.check import check, set_team_budget, show_budget
from teamcost.config import Config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.sync.service import run_push

from tests.cli_support import one_error_line, run

UTC = timezone.utc
US = timedelta(microseconds=1)
LA = "America/Los_Angeles"
# now: Wednesday 2026-11-18 12:00 in Los Angeles (PST, UTC-8)
NOW = datetime(2026, 11, 18, 20, 0, tzinfo=UTC)
# the periods containing NOW in Los Angeles, worked out by hand (not by teamcost.periods):
# DST ended 2026-11-01 02:00 PDT, so November starts at 07:00Z and its end at 08:00Z
BOUNDS = {
    "day": (datetime(2026, 11, 18, 8, tzinfo=UTC), datetime(2026, 11, 19, 8, tzinfo=UTC)),
    "week": (datetime(2026, 11, 16, 8, tzinfo=UTC), datetime(2026, 11, 23, 8, tzinfo=UTC)),
    "month": (datetime(2026, 11, 1, 7, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC)),
}


def call(i: int, ts: datetime, member: str, ledger_id: str, cost: int,
         team: str = "core") -> CallRecord:
    return CallRecord(call_id=f"{member[:3]}-{i:04d}", ts=ts, team=team, member=member,
                      ledger_id=ledger_id, provider="openai", model="gpt-4o",
                      input_tokens=10, output_tokens=1, cache_read_tokens=0,
                      cache_write_tokens=0, cost_nanos=cost, priced=True,
                      price_source="test")


def edge_times() -> list[datetime]:
    """1 µs either side of every period boundary, plus NOW and a day before."""
    out = [NOW, NOW - timedelta(days=1)]
    for start, end in BOUNDS.values():
        out += [start - US, start, end - US, end]
    return out


def member_config(home: Path, project: str, member: str) -> Config:
    home.mkdir(parents=True, exist_ok=True)
    return Config(home=home, team="core", member=member, project=project, timezone=LA)


@pytest.fixture
def team(firestore_emulator, firestore_client, tmp_path: Path):
    """Two members; ana pushed everything, then recorded more (unpushed); bo pushed all.
    Returns (ana's config, every call with whether it is pushed)."""
    project = firestore_emulator.project
    ana = member_config(tmp_path / "ana", project, "ana@example.com")
    bo = member_config(tmp_path / "bo", project, "bo@example.com")
    calls: list[CallRecord] = []
    cost = 1_000_000_007
    for cfg, pushed_n, unpushed_n in ((ana, 1, 1), (bo, 1, 0)):
        with Ledger.for_config(cfg) as ledger:
            i = 0
            for round_ in range(pushed_n + unpushed_n):
                for ts in edge_times():
                    cost = cost * 31 % 9_999_999_967      # awkward, distinct amounts
                    c = call(i, ts, cfg.member, ledger.ledger_id, cost)
                    ledger.record(c)
                    calls.append(c)
                    i += 1
                if round_ < pushed_n:
                    run_push(cfg, client=firestore_client)
    with Ledger.for_config(ana) as ledger:   # another team's unpushed call: not counted
        ledger.record(call(999, NOW, ana.member, ledger.ledger_id, 10**12, team="other"))
    return ana, calls, firestore_client


@pytest.mark.emulator
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_spend_is_exact_at_period_edges_in_a_non_utc_zone(team, period: str) -> None:
    ana, calls, client = team
    set_team_budget(ana, "100000", period, client=client)
    st = check(ana, client=client, now=NOW, alerts=False)
    start, end = BOUNDS[period]
    assert (st.start, st.end) == (start, end)
    expected = sum(c.cost_nanos for c in calls if start <= c.ts < end)
    with Ledger.for_config(ana) as ledger:
        unpushed_ids = {c.call_id for _, c in ledger.unpushed(limit=10_000)
                        if c.team == "core"}
    expected_unpushed = sum(c.cost_nanos for c in calls
                            if c.call_id in unpushed_ids and start <= c.ts < end)
    assert expected_unpushed > 0 and st.unpushed_nanos == expected_unpushed
    assert st.spent_nanos == expected
    assert st.pushed_calls == sum(1 for c in calls if start <= c.ts < end
                                  and c.call_id not in unpushed_ids)


@pytest.mark.emulator
def test_exit_codes_through_the_cli(firestore_emulator, firestore_client, monkeypatch,
                                    teamcost_home: Path) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    monkeypatch.setenv("TEAMCOST_TEAM", "core")
    assert run("record", "-m", "gpt-4o", "-i", "1000", "-o", "500").exit_code == 0  # $0.0075
    res = run("budget", "set", "--amount", "0.01", "--period", "day", "--warn", "0.5,0.9")
    assert res.exit_code == 0, res.output
    assert "$0.01 per day" in res.stdout

    res = run("budget", "check")                       # 75%: past 50%, under 90%
    assert res.exit_code == 3, res.output
    # $0.0075 spent: three significant digits below $1 (money.format_usd), not "$0.01"
    assert res.stdout.startswith("team core: $0.0075 of $0.01 (75.0%) this day, WARN")
    assert "crossed 50% of its day budget" in res.stderr   # the alert's log line

    res = run("budget", "check", "--estimate", "0.0025", "--format", "json")
    assert res.exit_code == 4
    doc = json.loads(res.stdout)
    assert (doc["spent_nanos"], doc["estimate_nanos"], doc["exit_code"]) == (7_500_000,
                                                                           2_500_000, 4)
    assert run("budget", "check", "--estimate", "0.0024").exit_code == 3

    res = run("budget", "set", "--amount", "1", "--period", "month")
    assert res.exit_code == 0
    res = run("budget", "check", "--format", "json")
    assert res.exit_code == 0 and json.loads(res.stdout)["level"] == "OK"

    assert run("record", "-m", "gpt-4o", "-i", "400000", "-o", "0").exit_code == 0  # +$1
    res = run("budget", "check")
    assert res.exit_code == 4 and "EXHAUSTED" in res.stdout

    res = run("budget", "show", "--format", "json")
    assert res.exit_code == 0
    shown = json.loads(res.stdout)
    assert (shown["amount_nanos"], shown["period"], shown["thresholds"]) == (
        1_000_000_000, "month", [0.8, 0.9])


def test_budget_without_a_project_says_how_to_configure_one() -> None:
    for args in (["budget", "check"], ["budget", "show"],
                 ["budget", "set", "--amount", "5"]):
        res = run(*args)
        assert res.exit_code == 1
        assert "no project is configured" in one_error_line(res)


@pytest.mark.parametrize("args,needle", [
    (["budget", "set", "--amount", "-5"], "invalid --amount: '-5'"),
    (["budget", "set", "--amount", "lots"], "invalid --amount: 'lots'"),
    (["budget", "set", "--amount", "5", "--warn", "1.5"], "invalid --warn: '1.5'"),
    (["budget", "set", "--amount", "5", "--period", "year"], "invalid --period: 'year'; expected day, week or month"),
    (["budget", "set", "--amount", "5", "--tz", "Mars/Base"], "invalid --tz"),
    (["budget", "check", "--estimate", "x"], "invalid --estimate: 'x'"),
    (["budget", "set"], "Missing option '--amount'"),
])
def test_bad_input_exits_2_naming_the_value(args: list[str], needle: str,
                                           monkeypatch) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-nowhere")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")   # never reached
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert needle in one_error_line(res)


@pytest.mark.emulator
def test_no_budget_set_exits_1_and_says_how(firestore_emulator, monkeypatch) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    for args in (["budget", "check"], ["budget", "show"]):
        res = run(*args)
        assert res.exit_code == 1
        assert "has no budget: set one with `teamcost budget set" in one_error_line(res)


def test_unreachable_firestore_is_an_error_exit_1(monkeypatch) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-nowhere")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    res = run("budget", "check")
    assert res.exit_code == 1
    assert "Firestore emulator at 127.0.0.1:9 is not running" in one_error_line(res)


def test_offline_report_does_not_ask_for_the_budget(monkeypatch) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-nowhere")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    assert run("record", "-m", "gpt-4o", "-i", "10", "-o", "1").exit_code == 0
    res = run("report", "--since", "1d", "--offline", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["budget"] is None
    online = run("report", "--since", "1d", "--format", "json")   # tries, says why not
    assert "is not running" in json.loads(online.stdout)["budget"]["error"]
