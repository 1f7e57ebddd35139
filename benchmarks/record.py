"""How fast is recording one call? teamcost's ledger vs a naive SQLite insert-and-commit.

Measures, in one run and on files in the same directory:
  * ``Ledger.record(rec)``  -- append one already-built call (WAL, synchronous=NORMAL)
  * ``Tracker.record(...)`` -- the whole public path: validate, price, build, append
  * naive                   -- one connection in SQLite's default rollback-journal mode,
                               ``INSERT`` + ``COMMIT`` per call into the same table
Prints calls/s and the p50/p99 latency of one call, and the ratios against naive.
Target (issue 2): p50 under 100 us with WAL, and at least 5x the naive figure.

With ``--baseline PATH`` (another checkout of teamcost) or ``--baseline-rev REV`` (a
``git worktree add`` of that revision, removed afterwards), ``Tracker.record`` is also timed
with that code, in subprocesses taking turns with this checkout's (same harness, same
working directory: a git repository, so this code's attribution reads its branch), and the
medians of their p50s are printed with the ratio. Target (issue 25): within 10%.

    .venv/bin/python benchmarks/record.py            # default sizes
    .venv/bin/python benchmarks/record.py --n 500    # a quick check
    .venv/bin/python benchmarks/record.py --baseline-rev main
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
# --code PATH: time the teamcost of another checkout (a baseline) with this harness
_CODE = sys.argv[sys.argv.index("--code") + 1] if "--code" in sys.argv[:-1] else str(HERE)
sys.path.insert(0, _CODE)

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


def tracker_run(code: Path, n: int, tmp: Path) -> dict[str, float]:
    """``Tracker.record``'s figures with the teamcost in ``code``, in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "TEAMCOST_ATTRIBUTION"}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--tracker-only",
                          "--code", str(code), "--n", str(n), "--dir", str(tmp)],
                         cwd=HERE, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"the run with {code} failed:\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def compare(baseline: Path, n: int, rounds: int, tmp: Path) -> None:
    """Alternate runs of the baseline's code and this checkout's; medians and the ratio."""
    got: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    for _ in range(rounds):
        got["baseline"].append(tracker_run(baseline, n, tmp))
        got["this"].append(tracker_run(HERE, n, tmp))
    print()
    print(f"Tracker.record, {rounds} alternating runs of {n:,} calls each (median of p50s)")
    med = {}
    for name, runs in got.items():
        med[name] = statistics.median(r["p50"] for r in runs)
        p99 = statistics.median(r["p99"] for r in runs)
        where = baseline if name == "baseline" else HERE
        each = ", ".join(f"{r['p50']:.1f}" for r in runs)
        print(f"  {name:<8} {str(where):<40} p50 {med[name]:7.1f} us  p99 {p99:7.1f} us  "
              f"(runs: {each})")
    if got["this"] and "tags" in got["this"][0]:
        print(f"  this checkout's calls carried: {got['this'][0]['tags']}")
    ratio = med["this"] / med["baseline"]
    print(f"  ratio this/baseline p50: {ratio:.3f}  "
          f"(target <= 1.10: {'met' if ratio <= 1.10 else 'MISSED'})")


def main() -> None:
    if "--tracker-only" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--tracker-only", action="store_true")
        ap.add_argument("--code", type=Path)
        ap.add_argument("--n", type=int, default=20_000)
        ap.add_argument("--dir", type=Path, default=None)
        args = ap.parse_args()
        with tempfile.TemporaryDirectory(prefix="teamcost-bench-", dir=args.dir) as tmp:
            lat = sorted(bench_tracker(Path(tmp), args.n))
            with Ledger(Path(tmp) / "tracker.db") as lg:
                tags = dict(next(iter(lg.calls())).tags)
        print(json.dumps({"p50": percentile(lat, 0.50), "p99": percentile(lat, 0.99),
                          "tags": tags}))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="calls per teamcost measurement")
    ap.add_argument("--naive-n", type=int, default=None,
                    help="calls for the naive baseline (default: min(n, 2000); each fsyncs)")
    ap.add_argument("--dir", type=Path, default=None,
                    help="directory for the database files (default: a temp dir)")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout of teamcost to time Tracker.record against")
    ap.add_argument("--baseline-rev", default=None,
                    help="a git revision to check out (git worktree add) as the baseline")
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating runs of each for the comparison (default 5)")
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

    if args.baseline is not None:
        with tempfile.TemporaryDirectory(prefix="teamcost-bench-", dir=args.dir) as tmp:
            compare(args.baseline.resolve(), args.n, args.rounds, Path(tmp))
    elif args.baseline_rev is not None:
        with tempfile.TemporaryDirectory(prefix="teamcost-baseline-") as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "-q",
                            str(tree), args.baseline_rev], check=True)
            try:
                rev = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()
                print(f"\nbaseline: {args.baseline_rev} ({rev}) checked out in {tree}")
                compare(tree, args.n, args.rounds, Path(tmp))
            finally:
                subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force",
                                str(tree)], check=False)


if __name__ == "__main__":
    main()
