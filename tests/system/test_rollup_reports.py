"""Reports from rollups equal reports from the calls, number for number, and answer the
attribution dimensions (project, repo, branch, ticket, pr) and their filters."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from teamcost.ledger import Ledger
from teamcost.periods import parse_window
from teamcost.reports.frames import Filters
from teamcost.reports.report import build_report
from teamcost.reports.rollup_source import team_totals
from teamcost.sync.migrate import build_rollups
from teamcost.sync.push import push
from teamcost.sync.retry import Backoff
from teamcost.sync.rollup_cache import RollupCache

from tests.sync_support import T0, config_for, make_calls, spy_reads

pytestmark = pytest.mark.emulator
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)
NOW = T0 + timedelta(days=2, hours=3)


def _team(tmp_path: Path, project: str) -> tuple[list[Any], list[Any]]:
    cfgs, calls = [], []
    for i, name in enumerate(("ana", "bo")):
        cfg = config_for(tmp_path / name, project, member=f"{name}@example.com")
        ledger = Ledger.for_config(cfg)
        recs = [dataclasses.replace(r, tags={"project": ["apollo", "gemini"][j % 2],
                                             "repo": "org/app", "ticket": f"T-{j % 3}"},
                                    priced=j % 11 != 0, success=j % 13 != 0)
                for j, r in enumerate(make_calls(400, cfg.member, ledger.ledger_id,
                                                 seed=i))]
        ledger.record_many(recs)
        cfgs.append(cfg)
        calls += recs
    return cfgs, calls


def _numbers(doc: dict[str, Any]) -> dict[str, Any]:
    keep = {k: doc[k] for k in ("summary", "rate", "projection", "trend", "spikes")}
    keep["breakdowns"] = {k: v for k, v in doc["breakdowns"].items()}
    return keep


def test_rollup_report_equals_the_call_report(firestore_emulator, firestore_client,
                                              tmp_path: Path) -> None:
    cfgs, calls = _team(tmp_path, firestore_emulator.project)
    for cfg in cfgs:
        push(cfg, Ledger.for_config(cfg), firestore_client)
    # one call of ana's not pushed yet: both paths add it from her ledger
    extra = dataclasses.replace(calls[0], call_id="late-1", ts=T0 + timedelta(hours=30))
    Ledger.for_config(cfgs[0]).record(extra)
    for tz in ("UTC", "Asia/Kolkata"):
        window = parse_window("7d", None, NOW, tz)
        kw = dict(by=("member", "model", "agent", "provider", "day"), tz=tz, now=NOW,
                  budget=False, client=firestore_client)
        from_calls = build_report(cfgs[0], window, **kw)         # rollups not complete yet
        assert "rollups" not in str(from_calls.get("warnings"))
        if tz == "UTC":
            assert build_rollups(firestore_client, "core", FAST).complete
        reads = spy_reads(firestore_client)
        from_rollups = build_report(cfgs[0], window, **kw)
        assert _numbers(from_rollups) == _numbers(from_calls)
        if tz == "UTC":
            assert reads.documents <= 100        # the team's cells, not its 800 calls
        else:
            assert reads.documents <= 5          # incremental: nothing changed since
        # filtered: only bo's calls
        f = Filters(member="bo@example.com")
        summ = build_report(cfgs[0], window, filters=f, **kw)["summary"]
        bo = [c for c in calls if c.member == "bo@example.com" and window.since <= c.ts]
        assert (summ["calls"], summ["cost_nanos"]) == (len(bo), sum(c.cost_nanos for c in bo))


def test_attribution_totals_from_rollups(firestore_emulator, firestore_client,
                                         tmp_path: Path) -> None:
    cfgs, calls = _team(tmp_path, firestore_emulator.project)
    for cfg in cfgs:
        push(cfg, Ledger.for_config(cfg), firestore_client)
    since, until = T0 - timedelta(days=1), NOW
    got = team_totals(cfgs[0], since, until, by="project", client=firestore_client)
    expect: dict[str, int] = {}
    for c in calls:
        expect[c.tags["project"]] = expect.get(c.tags["project"], 0) + c.cost_nanos
    assert {r["project"]: r["cost_nanos"] for r in got["rows"]} == expect
    assert got["total"]["calls"] == 800
    assert got["total"]["unpriced_calls"] == sum(1 for c in calls if not c.priced)
    by_ticket = team_totals(cfgs[0], since, until, by="ticket", where={"project": "apollo"},
                            client=firestore_client, refresh=False)
    expect_t: dict[str, int] = {}
    for c in calls:
        if c.tags["project"] == "apollo":
            expect_t[c.tags["ticket"]] = expect_t.get(c.tags["ticket"], 0) + c.cost_nanos
    assert {r["ticket"]: r["cost_nanos"] for r in by_ticket["rows"]} == expect_t
    # the second view read nothing new; the copy holds cells, not calls
    with RollupCache.for_config(cfgs[0]) as cache:
        assert 0 < cache.count() < 100


def test_attribution_breakdowns_and_tag_filters_of_a_report_from_rollups(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    """`report --by project,ticket --repo R` through build_report: answered by the rollups
    (nothing read per call), each filter applied, every row equal to the calls' sums."""
    cfgs, calls = _team(tmp_path, firestore_emulator.project)
    other = dataclasses.replace(calls[1], call_id="other-repo", tags={"repo": "org/else",
                                                                       "ticket": "T-9"})
    Ledger.for_config(cfgs[1]).record(other)
    for cfg in cfgs:
        push(cfg, Ledger.for_config(cfg), firestore_client)
    assert build_rollups(firestore_client, "core", FAST).complete
    window = parse_window("7d", None, NOW, "UTC")
    kw = dict(tz="UTC", now=NOW, budget=False, client=firestore_client)
    for tags in ((("repo", "org/app"),), (("repo", "org/app"), ("project", "apollo"))):
        reads = spy_reads(firestore_client)
        doc = build_report(cfgs[0], window, by=("project", "ticket"),
                           filters=Filters(tags=tags), **kw)
        assert reads.documents <= 100              # cells, not the 801 calls
        kept = [c for c in [*calls, other] if window.since <= c.ts < window.until
                and all(c.tags.get(k) == v for k, v in tags)]
        assert (doc["summary"]["calls"], doc["summary"]["cost_nanos"]) == (
            len(kept), sum(c.cost_nanos for c in kept))
        for dim in ("project", "ticket"):
            expect: dict[str, tuple[int, int]] = {}
            for c in kept:
                n, cost = expect.get(c.tags[dim], (0, 0))
                expect[c.tags[dim]] = (n + 1, cost + c.cost_nanos)
            assert {r[dim]: (r["calls"], r["cost_nanos"])
                    for r in doc["breakdowns"][dim]} == expect
