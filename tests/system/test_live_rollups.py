"""Live views, /metrics and raw-call views once a team's rollups are complete: no call is
pulled; watch's and the dashboard's numbers come from the rollup copy and equal the sums of
the call documents to the nano-dollar; single calls are read by window only."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from teamcost.ledger import Ledger
from teamcost.periods import parse_window
from teamcost.reports.calls import calls_page
from teamcost.reports.export import export_period
from teamcost.reports.live import LiveSource, rollup_snapshot, stored_snapshot
from teamcost.reports.metrics import rollup_usage_rows
from teamcost.reports.report import build_report
from teamcost.sync.cache import TeamCache
from teamcost.sync.migrate import build_rollups
from teamcost.sync.push import push
from teamcost.sync.retry import Backoff
from teamcost.sync.rollup_cache import RollupCache, refresh
from teamcost.sync.window import fetch_window
from teamcost.web.app import create_app

from tests.rollup_support import stored_calls
from tests.sync_support import T0, config_for, make_calls, spy_reads

pytestmark = pytest.mark.emulator
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)
NOW = T0 + timedelta(hours=4, minutes=30)     # after every call of the fixture (4h07m)


def _team(tmp_path: Path, project: str, client: Any) -> tuple[list[Any], Any]:
    """Two members push 300 calls each; ana has one more call not pushed yet."""
    cfgs = []
    for i, name in enumerate(("ana", "bo")):
        cfg = config_for(tmp_path / name, project, member=f"{name}@example.com")
        ledger = Ledger.for_config(cfg)
        recs = [dataclasses.replace(r, priced=j % 11 != 0,
                                    cost_nanos=0 if j % 11 == 0 else r.cost_nanos)
                for j, r in enumerate(make_calls(300, cfg.member, ledger.ledger_id, seed=i))]
        ledger.record_many(recs)
        assert push(cfg, ledger, client).pushed == 300
        cfgs.append(cfg)
    assert build_rollups(client, "core", FAST).complete
    a = cfgs[0]
    led = Ledger.for_config(a)
    extra = dataclasses.replace(make_calls(1, a.member, led.ledger_id, seed=9)[0],
                                call_id="late-1", ts=NOW - timedelta(minutes=3))
    led.record(extra)
    return cfgs, extra


def _oracle(calls: list[Any], now: datetime) -> dict[str, Any]:
    """watch's numbers computed directly from call records (UTC, month budget period)."""
    month = datetime(now.year, now.month, 1, tzinfo=UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    period = [c for c in calls if month <= c.ts <= now]
    today = [c for c in period if c.ts >= day]
    hour = [c for c in period if c.ts > now - timedelta(hours=1)]
    members: dict[str, list[int]] = {}
    for c in period:
        m = members.setdefault(c.member, [0, 0])
        m[0] += c.cost_nanos
        m[1] += 1
    newest = sorted(period, key=lambda c: (c.ts, c.call_id), reverse=True)[:8]
    return {"period_nanos": sum(c.cost_nanos for c in period), "period_calls": len(period),
            "today_nanos": sum(c.cost_nanos for c in today), "today_calls": len(today),
            "last_hour_nanos": sum(c.cost_nanos for c in hour),
            "unpriced_calls": sum(1 for c in period if not c.priced),
            "by_member": sorted((k, v[0], v[1]) for k, v in members.items()),
            "latest": [c.call_id for c in newest]}


def _numbers(snap: Any) -> dict[str, Any]:
    return {"period_nanos": snap.period_nanos, "period_calls": snap.period_calls,
            "today_nanos": snap.today_nanos, "today_calls": snap.today_calls,
            "last_hour_nanos": snap.last_hour_nanos, "unpriced_calls": snap.unpriced_calls,
            "by_member": sorted((s.key, s.cost_nanos, s.calls) for s in snap.by_member),
            "latest": [c.call_id for c in snap.latest]}


def test_watch_and_dashboard_from_rollups_equal_the_call_documents(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    cfgs, extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    a = cfgs[0]
    expected = _oracle([*stored_calls(firestore_client), extra], NOW)
    assert expected["last_hour_nanos"] and expected["unpriced_calls"]   # the fixture covers them

    cells = len(list(firestore_client.collection("teamcost_rollups").stream()))
    reads = spy_reads(firestore_client)
    with LiveSource(a, client=firestore_client, listen=False) as source:   # polling
        snap = source.refresh(NOW)
        assert _numbers(snap) == expected
        first = reads.documents
        # the team's cells, plus the 8 newest calls: never the 600 calls
        assert first == cells + 8 and cells < 100, (first, cells)
        snap = source.refresh(NOW)
        assert _numbers(snap) == expected
        assert reads.documents == first             # nothing changed: no document read
    assert snap.refreshed["rollups"] is True
    with TeamCache.for_config(a) as cache:
        assert cache.count("core") == 0            # no call pulled into the team cache

    # offline (no client): the copy and this machine's calls, without the newest calls read
    off = rollup_snapshot(a, None, NOW)
    assert (off.period_nanos, off.period_calls) == (expected["period_nanos"],
                                                    expected["period_calls"])

    # the dashboard: its loop refreshes bo's copy of the cells, /api/live reads it
    b = cfgs[1]
    exp_b = _oracle(stored_calls(firestore_client), NOW)   # ana's late call is not on bo's
    app = create_app(b, clock=lambda: NOW, pull_every=0.0, budget_every=3600)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        deadline = time.monotonic() + 30
        while True:
            live = http.get("/api/live").json()
            if live["period_calls"] == exp_b["period_calls"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        got = {k: live[k] for k in ("period_nanos", "period_calls", "today_nanos",
                                    "today_calls", "last_hour_nanos", "unpriced_calls")}
        assert got == {k: exp_b[k] for k in got}
        assert [c["call_id"] for c in live["latest"]] == exp_b["latest"]
        assert live["pull"].get("source") == "rollups"
        # the call list: pages of the window straight from Firestore, each call once
        page = http.get("/api/calls?limit=250").json()
        ids = [c["call_id"] for c in page["calls"]]
        page2 = http.get(f"/api/calls?limit=500&cursor={page['next_cursor']}").json()
        ids += [c["call_id"] for c in page2["calls"]]
        assert page2["next_cursor"] is None
        want = sorted(stored_calls(firestore_client), key=lambda c: (c.ts, c.call_id),
                      reverse=True)
        assert ids == [c.call_id for c in want]
    with TeamCache.for_config(b) as cache:
        assert cache.count("core") == 0
    assert stored_snapshot(b, NOW, firestore_client).period_nanos == exp_b["period_nanos"]


def test_call_list_merges_this_machines_unpushed_calls(firestore_emulator, firestore_client,
                                                       tmp_path: Path) -> None:
    cfgs, extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    reads = spy_reads(firestore_client)
    page = calls_page(cfgs[0], limit=5, client=firestore_client)
    want = sorted([*stored_calls(firestore_client), extra], key=lambda c: (c.ts, c.call_id),
                  reverse=True)[:5]
    assert [c.call_id for c in page.calls] == [c.call_id for c in want]
    assert reads.documents <= 600 + 6                   # stored_calls' 600, the page's 6


def test_raw_call_views_read_only_their_window(firestore_emulator, firestore_client,
                                               tmp_path: Path) -> None:
    cfgs, extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    a = cfgs[0]
    calls = [*stored_calls(firestore_client), extra]
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    inside = [c for c in calls if since <= c.ts < until]
    # fetch_window: the window's documents only, then nothing when nothing changed
    reads = spy_reads(firestore_client)
    res = fetch_window(a, firestore_client, since, until, backoff=FAST)
    assert res.read == reads.documents == len([c for c in inside if c is not extra])
    again = fetch_window(a, firestore_client, since, until, backoff=FAST)
    assert (again.read, again.aggregation_reads) == (0, 1)
    with TeamCache.for_config(a) as cache:
        assert sorted(c.call_id for c in cache.calls("core")) == sorted(
            c.call_id for c in inside if c is not extra)

    # report --by task: the calls of its window (and of its baseline and month) only
    window = parse_window("2026-11-16", "2026-11-16", NOW, "UTC")
    doc = build_report(a, window, by=("member", "task"), now=NOW, budget=False,
                       client=firestore_client)
    day = [c for c in calls if window.since <= c.ts < window.until]
    assert (doc["summary"]["calls"], doc["summary"]["cost_nanos"]) == (
        len(day), sum(c.cost_nanos for c in day))
    by_member = {r["member"]: r["cost_nanos"] for r in doc["breakdowns"]["member"]}
    assert by_member == {m: sum(c.cost_nanos for c in day if c.member == m)
                         for m in {c.member for c in day}}

    # --by tag:NAME of a tag rollups do not keep: from the same window's calls
    doc = build_report(a, window, by=("tag:i",), now=NOW, budget=False,
                       client=firestore_client)
    by_tag = {r["tag:i"]: r["cost_nanos"] for r in doc["breakdowns"]["tag:i"]}
    want: dict[str, int] = {}
    for c in day:
        key = str(c.tags.get("i")) if c.tags.get("i") is not None else "(none)"
        want[key] = want.get(key, 0) + c.cost_nanos
    assert by_tag == want

    # export of a window: exact, and a second run reads no call document
    reads = spy_reads(firestore_client)
    win = parse_window(since.isoformat(), until.isoformat(), NOW, "UTC")
    out = export_period(a, win, tmp_path / "out", fmt="csv", now=NOW,
                        client=firestore_client)
    exp = [c for c in calls if win.since <= c.ts < win.until]
    assert (out.calls, out.cost_nanos) == (len(exp), sum(c.cost_nanos for c in exp))
    assert reads.documents == 0     # the window (and its baseline days) already held
    with TeamCache.for_config(a) as cache:     # windows were read, the history never pulled
        assert cache.get_state("pull:core:pushed_at_us") is None


def test_metrics_from_rollups_equal_the_calls_and_never_go_back(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    cfgs, extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    b = cfgs[1]
    with RollupCache.for_config(b) as cache:
        refresh(firestore_client, cache, "core", FAST)

    def expected(calls: list[Any]) -> dict[tuple[str, str], tuple[int, int, int]]:
        out: dict[tuple[str, str], list[int]] = {}
        for c in calls:
            r = out.setdefault((c.provider, c.model), [0, 0, 0])
            r[0] += c.cost_nanos
            r[1] += 1
            r[2] += 0 if c.priced else 1
        return {k: tuple(v) for k, v in out.items()}   # type: ignore[misc]

    def got(cfg: Any) -> dict[tuple[str, str], tuple[int, int, int]]:
        return {(r["provider"], r["model"]): (r["cost_nanos"], r["calls"], r["unpriced_calls"])
                for r in rollup_usage_rows(cfg)}

    assert got(b) == expected(stored_calls(firestore_client))
    # ana: her own ledger counts her calls (the late one included), bo's come from cells
    a = cfgs[0]
    with RollupCache.for_config(a) as cache:
        refresh(firestore_client, cache, "core", FAST)
    before = got(a)
    assert before == expected([*stored_calls(firestore_client), extra])
    # her push moves the late call into a cell her copy has not read: nothing drops
    with Ledger.for_config(a) as led:
        assert push(a, led, firestore_client).pushed == 1
    assert got(a) == before
    with RollupCache.for_config(a) as cache:
        refresh(firestore_client, cache, "core", FAST)
    assert got(a) == before


def test_watch_listens_to_the_cells_and_polls_when_the_listener_ends(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    cfgs, extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    a, b = cfgs
    with LiveSource(a, client=firestore_client, listen_ready_s=20,
                    listen_retry_s=0) as source:
        # the first refresh polls (the copy's catch-up is read once, by the query), then
        # listens from the copy's watermark: a first snapshot with nothing in it
        first = source.refresh(NOW)
        listener = source.listener
        assert listener is not None and listener.alive and listener.ready
        initial = listener.delivered
        assert initial == 0
        source.refresh(NOW)                     # reads the newest calls once more
        reads = spy_reads(firestore_client)
        # nothing changed: no query of the cells, no newest calls read again
        assert _numbers(source.refresh(NOW)) == _numbers(first)
        assert reads.documents == 0
        # bo pushes a call: the listener delivers its cell, the next refresh counts it
        late = dataclasses.replace(make_calls(1, b.member, "x", seed=5)[0], call_id="bo-late",
                                   ts=NOW - timedelta(minutes=1))
        with Ledger.for_config(b) as led:
            late = dataclasses.replace(late, ledger_id=led.ledger_id)
            led.record(late)
            assert push(b, led, firestore_client).pushed == 1
        deadline = time.monotonic() + 20
        while listener.delivered == initial and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listener.delivered - initial in (1, 2)       # bo's cell (once per change)
        snap = source.refresh(NOW)
        assert reads.documents == 8              # the newest calls, read again: no cells
        assert _numbers(snap) == _oracle([*stored_calls(firestore_client), extra], NOW)
        assert snap.latest[0].call_id == "bo-late"
        # the stream ends (a network cut): the next refresh starts another listener, which
        # resumes after the copy's watermark (nothing changed: an empty first snapshot)
        listener._watch.unsubscribe()
        assert not listener.alive
        again = source.refresh(NOW)              # polls, and listens again
        assert source.listener is not None and source.listener is not listener
        assert source.listener.wait_ready(20) and source.listener.delivered == 0
        assert _numbers(again) == _numbers(snap)
        assert _numbers(source.refresh(NOW)) == _numbers(snap)


def test_watch_offline_shows_the_rollup_copy(firestore_emulator, firestore_client,
                                             tmp_path: Path, monkeypatch) -> None:
    from google.cloud import firestore

    from teamcost.emulator import free_port
    from teamcost.sync import rollups

    cfgs, extra = _team(tmp_path, firestore_emulator.project, firestore_client)
    a = cfgs[0]
    with LiveSource(a, client=firestore_client, listen=False) as source:
        online = source.refresh(NOW)
    rollups._COMPLETE.clear()       # a new process: it must learn rollups are complete
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")   # nothing
    dead = firestore.Client(project=firestore_emulator.project)
    started = time.monotonic()
    with LiveSource(a, client=dead) as source:
        snap = source.refresh(NOW)
    assert time.monotonic() - started < 30
    assert "error" in snap.refreshed
    assert (snap.period_nanos, snap.period_calls, snap.today_nanos) == (
        online.period_nanos, online.period_calls, online.today_nanos)
    assert [c.call_id for c in snap.latest] == ["late-1"]      # only this machine's own
    assert snap.last_hour_nanos == extra.cost_nanos
    with TeamCache.for_config(a) as cache:
        assert cache.count("core") == 0
