"""Benchmark: teamcost's own Firestore bill per member, at team sizes, three designs.

    .venv/bin/python benchmarks/org_scale.py [--sizes 5,20,50] [--calls-per-day 1100]
    .venv/bin/python benchmarks/org_scale.py --first-report

NEW (packs, this branch): agents push every 20 s and wait up to 10 s more for a pause in a
burst (teamcost/agent/cadence.py, the agent's own rule); an admin's agent packs the team's
rollups every 5 minutes; a member's report reads the packs since its last view and the
cells changed after the last pack. OLD (the rollups as first merged), measured in the same
run: pushes every 5 s, a report reads every cell the team changed since its last view.
PRE-ROLLUPS (the issue's baseline): every call pulled, two aggregations over the calls a
minute.

For each team size, members run in process against the emulator with compressed time:
each member records 15 active minutes of calls (a heavy Claude Code user: 33,000 calls a
month = 1,100 a day over 8 active hours). Arrivals are BURSTS (burst_calls: turns of
several calls a few seconds apart, then minutes of human time) for every figure; the
UNIFORM model (each call at an independent random time) is measured too, for writes,
which is what arrivals change. Pushes are the real `push`, at the times the agent's
cadence gives; the admin's packs are the real `pack_team`, in time order with the pushes;
the budget check is the real `check_with_today` (every minute, interleaved with the
pushes in time order; then ten idle minutes with nothing pushed); a report is the real
rollup refresh, by sampled members whose last view was the day before. Every Firestore
RPC is counted at the client: documents returned by queries and gets, writes in
successful commits, aggregation queries as billed (one read per 1,000 index entries
matched, at least one).

Scaling to a member-day: the simulated 15 minutes' pushes scale by 32 (8 active hours);
a day's checks are 480 active ones (the reads per check measured while the team pushes)
plus 960 idle ones (measured in ten minutes without pushes: the budget and plans documents
once, the rollup sum each minute; plan usage is read again only when pushed calls or the
plans changed). ``--plan-share``: the fraction of members holding a plan (default 0). A day's report (report_day): the packs of a day (a level-0 pack
every 5 minutes of 8 active hours, 96, whose headers and chunks are read; the chunks of
the day's level-1 pack instead when fewer) plus the cells changed after the last pack,
measured with the last pack half an interval before the report (the average wait); the
admin's packing runs 96 times a day. OLD's report reads every cell changed in the
simulated minutes, which touch (nearly) all of a member's cells of a day: not scaled.
PRE-ROLLUPS' aggregations are billed for the calls a team of that size has at mid-month
and mid-day rather than loaded into the emulator.

Prices: $0.03 per 100,000 reads, $0.09 per 100,000 writes (regional list price, before
the free tier).
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
    agg_call_reads: int = 0   # of agg_reads: aggregations over the call documents
    call_doc_reads: int = 0   # of reads: call documents returned by queries

    def reset(self) -> None:
        self.reads = self.writes = self.creates = self.agg_queries = self.agg_reads = 0
        self.agg_call_reads = self.call_doc_reads = 0

    def add(self, other: Counts) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


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
        req = k.get("request") if "request" in k else a[0]
        sq = req["structured_query"] if isinstance(req, dict) else req.structured_query
        calls = any(f.collection_id == "trinity_costs" for f in sq.from_)
        for r in real_query(*a, **k):
            if r.document and r.document.name:
                counts.reads += 1
                counts.call_doc_reads += calls
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
        if any(f.collection_id == "trinity_costs" for f in sq.from_):
            counts.agg_call_reads += billed
        return iter(out)

    def batch_get(*a: Any, **k: Any) -> Iterator[Any]:
        for r in real_get(*a, **k):
            if r.found and r.found.name:
                counts.reads += 1
            yield r

    api.commit, api.run_query = commit, run_query
    api.run_aggregation_query, api.batch_get_documents = run_aggregation_query, batch_get


def _call(cfg: Config, ledger_id: str, i: int, start: datetime, at: float, rng: random.Random,
          member_no: int, session: int, model: str, agent: str, branch: str) -> CallRecord:
    return CallRecord(
        call_id=f"{cfg.member.split('@')[0]}-{start:%Y%m%d%H}-{i}",
        ts=start + timedelta(seconds=at), team=cfg.team,
        member=cfg.member, ledger_id=ledger_id, provider="anthropic", model=model,
        input_tokens=rng.randrange(5000), output_tokens=rng.randrange(800),
        cache_read_tokens=rng.randrange(40000), cache_write_tokens=rng.randrange(2000),
        cost_nanos=rng.randrange(1, 40_000_000), price_source="bench",
        session_id=f"m{member_no}-s{session}", agent=agent,
        tags={"project": f"p{member_no % 3}", "repo": "org/app", "branch": branch,
              "ticket": f"T-{member_no % 5}"})


MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5")
AGENTS = ("main", "subagent")
BRANCHES = ("main", "feat")


def uniform_calls(cfg: Config, ledger_id: str, start: datetime, n: int,
                  rng: random.Random, member_no: int) -> list[CallRecord]:
    """UNIFORM arrivals: n calls at independent uniform times over the simulated minutes,
    each with random dimensions. Per member and day they fall in at most 16 cells (2
    sessions x 2 models x 2 agents x 2 branches; project, repo and ticket per member)."""
    out = [_call(cfg, ledger_id, i, start, rng.random() * SIM_MINUTES * 60, rng, member_no,
                 rng.randrange(2), rng.choice(MODELS), rng.choice(AGENTS),
                 rng.choice(BRANCHES)) for i in range(n)]
    return sorted(out, key=lambda r: r.ts)


# BURSTS: how Claude Code's calls arrive. A turn is several calls a few seconds apart (the
# model answers, a tool runs, the model answers again): 1 + a geometric number of calls
# (mean 8, at most 30), 2 to 15 s apart, in one session and branch, mostly the main model
# and agent (a haiku call or a subagent now and then). Then a human reads and types: an
# exponential pause of mean HUMAN_GAP_S. Calibrated to 1,100 calls per 8 active hours:
# a turn takes 8 x 8.5 s = 68 s on average, so a turn every 209 s.
TURN_MEAN_CALLS = 8
TURN_GAP_S = (2.0, 15.0)
HUMAN_GAP_S = 141.0


def burst_calls(cfg: Config, ledger_id: str, start: datetime, n: int,
                rng: random.Random, member_no: int) -> list[CallRecord]:
    """BURSTS arrivals (above), scaled so the simulated minutes hold about n calls."""
    span = SIM_MINUTES * 60
    gap_scale = (n and 34.4 / n) or 1.0      # 34.4 calls per 15 min = 1,100 a day
    out: list[CallRecord] = []
    t = rng.random() * HUMAN_GAP_S * gap_scale
    while t < span:
        k = 1
        while k < 30 and rng.random() > 1 / TURN_MEAN_CALLS:
            k += 1
        session, branch = rng.randrange(2), rng.choice(BRANCHES)
        for _ in range(k):
            if t >= span:
                break
            out.append(_call(cfg, ledger_id, len(out), start, t, rng, member_no, session,
                             MODELS[rng.random() < 0.2], AGENTS[rng.random() < 0.3], branch))
            t += rng.uniform(*TURN_GAP_S)
        t += rng.expovariate(1 / (HUMAN_GAP_S * gap_scale))
    return out


ARRIVALS = {"bursts": burst_calls, "uniform": uniform_calls}


def no_packs(*_: Any, **__: Any) -> int:
    """rollup_packs.read_packs for a reader that does not use packs (OLD): reads nothing."""
    return 0


def push_plan(calls: list[CallRecord], start: datetime, every: float,
              settle: float) -> list[tuple[float, list[CallRecord]]]:
    """When the agent pushes these calls (teamcost.agent.cadence, the agent's own rule)."""
    from teamcost.agent.cadence import simulate
    at = [(c.ts - start).total_seconds() for c in calls]
    return [(t, [calls[i] for i in idx]) for t, idx in simulate(at, every, settle)]


def push_writes(size: int, calls_per_day: int, arrivals: str, every: float, settle: float,
                suffix: str) -> dict[str, float]:
    """Writes per member-day of a team whose agents push at (every, settle): the real push
    of every planned commit, counted at the client."""
    from teamcost.budget.store import CHECK_BACKOFF
    from teamcost.ledger import Ledger
    from teamcost.sync.migrate import build_rollups
    from teamcost.sync.push import push

    rng = random.Random(size)
    hour = datetime(2026, 11, 16, 10, tzinfo=UTC)
    with emulated_team(project_suffix=suffix) as (client, lead, work):
        counts = Counts()
        count_rpcs(client, counts)
        build_rollups(client, lead.team, CHECK_BACKOFF)
        counts.reset()
        commits = 0
        for m in range(size):
            cfg = Config(home=work / f"m{m}", team=lead.team, member=f"m{m}@example.com",
                         project=lead.project)
            cfg.home.mkdir(parents=True)
            ledger = Ledger.for_config(cfg)
            calls = ARRIVALS[arrivals](cfg, ledger.ledger_id, hour, calls_per_day // SCALE,
                                       rng, m)
            for _, part in push_plan(calls, hour, every, settle):
                ledger.record_many(part)
                push(cfg, ledger, client, in_flight=1)
                commits += 1
            ledger.close()
        return {"writes": counts.writes * SCALE / size, "creates": counts.creates * SCALE / size,
                "commits": commits * SCALE / size}


CHECK = "check"     # an event: the member's agent checks the budget


def run_team(size: int, calls_per_day: int, samples: int, every: float, settle: float,
             pack_every_s: float, plan_share: float = 0.0) -> dict[str, float]:
    """The NEW design measured whole (BURSTS arrivals): pushes at (every, settle), budget
    checks, an admin packing every pack_every_s, readers' daily reports (packs + the cells
    after the last pack); and, on the same data, what a reader without packs reads (the
    rollups as first merged) and the pre-rollups design's pulls and aggregations."""
    from teamcost.budget.check import check_with_today, set_team_budget
    from teamcost.budget.spend import calls_spend
    from teamcost.budget.store import CHECK_BACKOFF, get_budget
    from teamcost.ledger import Ledger
    from teamcost.sync import rollup_packs
    from teamcost.sync.cache import TeamCache
    from teamcost.sync.migrate import build_rollups
    from teamcost.sync.pull import pull
    from teamcost.sync.push import push
    from teamcost.sync.rollup_admin import pack_team
    from teamcost.sync.rollup_cache import RollupCache, refresh

    rng = random.Random(size)
    per_sim = calls_per_day // SCALE
    hour = datetime(2026, 11, 16, 10, tzinfo=UTC)
    # the readers' last view was a day ago: they look packs up (in real time they would)
    rollup_packs.LOOKUP_AFTER = timedelta(0)
    with emulated_team(project_suffix=f"n{size}") as (client, lead, work):
        counts = Counts()
        count_rpcs(client, counts)
        set_team_budget(lead, "100000", "month", client=client)
        build_rollups(client, lead.team, CHECK_BACKOFF)       # a new team: complete at once
        holders = round(plan_share * size)
        if holders:     # the first members hold a plan covering their (anthropic) calls
            from teamcost.plans.model import Cover, Plan, Plans, Seat
            from teamcost.plans.store import put_plans
            plan = Plan("Max", 200_000_000_000, (Cover(provider="anthropic"),))
            put_plans(client, Plans(lead.team, {"Max": plan}, tuple(
                Seat(f"m{m}@example.com", "Max", datetime(2026, 11, 1, tzinfo=UTC))
                for m in range(holders))))
        members = []
        for m in range(size):
            cfg = Config(home=work / f"m{m}", team=lead.team, member=f"m{m}@example.com",
                         project=lead.project)
            cfg.home.mkdir(parents=True)
            ledger = Ledger.for_config(cfg)
            members.append((cfg, ledger, burst_calls(cfg, ledger.ledger_id, hour, per_sim,
                                                     rng, m)))
        # yesterday: one call each, packed by the admin and seen by the readers
        for cfg, ledger, calls in members:
            ledger.record(dataclasses.replace(calls[0], call_id=calls[0].call_id + "-y",
                                              ts=hour - timedelta(days=1)))
            push(cfg, ledger, client, in_flight=1)
        admin = RollupCache(work / "admin" / "rollups.sqlite")
        pack_team(client, admin, lead.team, CHECK_BACKOFF)
        readers = [RollupCache(work / f"reader{i}" / "rollups.sqlite") for i in range(samples)]
        flat = [RollupCache(work / f"flat{i}" / "rollups.sqlite") for i in range(samples)]
        for c in readers:
            refresh(client, c, lead.team, CHECK_BACKOFF)
        real_read_packs = rollup_packs.read_packs
        rollup_packs.read_packs = no_packs
        for c in flat:
            refresh(client, c, lead.team, CHECK_BACKOFF)
        rollup_packs.read_packs = real_read_packs
        # the agents ran before the active minutes: their first check (the budget and plans
        # documents, the plan usage of the period so far) is not the active minutes'
        for cfg, ledger, _ in members:
            check_with_today(cfg, client, ledger, hour - timedelta(minutes=1))
        # -- the day's 15 active minutes, in time order: pushes, the admin's packs, and
        # every agent's budget check each minute (+ one just after: the last pushes) --
        events: list[tuple[float, int, Any]] = []
        for m, (_, _, calls) in enumerate(members):
            for t, part in push_plan(calls, hour, every, settle):
                events.append((t, m, part))
            for k in range(1, SIM_MINUTES + 2):
                events.append((60.0 * k, m, CHECK))
        # the admin's packs, the last one half an interval before the report at the end:
        # the cells changed after it are what a report at a random moment reads on average
        at = SIM_MINUTES * 60 - pack_every_s / 2
        while at > 0:
            events.append((at, -1, None))
            at -= pack_every_s
        events.sort(key=lambda e: (e[0], e[1]))
        counts.reset()
        push_s = 0.0
        commits = 0
        push_counts = Counts()
        pack_counts = Counts()
        active = Counts()
        active_checks = 0
        packs: list[dict[str, int]] = []
        for at, m, part in events:
            counts.reset()
            if part is CHECK:
                cfg, ledger, _ = members[m]
                check_with_today(cfg, client, ledger, hour + timedelta(seconds=at))
                active.add(counts)
                active_checks += 1
            elif m < 0:
                res = pack_team(client, admin, lead.team, CHECK_BACKOFF)
                packs += res.written
                pack_counts.reads += counts.reads
                pack_counts.writes += counts.writes
            else:
                cfg, ledger, _ = members[m]
                ledger.record_many(part)
                t0 = time.perf_counter()
                push(cfg, ledger, client, in_flight=1)
                push_s += time.perf_counter() - t0
                commits += 1
                push_counts.reads += counts.reads
                push_counts.writes += counts.writes
                push_counts.creates += counts.creates

        new_writes_day = push_counts.writes * SCALE / size
        old_writes_day = push_counts.creates * SCALE / size
        push_reads_day = push_counts.reads * SCALE / size
        # -- the day's report: packs since yesterday + the cells after the last pack --
        from teamcost.sync.rollup_packs import to_us
        level0 = [p for p in packs if p["level"] == 0]
        last_end = max((p["end"] for p in packs), default=0)
        pack_bytes = (sum(len(rollup_packs.encode(admin.updated_after(lead.team, p["start"])))
                          for p in level0) / len(level0)) if level0 else 0.0
        counts.reset()
        for c in readers:
            refresh(client, c, lead.team, CHECK_BACKOFF)
        report_reads = counts.reads / samples
        # the cells changed after the last pack: what the refresh read one by one
        tail = len(readers[0].updated_after(lead.team, last_end))
        assert all(to_us(c.watermark(lead.team)) >= last_end for c in readers)
        counts.reset()
        real_read_packs = rollup_packs.read_packs
        rollup_packs.read_packs = no_packs                    # a reader without packs
        for c in flat:
            refresh(client, c, lead.team, CHECK_BACKOFF)
        rollup_packs.read_packs = real_read_packs
        flat_reads = counts.reads / samples
        # the report's numbers from packs equal those without: the copies are the same
        assert all(sorted(r.updated_after(lead.team, None)) == sorted(
            f.updated_after(lead.team, None)) for r, f in zip(readers, flat, strict=True))
        for c in (admin, *readers, *flat):
            c.close()
        # -- the agent's idle minute (NEW): nothing pushed since the last check --
        checks = 0
        counts.reset()
        for cfg, ledger, _ in members:
            for k in range(10):  # ten minutes: the budget document once, the sums each minute
                check_with_today(cfg, client, ledger, hour + timedelta(minutes=61 + k))
                checks += 1
        idle_check_reads = counts.reads / checks
        idle_plan = (counts.agg_call_reads + counts.call_doc_reads) / checks
        active_check_reads = active.reads / active_checks
        active_plan = (active.agg_call_reads + active.call_doc_reads) / active_checks
        # a member-day: checks in 8 active hours (pushes happening) and 16 idle ones
        idle_minutes = DAY_MINUTES - ACTIVE_HOURS * 60
        check_reads_day = (active_check_reads * ACTIVE_HOURS * 60
                           + idle_check_reads * idle_minutes)
        new_check_agg = (active.agg_reads / active_checks * ACTIVE_HOURS * 60
                         + counts.agg_reads / checks * idle_minutes) / DAY_MINUTES
        # issue 29's plan-usage split (budget/billing.py): the aggregations and streams over
        # the calls it makes (only when the period's pushed calls or the plans changed)
        plan_usage_reads_day = active_plan * ACTIVE_HOURS * 60 + idle_plan * idle_minutes
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
        counts.reset()
        for cfg, _, _ in members[:samples]:       # OLD: the agent's pulls of every call
            with TeamCache.for_config(cfg) as cache:
                pull(cfg, client, cache)
        pull_reads_day = counts.reads * SCALE / samples
        for _, ledger, _ in members:
            ledger.close()
        bg = push_reads_day + check_reads_day
        runs = max(1, len([e for e in events if e[1] < 0]))
        return {"size": size, "new_background_reads": bg, "new_writes": new_writes_day,
                "report_sim": report_reads, "flat_report": flat_reads, "tail": tail,
                "pack_reads_run": pack_counts.reads / runs,
                "pack_writes_run": pack_counts.writes / runs,
                "pack_bytes": pack_bytes, "old_reads": old_check_reads * DAY_MINUTES
                + pull_reads_day, "old_writes": old_writes_day,
                "active_check_reads": active_check_reads,
                "idle_check_reads": idle_check_reads, "active_plan": active_plan,
                "idle_plan": idle_plan, "new_check_agg": new_check_agg,
                "plan_usage_reads_day": plan_usage_reads_day, "holders": holders,
                "old_check_reads": old_check_reads, "old_agg_queries_per_check": q_per_check,
                "commits": commits * SCALE / size, "push_s": push_s}


def first_report(members: int, calls_per_day: int, days: int = 30) -> dict[str, Any]:
    """A new member's first `report --since 30d` of a team with members x calls_per_day x
    days calls: its rollup cells are written directly (as pushes would have left them),
    then the report runs from an empty machine, its reads counted and its time taken."""
    from google.cloud import firestore

    from teamcost.periods import parse_window
    from teamcost.reports.report import build_report
    from teamcost.sync import rollup_packs
    from teamcost.sync.rollup_admin import pack
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
        # the admin's agent has packed the team (its first pack: every cell)
        admin = Config(home=work / "admin", team=lead.team, member="boss@example.com",
                       project=lead.project)
        admin.home.mkdir(parents=True)
        packed = pack(admin, client)
        n_packs = sum(w["chunks"] for w in packed.written)
        out: dict[str, Any] = {"calls": calls, "docs": n_docs, "packs": n_packs}
        real_read_packs = rollup_packs.read_packs
        for name, use_packs in (("flat_", False), ("", True)):
            # "flat_": a reader without packs (as when no admin packs), on the same data
            rollup_packs.read_packs = real_read_packs if use_packs else no_packs
            newcomer = Config(home=work / f"new{name}", team=lead.team,
                              member="new@example.com", project=lead.project)
            newcomer.home.mkdir(parents=True)
            counts.reset()
            t = time.perf_counter()
            doc = build_report(newcomer, parse_window("30d", None, end, "UTC"), now=end,
                               budget=False, client=client)
            out[f"{name}seconds"] = time.perf_counter() - t
            out[f"{name}reads"] = counts.reads
            assert doc["summary"]["calls"] == calls, (doc["summary"]["calls"], calls)
        rollup_packs.read_packs = real_read_packs
        size = (newcomer.cache_file.with_name("rollups.sqlite")).stat().st_size
        return {**out, "mb": size / 1e6, "year_mb": size / 1e6 * 365 / days}


def bill(reads: float, writes: float, members: int) -> float:
    return (reads * READ_USD + writes * WRITE_USD) * members * 30


PACKS_A_DAY = ACTIVE_HOURS * 60 // 10      # the admin agent's level-0 packs in active hours (set in main)


def day_cell_bytes() -> float:
    """Bytes a pack takes per cell holding a whole active day (32 quarter-hours), encoded
    as packs are (synthetic values of the benchmark's ranges)."""
    import zlib
    from array import array

    from teamcost.sync.rollup_doc import CELL_DIMS
    from teamcost.sync.rollup_packs import encode
    rng = random.Random(3)
    rows = []
    for i in range(200):
        flat = array("q")
        for q in range(36, 68):
            n = rng.randrange(1, 4)
            flat.extend([q, n, n * rng.randrange(5000), n * rng.randrange(800),
                         n * rng.randrange(40000), n * rng.randrange(2000),
                         n * rng.randrange(1, 40_000_000), 0, 0, 0, 0])
        rows.append((f"{i:040x}", "core", f"m{i}@example.com", f"L{i}", "2026-11-16",
                     *[f"{d}-{i % 7}" for d in CELL_DIMS], zlib.compress(flat.tobytes(), 1),
                     1_700_000_000_000_000 + i))
    return len(encode(rows)) / len(rows)


def report_day(r: dict[str, float], m: int, cell_bytes: float) -> dict[str, float]:
    """A member's daily report at team size m, from the measured team r (per-member figures
    scaled by m): the pack headers since yesterday (every chunk of every pack ending after
    the reader's watermark), the chunks of the chain (at most: every level-0 pack of the
    day; the day's level-1 pack when fewer), and the cells changed since the last pack
    (half a pack interval on average: measured, per member, times m)."""
    from teamcost.sync.rollup_packs import CHUNK_BYTES
    c0 = max(1, math.ceil(r["pack_bytes"] / r["size"] * m / CHUNK_BYTES))
    c1 = max(1, math.ceil(16 * cell_bytes * m / CHUNK_BYTES))
    headers = PACKS_A_DAY * c0 + c1
    chunks = min(PACKS_A_DAY * c0, c1 + PACKS_A_DAY // 2 * c0)
    tail = r["tail"] / r["size"] * m
    return {"headers": headers, "chunks": chunks, "tail": tail,
            "total": headers + chunks + tail}


def admin_day(r: dict[str, float], m: int) -> tuple[float, float]:
    """The admin's packing, (reads, writes) per member-day: each run reads the cells the
    team changed since the last (measured per member, times m) and writes a chunk or two
    (more as the team grows: the measured pack bytes per member, times m)."""
    from teamcost.sync.rollup_packs import CHUNK_BYTES
    reads_run = r["pack_reads_run"] / r["size"] * m
    writes_run = max(r["pack_writes_run"],
                     math.ceil(r["pack_bytes"] / r["size"] * m / CHUNK_BYTES))
    return PACKS_A_DAY * reads_run / m, PACKS_A_DAY * writes_run / m


def main() -> None:
    from teamcost.agent.cadence import DEFAULT_EVERY_S
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5,20,50")
    ap.add_argument("--calls-per-day", type=int, default=1100)
    ap.add_argument("--samples", type=int, default=3, help="members sampled for views/pulls")
    ap.add_argument("--first-report", action="store_true",
                    help="only: a new member's first report --since 30d of a 1,000,000-call team")
    ap.add_argument("--push-every", type=float, default=DEFAULT_EVERY_S,
                    help="seconds between an agent's pushes (the agent's --push-every); the "
                         "settle is half of it, as in the agent")
    ap.add_argument("--plan-share", type=float, default=0.0,
                    help="fraction of members holding a plan that covers their calls")
    ap.add_argument("--pack-every", type=float, default=300.0,
                    help="seconds between the admin agent's packs (--pack-every)")
    args = ap.parse_args()
    import os

    from teamcost.emulator import start_emulator
    emu = None
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):    # one emulator for every team
        emu = start_emulator()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host
    every, settle = args.push_every, args.push_every / 2
    global PACKS_A_DAY
    PACKS_A_DAY = int(ACTIVE_HOURS * 3600 // args.pack_every)
    try:
        if args.first_report:
            r = first_report(30, args.calls_per_day)
            print(f"first `report --since 30d` on a new machine, team of 30 members, "
                  f"{r['calls']:,} calls in 30 days ({r['docs']:,} rollup cells, packed by "
                  f"the admin in {r['packs']} documents):\n"
                  f"  NEW (packs): {r['reads']:,} documents read (target <= 50,000), "
                  f"{r['seconds']:.1f}s (target < 10 s)\n"
                  f"  OLD (rollups without packs, same run): {r['flat_reads']:,} documents, "
                  f"{r['flat_seconds']:.1f}s; ratio OLD/NEW time "
                  f"{r['flat_seconds'] / r['seconds']:.1f}x\n"
                  f"  the copy on disk {r['mb']:.1f} MB, a year of such a team "
                  f"{r['year_mb']:.0f} MB (target < 200 MB); the pre-rollups design read "
                  f"every call: {r['calls']:,} documents")
            return
        sizes = [int(x) for x in args.sizes.split(",")]
        rows = []
        for n in sizes:
            r = run_team(n, args.calls_per_day, args.samples, every, settle, args.pack_every,
                         args.plan_share)
            r["v1_writes"] = push_writes(n, args.calls_per_day, "bursts", PUSH_EVERY_S, 0.0,
                                         f"v1b{n}")["writes"]
            uni_new = push_writes(n, args.calls_per_day, "uniform", every, settle, f"nu{n}")
            uni_v1 = push_writes(n, args.calls_per_day, "uniform", PUSH_EVERY_S, 0.0, f"v1u{n}")
            r["uniform_writes"], r["uniform_v1_writes"] = uni_new["writes"], uni_v1["writes"]
            r["uniform_commits"], r["uniform_v1_commits"] = uni_new["commits"], uni_v1["commits"]
            rows.append(r)
    finally:
        if emu is not None:
            emu.stop()
            del os.environ["FIRESTORE_EMULATOR_HOST"]
    cell_bytes = day_cell_bytes()
    print(f"\nper member-day ({args.calls_per_day:,} calls a day in BURSTS, budget check every "
          f"minute, one `report` a day)\nNEW: push every {every:g} s, waiting up to {settle:g} s "
          f"for a pause; an admin packs every {args.pack_every / 60:g} min; a report reads "
          f"the packs since yesterday + the cells after the last pack\nOLD: the rollups as "
          f"first merged (push every {PUSH_EVERY_S} s, a report reads every cell the team "
          f"changed since yesterday)\n")
    print("| members | NEW reads | background | of which plan usage | report | admin packing "
          "| NEW writes | OLD reads | OLD report | OLD writes | writes OLD/NEW "
          "| reads OLD/NEW |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        m = r["size"]
        rep = report_day(r, m, cell_bytes)["total"]
        adm_reads, adm_writes = admin_day(r, m)
        r["new_reads"] = r["new_background_reads"] + rep + adm_reads
        r["all_writes"] = r["new_writes"] + adm_writes
        r["old_v1_reads"] = r["new_background_reads"] + r["flat_report"]
        print(f"| {m} | {r['new_reads']:,.0f} | {r['new_background_reads']:,.0f} "
              f"| {r['plan_usage_reads_day']:,.0f} | {rep:,.0f} "
              f"| {adm_reads:,.0f} | {r['all_writes']:,.0f} | {r['old_v1_reads']:,.0f} "
              f"| {r['flat_report']:,.0f} | {r['v1_writes']:,.0f} "
              f"| {r['v1_writes'] / r['all_writes']:.2f}x "
              f"| {r['old_v1_reads'] / r['new_reads']:.2f}x |")
    print("\nUNIFORM arrivals (each call at an independent random time), writes per member-day:\n")
    print("| members | NEW writes | NEW commits | OLD writes | OLD commits |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']} | {r['uniform_writes']:,.0f} | {r['uniform_commits']:,.0f} "
              f"| {r['uniform_v1_writes']:,.0f} | {r['uniform_v1_commits']:,.0f} |")
    first, last = rows[0], rows[-1]
    print(f"\nNEW reads per member-day, {last['size']} vs {first['size']} members: "
          f"{last['new_reads'] / first['new_reads']:.2f}x (OLD: "
          f"{last['old_v1_reads'] / first['old_v1_reads']:.2f}x)")
    for r in rows:
        print(f"(size {r['size']}: in the simulated 15 minutes a report read "
              f"{r['report_sim']:.0f} documents with packs, {r['flat_report']:.0f} without; "
              f"{r['tail']} cells changed after the last pack; a level-0 pack "
              f"{r['pack_bytes'] / 1000:.1f} kB; {r['commits']:,.0f} commits a member-day, "
              f"pushes {r['push_s']:.1f}s; {r['holders']} members with a plan; a check reads "
              f"{r['active_check_reads']:.2f} documents while the team pushes (plan usage "
              f"{r['active_plan']:.2f}), {r['idle_check_reads']:.2f} idle (plan usage "
              f"{r['idle_plan']:.2f}); {r['new_check_agg']:.2f} aggregation reads a check "
              f"over the day)")
    big = rows[-1]
    print(f"\nprojected Firestore bill per month (regional list price, before the free tier), "
          f"with one `report` a day per member.\nMeasured at {', '.join(str(x) for x in sizes)}; "
          f"500 is projected from the {big['size']}-member run: its per-member background "
          f"reads and writes (flat in team size, the table above), a report as `report_day`: "
          f"{PACKS_A_DAY} level-0 packs a day whose bytes, like the cells changed after the "
          f"last pack, are the measured per-member figures times 500; the admin's packing "
          f"likewise. OLD's report reads every cell the team changed: measured per member "
          f"times 500. PRE-ROLLUPS: every call pulled, two aggregations a minute.\n")
    print("| members | PRE-ROLLUPS | OLD (rollups v1) | NEW | OLD/NEW | NEW report reads "
          "| NEW without plan-usage sums |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for m in (5, 20, 50, 500):
        base = min(rows, key=lambda r: abs(r["size"] - m))
        rep = report_day(base, m, cell_bytes)
        adm_reads, adm_writes = admin_day(base, m)
        new_b = bill(base["new_background_reads"] + rep["total"] + adm_reads,
                     base["new_writes"] + adm_writes, m)
        v1_b = bill(base["new_background_reads"] + base["flat_report"] / base["size"] * m,
                    base["v1_writes"], m)
        old_check = (1 + max(1, math.ceil(15 * args.calls_per_day * m / 1000))
                     + max(1, math.ceil(args.calls_per_day // 2 * m / 1000)))
        old_r = old_check * DAY_MINUTES + args.calls_per_day * m
        old_b = bill(old_r, base["old_writes"], m)
        no_plan = new_b - bill(base["plan_usage_reads_day"], 0, m)
        print(f"| {m} | ${old_b:,.2f} | ${v1_b:,.2f} | ${new_b:,.2f} | {v1_b / new_b:.1f}x "
              f"| {rep['total']:,.0f} ({rep['headers']:,.0f} headers + {rep['chunks']:,.0f} "
              f"chunks + {rep['tail']:,.0f} cells) | ${no_plan:,.2f} |")
    print("\n(plan usage: budget/billing.split sums the calls marked as plan usage, counts "
          "each plan holder's calls and streams those whose count changed, only when the "
          "period's pushed calls or the plans changed: in active minutes, not idle ones; "
          "the last column is the bill without it)")


if __name__ == "__main__":
    main()
