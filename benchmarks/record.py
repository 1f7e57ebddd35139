"""How fast is recording one call? teamcost's ledger vs a naive SQLite insert-and-commit.

Measures, in one run and on files in the same directory:
  * ``Ledger.record(rec)``  -- append one already-built call (WAL, synchronous=NORMAL)
  * ``Tracker.record(...)`` -- the whole public path: validate, price, build, append
  * naive                   -- one connection in SQLite's default rollback-journal mode,
                               ``INSERT`` + ``COMMIT`` per call into the same table
Prints calls/s and the p50/p99 latency of one call, and the ratios against naive.
Target (issue 2): p50 under 100 us with WAL, and at least 5x the naive figure.

    .venv/bin/python benchmarks/record.py            # default sizes
    .venv/bin/python benchmarks/record.py --n 500    # a quick check
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teamcost.config import Config  # noqa: E402
from teamcost.ledger import (  # noqa: E402
    CALL_COLUMNS,
    CALL_COLUMNS_SQL,
    CALL_PLACEHOLDERS,
    Ledger,
    record_to_row,
)
from teamcost.models import CallRecord  # noqa: E402
from teamcost.tracker import Tracker  # noqa: E402


def percentile(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile, in microseconds."""
    k = max(0, min(len(sorted_ns) - 1, int(round(q * len(sorted_ns) + 0.5)) - 1))
    return sorted_ns[k] / 1000


def summarise(name: str, lat_ns: list[int], wall_s: float) -> dict[str, float]:
    lat = sorted(lat_ns)
    out = {"n": len(lat), "calls_s": len(lat) / wall_s, "p50": percentile(lat, 0.50),
           "p99": percentile(lat, 0.99), "mean": statistics.fmean(lat) / 1000}
    print(f"{name:<34} {out['n']:>7,} calls  {out['calls_s']:>10,.0f} calls/s  "
          f"p50 {out['p50']:>8.1f} us  p99 {out['p99']:>8.1f} us  mean {out['mean']:>8.1f} us")
    return out


def make_records(n: int, ledger_id: str) -> list[CallRecord]:
    ts = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    return [CallRecord(call_id=f"bench-{i}", ts=ts, team="core", member="ann@example.com",
                       ledger_id=ledger_id, provider="openai", model="gpt-4o",
                       input_tokens=1000 + i, output_tokens=500, cost_nanos=7_500_000 + i,
                       price_source="bench", session_id="s-1", agent="Planner",
                       tags={"env": "bench"})
            for i in range(n)]


def bench_ledger(path: Path, recs: list[CallRecord]) -> list[int]:
    lat: list[int] = []
    with Ledger(path) as lg:
        clock = time.perf_counter_ns
        for rec in recs:
            t0 = clock()
            lg.record(rec)
            lat.append(clock() - t0)
        assert lg.status().calls == len(recs)
    return lat


def bench_tracker(home: Path, n: int) -> list[int]:
    cfg = Config(home=home, team="core", member="ann@example.com")
    lat: list[int] = []
    with Ledger(home / "tracker.db") as lg:
        tracker = Tracker(cfg, lg)
        tracker.record("gpt-4o", 1, 1)  # warm the price cache, as any process would be
        clock = time.perf_counter_ns
        with tracker.session("s-1"), tracker.agent("Planner"):
            for i in range(n):
                t0 = clock()
                tracker.record("gpt-4o", 1000 + i, 500, cache_read_tokens=200)
                lat.append(clock() - t0)
        assert lg.status().calls == n + 1
    return lat


def bench_naive(path: Path, recs: list[CallRecord]) -> list[int]:
    """The obvious way: default journal (DELETE, synchronous=FULL), commit each insert."""
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                 f"{CALL_COLUMNS_SQL}, recorded_at INTEGER NOT NULL, pushed_at INTEGER)")
    conn.commit()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    sql = f"INSERT INTO calls ({CALL_COLUMNS}, recorded_at) VALUES ({CALL_PLACEHOLDERS}, ?)"
    lat: list[int] = []
    clock = time.perf_counter_ns
    for rec in recs:
        t0 = clock()
        conn.execute(sql, (*record_to_row(rec), time.time_ns() // 1000))
        conn.commit()
        lat.append(clock() - t0)
    assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == len(recs)
    conn.close()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="calls per teamcost measurement")
    ap.add_argument("--naive-n", type=int, default=None,
                    help="calls for the naive baseline (default: min(n, 2000); each fsyncs)")
    ap.add_argument("--dir", type=Path, default=None,
                    help="directory for the database files (default: a temp dir)")
    args = ap.parse_args()
    naive_n = args.naive_n or min(args.n, 2000)

    with tempfile.TemporaryDirectory(prefix="teamcost-bench-", dir=args.dir) as tmp:
        d = Path(tmp)
        print(f"sqlite {sqlite3.sqlite_version}, files in {d}")
        recs = make_records(args.n, "bench-ledger")
        t = time.perf_counter()
        lat_ledger = bench_ledger(d / "ledger.db", recs)
        led = summarise("Ledger.record (WAL)", lat_ledger, time.perf_counter() - t)
        t = time.perf_counter()
        lat_tracker = bench_tracker(d, args.n)
        trk = summarise("Tracker.record (price+build+WAL)", lat_tracker, time.perf_counter() - t)
        t = time.perf_counter()
        lat_naive = bench_naive(d / "naive.db", recs[:naive_n])
        naive = summarise("naive insert+commit (rollback)", lat_naive, time.perf_counter() - t)

    print()
    for name, r in (("Ledger.record", led), ("Tracker.record", trk)):
        print(f"{name:<15} vs naive: {r['calls_s'] / naive['calls_s']:6.1f}x calls/s, "
              f"{naive['p50'] / r['p50']:6.1f}x lower p50, {naive['p99'] / r['p99']:6.1f}x lower p99")
    ok_p50 = led["p50"] < 100 and trk["p50"] < 100
    ok_ratio = led["calls_s"] >= 5 * naive["calls_s"] and trk["calls_s"] >= 5 * naive["calls_s"]
    print(f"target p50 < 100 us: {'met' if ok_p50 else 'MISSED'}; "
          f">= 5x naive: {'met' if ok_ratio else 'MISSED'}")


if __name__ == "__main__":
    main()
