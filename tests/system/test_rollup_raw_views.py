"""Views that still need single calls once a team's rollups are complete read only what
they show: the dashboard's session view (the session's call documents), the dashboard's
report --by task (its window), ``teamcost pr`` (the span of the branch's calls, found in the
rollup copy) and ``reconcile`` (its UTC days). No call of the team is pulled, and every
number equals the sums of the call documents, worked out here with plain loops."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.periods import parse_window
from teamcost.reconcile.service import reconcile
from teamcost.reports.branch_cost import branch_cost
from teamcost.reports.calls import session_detail
from teamcost.sync.cache import TeamCache
from teamcost.sync.migrate import build_rollups
from teamcost.sync.push import push
from teamcost.sync.retry import Backoff
from teamcost.web.app import create_app
from tests.admin_api_server import AdminAPIServer, serve
from tests.rollup_support import stored_calls
from tests.sync_support import T0, config_for, make_calls, spy_reads

pytestmark = pytest.mark.emulator
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)
NOW = T0 + timedelta(hours=4, minutes=30)     # after every call of the fixture
KEY = "sk-ant-admin01-T3stOnlyN0tAR3alK3y-R0ll"
PULLED = "pull:core:pushed_at_us"             # the whole-team pull's watermark


def _tags(member: int, j: int) -> dict[str, str]:
    """main by default; feat/x for calls 100..139 (ana) / 100..159 (bo), ten of ana's on
    pull request 12; feat/y for calls 200..219, one of bo's on pull request 12 too."""
    tags = {"repo": "acme/app", "branch": "main"}
    if 100 <= j < 140 + 20 * member:
        tags["branch"] = "feat/x"
    if member == 0 and 130 <= j < 140:
        tags["pr"] = "12"
    if 200 <= j < 220:
        tags["branch"] = "feat/y"
        if member == 1 and j == 210:
            tags["pr"] = "12"
    return tags


def _team(tmp_path: Path, project: str, client: Any) -> tuple[list[Any], CallRecord]:
    """Two members push 300 calls each (the last 50 two days earlier); ana has one more
    call, on feat/x in session s2, not pushed yet."""
    cfgs = []
    for k, name in enumerate(("ana", "bo")):
        cfg = config_for(tmp_path / name, project, member=f"{name}@example.com")
        with Ledger.for_config(cfg) as led:
            recs = [dataclasses.replace(r, tags=_tags(k, j),
                                        ts=r.ts - timedelta(days=2) if j >= 250 else r.ts,
                                        priced=j % 13 != 0,
                                        cost_nanos=0 if j % 13 == 0 else r.cost_nanos)
                    for j, r in enumerate(make_calls(300, cfg.member, led.ledger_id, seed=k))]
            led.record_many(recs)
            assert push(cfg, led, client).pushed == 300
        cfgs.append(cfg)
    assert build_rollups(client, "core", FAST).complete
    with Ledger.for_config(cfgs[0]) as led:
        extra = dataclasses.replace(make_calls(1, cfgs[0].member, led.ledger_id, seed=9)[0],
                                    call_id="late-1", ts=T0 + timedelta(minutes=70),
                                    session_id="s2",
                                    tags={"repo": "acme/app", "branch": "feat/x"})
        led.record(extra)
    return cfgs, extra


def _cached(cfg: Any) -> list[CallRecord]:
    with TeamCache.for_config(cfg) as cache:
        assert cache.get_state(PULLED) is None          # the history was never pulled
        return list(cache.calls("core"))


def _sums(calls: list[CallRecord]) -> dict[str, int]:
    return {"calls": len(calls), "cost_nanos": sum(c.cost_nanos for c in calls),
            "input_tokens": sum(c.input_tokens for c in calls),
            "output_tokens": sum(c.output_tokens for c in calls),
            "cache_read_tokens": sum(c.cache_read_tokens for c in calls),
            "cache_write_tokens": sum(c.cache_write_tokens for c in calls),
            "unpriced_calls": sum(1 for c in calls if not c.priced)}


