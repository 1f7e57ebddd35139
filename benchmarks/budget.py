"""Benchmark: `budget check` against N pushed calls vs the naive approach, and the guard.

    .venv/bin/python benchmarks/budget.py [--n 100000] [--repeat 5] [--guard-calls 100000]

Pushes N calls of one team into the current month (Firestore emulator: FIRESTORE_EMULATOR_HOST
or the gcloud emulator started here), then times:
- teamcost's check: server-side count() + sum(cost_nanos) over the period, plus the local
  ledger's unpushed calls; documents read = Firestore's billing of an aggregation
  (1 read per 1,000 index entries, at least 1);
- naive: stream every call document of the period and sum cost_nanos in Python (N reads);
- the guard with a warm snapshot (p50/p99 per guarded call), next to a guard that asks
  Firestore on every call (the naive guard).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teamcost.budget.check import check, set_team_budget  # noqa: E402
from teamcost.budget.guard import BudgetGuard  # noqa: E402
from benchmarks.emulated import emulated_team  # noqa: E402
from teamcost.ledger import Ledger  # noqa: E402
from teamcost.periods import period_bounds  # noqa: E402
from teamcost.sync.mapping import COLLECTION  # noqa: E402
from teamcost.sync.push import push  # noqa: E402
from tests.sync_support import make_calls  # noqa: E402


def naive_sum(client, team: str, start: datetime, end: datetime) -> tuple[int, int]:
    from google.cloud.firestore_v1.base_query import FieldFilter
    q = (client.collection(COLLECTION).where(filter=FieldFilter("team", "==", team))
         .where(filter=FieldFilter("ts", ">=", start)).where(filter=FieldFilter("ts", "<", end)))
    n = s = 0
    for snap in q.stream():
        n += 1
        s += snap.get("cost_nanos")
    return n, s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--guard-calls", type=int, default=100_000)
    args = ap.parse_args()

    with emulated_team() as (client, cfg, work):
        now = datetime.now(timezone.utc)
        start, end = period_bounds(now, "month")
        span = (now - start) / args.n
        ledger = Ledger.for_config(cfg)
        calls = [replace(c, ts=start + span * i)
                 for i, c in enumerate(make_calls(args.n, cfg.member, ledger.ledger_id))]
        ledger.record_many(calls)
        t = time.perf_counter()
        push(cfg, ledger, client)
        print(f"pushed {args.n:,} calls in {time.perf_counter() - t:.1f}s")
        ledger.close()
        expected = sum(c.cost_nanos for c in calls)
        set_team_budget(cfg, 10 * math.ceil(expected / 1e9) + 1, "month", client=client)

        fast, slow = [], []
        check(cfg, client=client, alerts=False)     # warm the emulator's JIT and the channel
        for _ in range(args.repeat):
            t = time.perf_counter()
            st = check(cfg, client=client, alerts=False)
            fast.append(time.perf_counter() - t)
            assert st.spent_nanos == expected, (st.spent_nanos, expected)
        for _ in range(2):
            t = time.perf_counter()
            n, s = naive_sum(client, "core", start, end)
            slow.append(time.perf_counter() - t)
            assert (n, s) == (args.n, expected)
        f, sl = statistics.median(fast), statistics.median(slow)
        agg_reads = max(1, math.ceil(args.n / 1000))
        print(f"budget check (aggregation): median {f * 1000:.1f} ms (min {min(fast) * 1000:.1f}), "
              f"~{agg_reads:,} billed reads (+1 budget document)")
        print(f"naive (stream and sum):     median {sl * 1000:.1f} ms, {args.n:,} reads")
        print(f"speed-up: {sl / f:.0f}x faster, {args.n / agg_reads:.0f}x fewer reads")

        guard = BudgetGuard(cfg, client=client, ttl_s=3600)
        guard.check(0)                          # warm
        times = []
        pc = time.perf_counter_ns
        for _ in range(args.guard_calls):
            t0 = pc()
            guard.check(1000)
            times.append(pc() - t0)
        times.sort()
        p50, p99 = times[len(times) // 2] / 1000, times[int(len(times) * 0.99)] / 1000
        naive_guard = BudgetGuard(cfg, client=client, ttl_s=0)   # asks Firestore every call
        nt = []
        for _ in range(20):
            t0 = pc()
            naive_guard.check(1000)
            nt.append(pc() - t0)
        np50 = statistics.median(nt) / 1000
        print(f"guard, warm snapshot: p50 {p50:.2f} µs, p99 {p99:.2f} µs per guarded call "
              f"({args.guard_calls:,} calls)")
        print(f"naive guard (fresh check each call): p50 {np50 / 1000:.1f} ms; "
              f"ratio {np50 / p50:,.0f}x")


if __name__ == "__main__":
    main()
