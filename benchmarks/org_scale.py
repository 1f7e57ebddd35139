"""Benchmark: teamcost's own Firestore bill per member, old design vs rollups, at team sizes.

    .venv/bin/python benchmarks/org_scale.py [--sizes 5,20,50] [--calls-per-day 1100]

For each team size, members run in process against the emulator with compressed time:
each member records 15 active minutes of calls (a heavy Claude Code user: 33,000 calls a
month = 1,100 a day over 8 active hours, arriving at random) and pushes them as the agent
does (every 5 s, real `push`), checks the budget as the agent does (every minute, real
`check_with_today`), and once a day opens `teamcost report --since 7d` (real rollup
refresh). Every Firestore RPC is counted at the client: documents returned by queries and
gets, writes in successful commits, and aggregation queries as billed, one read per 1,000
index entries they match (at least one).

The OLD design is measured in the same run from the same data: its writes are the call
creates alone; its reads are what its agent did every minute: a pull of every new call of
the team (real `pull`, sampled members), the budget document, and two aggregations over
the calls (the budget period and today). An aggregation's bill depends on the calls it
matches, so those are counted for a team of that size at mid-month and mid-day (15 days
and half a day of calls in the period) rather than loaded into the emulator.

The simulated 15 active minutes scale to a member-day by 32 (8 active hours: pushes,
pulls), the checks to 1,440 a day; a report's refresh reads each cell the team changed
once, which the simulated minutes already touch, so it is not scaled. Prices: $0.03 per 100,000 reads, $0.09 per 100,000 writes
(regional list price, before the free tier). Results are printed as a table with the
ratios OLD/NEW.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.emulated import emulated_team  # noqa: E402
from teamcost.config import Config  # noqa: E402
from teamcost.models import CallRecord  # noqa: E402

READ_USD = 0.03 / 100_000
WRITE_USD = 0.09 / 100_000
DAY_MINUTES = 1440
ACTIVE_HOURS = 8
SIM_MINUTES = 15          # simulated active time per member, scaled to the day
SCALE = ACTIVE_HOURS * 60 // SIM_MINUTES
PUSH_EVERY_S = 5


@dataclasses.dataclass
class Counts:
    reads: int = 0
    writes: int = 0
    creates: int = 0          # call documents created (what the old design wrote)
    agg_queries: int = 0
    agg_reads: int = 0

    def reset(self) -> None:
        self.reads = self.writes = self.creates = self.agg_queries = self.agg_reads = 0


def count_rpcs(client: Any, counts: Counts) -> None:
    """Wrap the client's gapic methods; aggregation reads billed per 1,000 entries matched
    (found by counting the same query's documents, uncounted)."""
    api = client._firestore_api
    real_commit, real_query = api.commit, api.run_query
    real_agg, real_get = api.run_aggregation_query, api.batch_get_documents

    def commit(*a: Any, **k: Any) -> Any:
        req = k.get("request") if "request" in k else a[0]
        resp = real_commit(*a, **k)
        writes = req["writes"] if isinstance(req, dict) else req.writes
        counts.writes += len(writes)
        counts.creates += sum(1 for w in writes
                              if "/trinity_costs/" in (w["update"]["name"] if isinstance(w, dict)
                                                       else w.update.name))
        return resp

    def run_query(*a: Any, **k: Any) -> Iterator[Any]:
        for r in real_query(*a, **k):
            if r.document and r.document.name:
                counts.reads += 1
            yield r

    def run_aggregation_query(*a: Any, **k: Any) -> Any:
        from google.cloud.firestore_v1.types import firestore as fs
        req = k.get("request") if "request" in k else a[0]
        out = list(real_agg(*a, **k))
        # entries matched: the same structured query run as a plain query (not counted)
        if isinstance(req, dict):
            parent = req["parent"]
            sq = req["structured_aggregation_query"].structured_query
        else:
            parent, sq = req.parent, req.structured_aggregation_query.structured_query
        q = fs.RunQueryRequest(parent=parent, structured_query=sq)
        entries = sum(1 for r in real_query(request=q, metadata=k.get("metadata", ()))
                      if r.document and r.document.name)
        counts.agg_queries += 1
        billed = max(1, math.ceil(entries / 1000))
        counts.agg_reads += billed
        counts.reads += billed
        return iter(out)

    def batch_get(*a: Any, **k: Any) -> Iterator[Any]:
        for r in real_get(*a, **k):
            if r.found and r.found.name:
                counts.reads += 1
            yield r

    api.commit, api.run_query = commit, run_query
    api.run_aggregation_query, api.batch_get_documents = run_aggregation_query, batch_get


def sim_calls(cfg: Config, ledger_id: str, start: datetime, n: int,
              rng: random.Random, member_no: int) -> list[CallRecord]:
    """A member's calls of the simulated minutes. Per member and day they fall in at most
    16 cells (2 sessions x 2 models x 2 agents x 2 branches; project, repo and ticket per
    member), as a day of a few Claude Code sessions would."""
    out = []
    for i in range(n):
        ts = start + timedelta(seconds=rng.random() * SIM_MINUTES * 60)
        out.append(CallRecord(
            call_id=f"{cfg.member.split('@')[0]}-{start:%Y%m%d%H}-{i}", ts=ts, team=cfg.team,
            member=cfg.member, ledger_id=ledger_id, provider="anthropic",
            model=rng.choice(["claude-sonnet-4-5", "claude-haiku-4-5"]),
            input_tokens=rng.randrange(5000), output_tokens=rng.randrange(800),
            cache_read_tokens=rng.randrange(40000), cache_write_tokens=rng.randrange(2000),
            cost_nanos=rng.randrange(1, 40_000_000), price_source="bench",
            session_id=f"m{member_no}-s{rng.randrange(2)}",
            agent=rng.choice(["main", "subagent"]),
            tags={"project": f"p{member_no % 3}", "repo": "org/app",
                  "branch": rng.choice(["main", "feat"]), "ticket": f"T-{member_no % 5}"}))
    return sorted(out, key=lambda r: r.ts)


def run_team(size: int, calls_per_day: int, samples: int,
             push_every: int = PUSH_EVERY_S) -> dict[str, float]:
    from teamcost.budget.check import check_with_today, set_team_budget
    from teamcost.budget.spend import calls_spend
    from teamcost.budget.store import CHECK_BACKOFF, get_budget
    from teamcost.ledger import Ledger
    from teamcost.reports.rollup_source import team_table
    from teamcost.sync.cache import TeamCache
    from teamcost.sync.migrate import build_rollups
    from teamcost.sync.pull import pull
    from teamcost.sync.push import push

    rng = random.Random(size)
    per_sim = calls_per_day // SCALE
    hour = datetime(2026, 11, 16, 10, tzinfo=UTC)
    with emulated_team(project_suffix=str(size)) as (client, lead, work):
        counts = Counts()
        count_rpcs(client, counts)
        set_team_budget(lead, "100000", "month", client=client)
        build_rollups(client, lead.team, CHECK_BACKOFF)       # a new team: complete at once
        members = []
        for m in range(size):
            cfg = Config(home=work / f"m{m}", team=lead.team, member=f"m{m}@example.com",
                         project=lead.project)
            cfg.home.mkdir(parents=True)
            ledger = Ledger.for_config(cfg)
            members.append((cfg, ledger, sim_calls(cfg, ledger.ledger_id, hour, per_sim,
                                                   rng, m)))
        # -- pushes: one active hour, every 5 s, as the agent --
        counts.reset()
        t0 = time.perf_counter()
        commits = 0
        for cfg, ledger, calls in members:
            by_window: dict[int, list[CallRecord]] = {}
            for c in calls:
                by_window.setdefault(int((c.ts - hour).total_seconds()) // push_every,
                                     []).append(c)
            for w in sorted(by_window):
                ledger.record_many(by_window[w])
                push(cfg, ledger, client, in_flight=1)
                commits += 1
        push_s = time.perf_counter() - t0
        new_writes_day = counts.writes * SCALE / size
        old_writes_day = counts.creates * SCALE / size
        push_reads_day = counts.reads * SCALE / size
        # -- the agent's minute (NEW): budget + today from the rollups --
        checks = 0
        counts.reset()
        for cfg, ledger, _ in members:
            for k in range(10):  # ten minutes: the budget document once, the sums each minute
                check_with_today(cfg, client, ledger, hour + timedelta(minutes=61 + k))
                checks += 1
        new_check_reads = counts.reads / checks
        new_check_agg = counts.agg_reads / checks
        # -- the old agent's minute: budget document + two aggregations over the calls --
        counts.reset()
        for cfg, _, _ in members[:samples]:
            get_budget(client, cfg.team)
        doc_reads = counts.reads / samples
        counts.reset()
        start = datetime(2026, 11, 1, tzinfo=UTC)
        calls_spend(client, lead.team, start, hour + timedelta(hours=2), CHECK_BACKOFF)
        q_per_check = 2 * counts.agg_queries
        month_entries = 15 * calls_per_day * size       # mid-month
        today_entries = calls_per_day // 2 * size       # mid-day
        old_check_reads = (doc_reads + max(1, math.ceil(month_entries / 1000))
                           + max(1, math.ceil(today_entries / 1000)))
        # -- views --
        counts.reset()
        for cfg, _, _ in members[:samples]:       # NEW: one report a day refreshes cells
            team_table(cfg, client, hour - timedelta(days=7), hour + timedelta(hours=2))
        # a day's report reads each cell the team changed that day once; the simulated
        # minutes touch (nearly) all of a day's cells, so this is not scaled
        view_reads_day = counts.reads / samples
        counts.reset()
        for cfg, _, _ in members[:samples]:       # OLD: the agent's pulls of every call
            with TeamCache.for_config(cfg) as cache:
                pull(cfg, client, cache)
        pull_reads_day = counts.reads * SCALE / samples
        new_reads_day = (push_reads_day + new_check_reads * DAY_MINUTES + view_reads_day)
        old_reads_day = old_check_reads * DAY_MINUTES + pull_reads_day
        return {"size": size, "new_reads": new_reads_day,
                "new_background_reads": push_reads_day + new_check_reads * DAY_MINUTES,
                "new_writes": new_writes_day, "old_reads": old_reads_day,
                "old_writes": old_writes_day, "new_check_reads": new_check_reads,
                "new_check_agg": new_check_agg, "old_check_reads": old_check_reads,
                "old_agg_queries_per_check": q_per_check,
                "view_reads": view_reads_day, "commits": commits, "push_s": push_s}


def first_report(members: int, calls_per_day: int, days: int = 30) -> dict[str, float]:
    """A new member's first `report --since 30d` of a team with members x calls_per_day x
    days calls: its rollup cells are written directly (as pushes would have left them),
    then the report runs from an empty machine, its reads counted and its time taken."""
    from google.cloud import firestore

    from teamcost.periods import parse_window
    from teamcost.reports.report import build_report
    from teamcost.sync.rollup_doc import METRICS, ROLLUPS, STATE, cell_id

    rng = random.Random(7)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    with emulated_team(project_suffix="first") as (client, lead, work):
        counts = Counts()
        batch, n_docs, calls = client.batch(), 0, 0
        for m in range(members):
            member = f"m{m}@example.com"
            for d in range(days):
                day = (end - timedelta(days=days - d)).date()
                per_cell = calls_per_day // 16
                for cell_no in range(16):
                    cell = ("anthropic", ["claude-sonnet-4-5", "claude-haiku-4-5"][cell_no % 2],
                            ["main", "subagent"][cell_no // 2 % 2], f"m{m}-{d}-s{cell_no // 4 % 2}",
                            f"p{m % 3}", "org/app", ["main", "feat"][cell_no // 8], f"T-{m % 5}",
                            "")
                    slots: dict[str, dict[str, int]] = {}
                    for _ in range(per_cell):
                        q = 36 + rng.randrange(32)        # 09:00-17:00 UTC
                        s = slots.setdefault(f"q{q:02d}", dict.fromkeys(METRICS, 0))
                        s["n"] += 1
                        s["c"] += rng.randrange(1, 40_000_000)
                        s["i"] += rng.randrange(5000)
                    calls += per_cell
                    doc = {"team": lead.team, "member": member, "ledger_id": f"L{m}",
                           "day": day.isoformat(),
                           **dict(zip(("provider", "model", "agent", "session_id", "project",
                                       "repo", "branch", "ticket", "pr"), cell, strict=True)),
                           "s": slots, "updated_at": firestore.SERVER_TIMESTAMP}
                    batch.set(client.collection(ROLLUPS).document(
                        cell_id(lead.team, member, f"L{m}", day, cell)), doc)
                    n_docs += 1
                    if n_docs % 400 == 0:
                        batch.commit()
                        batch = client.batch()
        batch.commit()
        client.collection(STATE).document(lead.team).set({"team": lead.team,
                                                          "complete": True})
        count_rpcs(client, counts)
        newcomer = Config(home=work / "new", team=lead.team, member="new@example.com",
                          project=lead.project)
        newcomer.home.mkdir(parents=True)
        t = time.perf_counter()
        doc = build_report(newcomer, parse_window("30d", None, end, "UTC"), now=end,
                           budget=False, client=client)
        seconds = time.perf_counter() - t
        size = (newcomer.cache_file.with_name("rollups.sqlite")).stat().st_size
        assert doc["summary"]["calls"] == calls, (doc["summary"]["calls"], calls)
        return {"calls": calls, "docs": n_docs, "reads": counts.reads, "seconds": seconds,
                "mb": size / 1e6, "year_mb": size / 1e6 * 365 / days}


def bill(reads: float, writes: float, members: int) -> float:
    return (reads * READ_USD + writes * WRITE_USD) * members * 30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5,20,50")
    ap.add_argument("--calls-per-day", type=int, default=1100)
    ap.add_argument("--samples", type=int, default=3, help="members sampled for views/pulls")
    ap.add_argument("--first-report", action="store_true",
                    help="only: a new member's first report --since 30d of a 1,000,000-call team")
    ap.add_argument("--push-every", type=int, default=PUSH_EVERY_S,
                    help="seconds between an agent's pushes (the agent's push_every)")
    args = ap.parse_args()
    import os

    from teamcost.emulator import start_emulator
    emu = None
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):    # one emulator for every team
        emu = start_emulator()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host
    try:
        if args.first_report:
            r = first_report(30, args.calls_per_day)
            print(f"first `report --since 30d` on a new machine, team of 30 members, "
                  f"{r['calls']:,} calls in 30 days ({r['docs']:,} rollup cells): "
                  f"{r['reads']:,} documents read (target <= 50,000), {r['seconds']:.1f}s "
                  f"(target < 10 s); the copy on disk {r['mb']:.1f} MB, a year of such a team "
                  f"{r['year_mb']:.0f} MB (target < 200 MB); the old design read every call: "
                  f"{r['calls']:,} documents")
            return
        rows = [run_team(int(s), args.calls_per_day, args.samples, args.push_every)
                for s in args.sizes.split(",")]
    finally:
        if emu is not None:
            emu.stop()
            del os.environ["FIRESTORE_EMULATOR_HOST"]
    print(f"\nper member-day ({args.calls_per_day:,} calls a day, agent defaults: push every "
          f"{args.push_every} s, budget check every minute; one `report` a day)\n")
    print("| members | NEW reads | of which background | NEW writes | OLD reads | OLD writes "
          "| reads OLD/NEW | NEW reads/check | OLD reads/check |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']} | {r['new_reads']:,.0f} | {r['new_background_reads']:,.0f} "
              f"| {r['new_writes']:,.0f} | {r['old_reads']:,.0f} | {r['old_writes']:,.0f} "
              f"| {r['old_reads'] / r['new_reads']:,.1f}x | {r['new_check_reads']:.2f} "
              f"| {r['old_check_reads']:,.0f} |")
    first, last = rows[0], rows[-1]
    print(f"\nNEW reads per member-day, {last['size']} vs {first['size']} members: "
          f"{last['new_reads'] / first['new_reads']:.2f}x "
          f"(background only: {last['new_background_reads'] / first['new_background_reads']:.2f}x)")
    # projection: per-member figures of the largest measured team; the views' reads grow
    # with the team (each member's report reads the cells the team changed), scaled here
    print("\nprojected Firestore bill per month (regional list price, before the free tier)")
    print("NEW: the agent's background work alone, and with one `report` a day per member")
    print("(a report reads the cells the whole team changed since the member's last view)\n")
    print("| members | OLD | NEW background | NEW + a report a day | OLD/NEW (with reports) |")
    print("|---:|---:|---:|---:|---:|")
    for m in (5, 20, 50, 500):
        base = min(rows, key=lambda r: abs(r["size"] - m))
        view = base["view_reads"] * m / base["size"]
        old_check = (1 + max(1, math.ceil(15 * args.calls_per_day * m / 1000))
                     + max(1, math.ceil(args.calls_per_day // 2 * m / 1000)))
        old_r = old_check * DAY_MINUTES + args.calls_per_day * m
        bg = bill(base["new_background_reads"], base["new_writes"], m)
        with_views = bill(base["new_background_reads"] + view, base["new_writes"], m)
        old_b = bill(old_r, base["old_writes"], m)
        print(f"| {m} | ${old_b:,.2f} | ${bg:,.2f} | ${with_views:,.2f} "
              f"| {old_b / with_views:,.0f}x |")
    for r in rows:
        print(f"\n(size {r['size']}: {r['commits']:,} push commits in the simulated minutes, "
              f"{r['push_s']:.1f}s; NEW check = {r['new_check_agg']:.2f} aggregation reads "
              f"+ budget document every 10 min; OLD check = budget document + "
              f"{r['old_agg_queries_per_check']} aggregations over the calls)")


if __name__ == "__main__":
    main()
