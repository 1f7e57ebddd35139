"""Benchmark: push N calls to the Firestore emulator with teamcost vs a naive set() loop;
then a full pull of N calls and an incremental pull of 1,000 new ones.

    .venv/bin/python benchmarks/sync.py [--n 20000] [--naive-n 2000] [--new 1000]

Uses FIRESTORE_EMULATOR_HOST if set, else starts the gcloud emulator. The naive loop
(one document per request: `doc.set(data)`) runs on --naive-n calls and is reported
as calls per second, since at its speed 20,000 calls would take minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.emulated import emulated_team  # noqa: E402
from teamcost.ledger import Ledger  # noqa: E402
from teamcost.sync.cache import TeamCache  # noqa: E402
from teamcost.sync.mapping import COLLECTION, record_to_doc  # noqa: E402
from teamcost.sync.pull import OVERLAP_S, pull  # noqa: E402
from teamcost.sync.push import push  # noqa: E402
from tests.sync_support import make_calls, server_totals  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--naive-n", type=int, default=2_000)
    ap.add_argument("--new", type=int, default=1_000)
    args = ap.parse_args()

    from google.cloud import firestore
    with emulated_team() as (client, cfg, work):
        ledger = Ledger.for_config(cfg)
        calls = make_calls(args.n, cfg.member, ledger.ledger_id)
        ledger.record_many(calls)

        # naive: one set() per call, on its own team so the totals below stay separate
        naive = make_calls(args.naive_n, "naive@example.com", "naive", team="naive", seed=5)
        col = client.collection(COLLECTION)
        t = time.perf_counter()
        for rec in naive:
            col.document(rec.call_id).set({**record_to_doc(rec),
                                           "pushed_at": firestore.SERVER_TIMESTAMP})
        naive_s = time.perf_counter() - t
        naive_rate = args.naive_n / naive_s

        t = time.perf_counter()
        result = push(cfg, ledger, client)
        push_s = time.perf_counter() - t
        rate = args.n / push_s
        n_docs, total = server_totals(client, "core")
        assert (n_docs, total) == (args.n, sum(c.cost_nanos for c in calls)), "totals differ"
        assert result.pushed == args.n

        time.sleep(OVERLAP_S + 0.2)
        cache = TeamCache(work / "cache.db")
        t = time.perf_counter()
        full = pull(cfg, client, cache)
        full_s = time.perf_counter() - t

        fresh = make_calls(args.new, cfg.member, ledger.ledger_id, seed=99)
        ledger.record_many(fresh)
        push(cfg, ledger, client)
        t = time.perf_counter()
        inc = pull(cfg, client, cache)
        inc_s = time.perf_counter() - t
        assert cache.totals("core") == server_totals(client, "core")

        print(f"push   teamcost: {args.n:,} calls in {push_s:.2f}s = {rate:,.0f} calls/s "
              f"({result.batches} batches of <=500)")
        print(f"push   naive set() loop: {args.naive_n:,} calls in {naive_s:.2f}s = "
              f"{naive_rate:,.0f} calls/s")
        print(f"push   ratio teamcost/naive: {rate / naive_rate:.1f}x (target >= 15x)")
        print(f"pull   full: {full.read:,} documents in {full_s:.2f}s "
              f"({full.read / full_s:,.0f} docs/s)")
        print(f"pull   incremental: {inc.read:,} documents read ({inc.new:,} new) in {inc_s:.2f}s")
        print(f"exact  server sum(cost_nanos) = cache sum = {total:,} nano-dollars")


if __name__ == "__main__":
    main()