def test_session_view_reads_only_the_sessions_calls(firestore_emulator, firestore_client,
                                                     tmp_path: Path) -> None:
    (ana, bo), extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    stored = [c for c in stored_calls(firestore_client) if c.session_id == "s2"]
    assert {c.member for c in stored} == {ana.member, bo.member}
    reads = spy_reads(firestore_client)
    detail = session_detail(ana, "s2", client=firestore_client)
    assert reads.documents == len(stored)              # the session's documents, no more
    want = sorted([*stored, extra], key=lambda c: (c.ts, c.call_id), reverse=True)
    assert detail is not None
    assert [c["call_id"] for c in detail["calls"]] == [c.call_id for c in want]
    assert (detail["summary"]["calls"], detail["summary"]["cost_nanos"]) == (
        len(want), sum(c.cost_nanos for c in want))
    assert (detail["first"], detail["last"]) == (want[-1].ts.isoformat(),
                                                 want[0].ts.isoformat())
    assert session_detail(ana, "no-such-session", client=firestore_client) is None

    # the dashboard: /api/sessions/{id} on bo's machine (ana's late call is not on it)
    app = create_app(bo, clock=lambda: NOW, pull_every=0.0, budget_every=3600)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        _first_refresh(app)
        got = http.get("/api/sessions/s2").json()
        mine = sorted(stored, key=lambda c: (c.ts, c.call_id), reverse=True)
        assert [c["call_id"] for c in got["calls"]] == [c.call_id for c in mine]
        assert got["summary"]["cost_nanos"] == sum(c.cost_nanos for c in mine)
        assert http.get("/api/sessions/nope").status_code == 404

        # report --by task without a pull: its window's calls, read on demand
        doc = http.get("/api/report?since=2026-11-16&until=2026-11-16&by=task").json()
        day = [c for c in stored_calls(firestore_client)
               if datetime(2026, 11, 16, tzinfo=UTC) <= c.ts < datetime(2026, 11, 17, tzinfo=UTC)]
        assert (doc["summary"]["calls"], doc["summary"]["cost_nanos"]) == (
            len(day), sum(c.cost_nanos for c in day))
    assert _cached(ana) == []
    # bo's cache holds the report's window (and its baseline days) only, never pulled
    assert all(c.ts >= datetime(2026, 11, 16, tzinfo=UTC) - timedelta(days=8)
               for c in _cached(bo))


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kathmandu"])
def test_pr_reads_only_the_span_of_the_branchs_calls(firestore_emulator, firestore_client,
                                                     tmp_path: Path, tz: str) -> None:
    (ana, _bo), extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    everything = stored_calls(firestore_client)
    window = parse_window("2026-11-15", "2026-11-16", NOW, tz)

    def oracle(calls: list[CallRecord]) -> dict[str, Any]:
        sessions: dict[str, list[CallRecord]] = {}
        for c in calls:
            sessions.setdefault(c.session_id or "(none)", []).append(c)
        members: dict[str, int] = {}
        for c in calls:
            members[c.member] = members.get(c.member, 0) + c.cost_nanos
        return {"summary": _sums(calls), "members": members,
                "sessions": sorted(((s, sum(c.cost_nanos for c in v), len(v),
                                     min(c.ts for c in v).isoformat(),
                                     max(c.ts for c in v).isoformat())
                                    for s, v in sessions.items()),
                                   key=lambda r: (-r[1], r[0]))}

    def got(doc: dict[str, Any]) -> dict[str, Any]:
        return {"summary": {k: doc["summary"][k] for k in _sums([])},
                "members": {r["member"]: r["cost_nanos"] for r in doc["breakdowns"]["member"]},
                "sessions": [(s["session"], s["cost_nanos"], s["calls"], s["first"], s["last"])
                             for s in doc["sessions"]]}

    on_x = [c for c in [*everything, extra] if c.tags.get("branch") == "feat/x"]
    doc = branch_cost(ana, window, branch="feat/x", tz=tz, now=NOW)
    assert doc["warnings"] == []
    assert got(doc) == oracle(on_x)
    assert doc["repos"] == ["acme/app"]
    # read: the team's calls from the quarter-hour of feat/x's first call to the end of
    # its last one's, not the 600
    first = min(c.ts for c in on_x).replace(minute=min(c.ts for c in on_x).minute // 15 * 15,
                                            second=0, microsecond=0)
    last = max(c.ts for c in on_x)
    end = last.replace(minute=last.minute // 15 * 15, second=0, microsecond=0) \
        + timedelta(minutes=15)
    cached = _cached(ana)
    assert sorted(c.call_id for c in cached) == sorted(
        c.call_id for c in everything if first <= c.ts < end)
    assert 0 < len(cached) < 200

    # pull request 12: its calls name feat/x and feat/y; every call on those branches
    of_pr = [c for c in [*everything, extra]
             if c.tags.get("pr") == "12" or c.tags.get("branch") in ("feat/x", "feat/y")]
    doc = branch_cost(ana, window, pr="12", tz=tz, now=NOW)
    assert doc["branches"] == ["feat/x", "feat/y"]
    assert got(doc) == oracle(of_pr)
    assert len(_cached(ana)) < 300

    # a branch with no call in the window: nothing read, nothing found
    reads = spy_reads(firestore_client)
    doc = branch_cost(ana, window, branch="feat/none", tz=tz, now=NOW)
    assert doc["summary"]["calls"] == 0 and reads.documents == 0


@pytest.fixture
def api() -> Iterator[AdminAPIServer]:
    srv = AdminAPIServer(key=KEY)
    httpd, thread = serve(srv)
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_reconcile_reads_only_its_days(api: AdminAPIServer, firestore_emulator,
                                       firestore_client, tmp_path: Path) -> None:
    (_ana, bo), _extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    env = {"ANTHROPIC_ADMIN_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.anthropic_root}
    day, nxt = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 17, tzinfo=UTC)
    res = reconcile(bo, "anthropic", "2026-11-16", "2026-11-16", env=env,
                    now=datetime(2026, 11, 20, tzinfo=UTC))
    stored = stored_calls(firestore_client)
    want = [c for c in stored if day <= c.ts < nxt and c.provider == "anthropic"]
    totals = res.to_dict()["totals"]
    assert (totals["recorded_calls"], totals["recorded_nanos"], totals["unpriced_calls"]) == (
        len(want), sum(c.cost_nanos for c in want), sum(1 for c in want if not c.priced))
    assert want and totals["unpriced_calls"]
    # the day's calls (every provider: the window reader reads by ts), not the two days
    # before, never the whole history
    assert sorted(c.call_id for c in _cached(bo)) == sorted(
        c.call_id for c in stored if day <= c.ts < nxt)
    assert not any("could not" in w for w in res.warnings)


def _first_refresh(app: Any) -> None:
    """Wait for the dashboard loop's first refresh of the rollup copy (it starts with the
    server; the chart and tags read the copy as held)."""
    deadline = time.monotonic() + 30
    while app.state.dashboard.pull_state.get("source") != "rollups":
        assert time.monotonic() < deadline, app.state.dashboard.pull_state
        time.sleep(0.05)


def test_dashboard_chart_and_tags_and_report_chart_from_the_rollup_copy(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    from teamcost.reports.chart import report_chart
    from teamcost.reports.report import build_report

    (ana, bo), extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    stored = stored_calls(firestore_client)
    since, until = datetime(2026, 11, 14, tzinfo=UTC), datetime(2026, 11, 17, tzinfo=UTC)
    inside = [c for c in stored if since <= c.ts < until]
    per_day: dict[tuple[str, str], int] = {}
    for c in inside:
        k = (c.member, c.ts.date().isoformat())
        per_day[k] = per_day.get(k, 0) + c.cost_nanos
    by_branch: dict[str, tuple[int, int, int]] = {}
    for c in inside:
        b = c.tags["branch"]
        cost, n, unpriced = by_branch.get(b, (0, 0, 0))
        by_branch[b] = (cost + c.cost_nanos, n + 1, unpriced + (not c.priced))
    app = create_app(bo, clock=lambda: NOW, pull_every=0.0, budget_every=3600)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        q = "since=2026-11-14&until=2026-11-16&tz=UTC"
        _first_refresh(app)
        chart = http.get(f"/api/chart?{q}&stack=member").json()
        got = {(m, d): v for m, values in chart["series"].items()
               for d, v in zip(chart["days"], values, strict=True) if v}
        assert got == per_day
        assert (chart["total_nanos"], chart["calls"]) == (
            sum(c.cost_nanos for c in inside), len(inside))
        tags = http.get(f"/api/tags?{q}&key=branch").json()["rows"]
        assert {r["branch"]: (r["cost_nanos"], r["calls"], r["unpriced_calls"])
                for r in tags} == by_branch
        # a filter on a rollup dimension
        tags = http.get(f"/api/tags?{q}&key=pr&branch=feat/x").json()["rows"]
        on_x = [c for c in inside if c.tags["branch"] == "feat/x"]
        assert {r["pr"]: r["calls"] for r in tags} == {
            "12": sum(1 for c in on_x if c.tags.get("pr") == "12"),
            "(none)": sum(1 for c in on_x if c.tags.get("pr") != "12")}
    with TeamCache.for_config(bo) as cache:
        assert cache.count("core") == 0

    # report --chart: the report from the rollup copy, the chart from the same copy
    window = parse_window("2026-11-14", "2026-11-16", NOW, "UTC")
    doc = build_report(ana, window, now=NOW, budget=False)
    drawn = report_chart(ana, doc, tmp_path / "chart.html", now=NOW)
    mine = [*inside, extra]
    assert drawn.total_nanos == doc["summary"]["cost_nanos"] == sum(c.cost_nanos for c in mine)
    assert _cached(ana) == []
