"""Benchmark: `teamcost report --since 30d` over 1,000,000 cached calls, end to end, in a
fresh process (wall time and peak RSS), next to a naive pure-Python dict-of-sums over
every row of the same team cache, in the same run.

    .venv/bin/python benchmarks/report.py [--n 1000000]

The team cache is generated straight into SQLite (members, models, agents, sessions,
40 days), then one `sync pull`-style mirror refresh builds the Parquet mirror (timed
separately: it is paid once, at pull time). The report run is the real CLI:
`teamcost report --since 30d --format json --offline` with TEAMCOST_HOME pointing at it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from teamcost.ledger import ts_to_us  # noqa: E402
from teamcost.models import CALL_FIELDS  # noqa: E402
from teamcost.sync.cache import TeamCache  # noqa: E402

MEMBERS = [f"dev{i}@example.com" for i in range(12)]
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5"),
          ("anthropic", "claude-haiku-4-5"), ("google", "gemini-2.5-flash"), ("acme", "in-house")]


def generate(cache: TeamCache, n: int, now: datetime) -> None:
    rng = random.Random(7)
    end = ts_to_us(now)
    span = 40 * 86_400_000_000
    sql = (f"INSERT INTO team_calls ({', '.join(CALL_FIELDS)}, pushed_at) "
           f"VALUES ({', '.join('?' * len(CALL_FIELDS))}, ?)")
    chunk = 100_000
    for lo in range(0, n, chunk):
        rows = []
        for i in range(lo, min(n, lo + chunk)):
            provider, model = MODELS[i % len(MODELS)]
            priced = model != "in-house"
            rows.append((f"c{i:09d}", end - rng.randrange(span), "core", MEMBERS[i % 12],
                         f"lap-{i % 20}", provider, model, rng.randrange(20_000),
                         rng.randrange(3_000), rng.randrange(2) * 5_000, 0,
                         rng.randrange(1, 90_000_000) if priced else 0, int(priced), "bench",
                         f"s{i // 200}", ("planner", "coder", "reviewer")[i % 3], None, None,
                         1.5, int(i % 50 != 0), None, "{}", 0, end))
        cache.conn.execute("BEGIN")
        cache.conn.executemany(sql, rows)
        cache.conn.execute("COMMIT")


def naive(cache_path: Path, since_us: int) -> tuple[float, int, dict]:
    """Every row through Python: dict-of-sums by member, model and UTC day."""
    import sqlite3
    t = time.perf_counter()
    conn = sqlite3.connect(cache_path)
    total = 0
    by_member: dict = defaultdict(int)
    by_model: dict = defaultdict(int)
    by_day: dict = defaultdict(int)
    for ts, member, model, cost in conn.execute(
            "SELECT ts, member, model, cost_nanos FROM team_calls WHERE team = 'core'"):
        if ts < since_us:
            continue
        total += cost
        by_member[member] += cost
        by_model[model] += cost
        by_day[ts // 86_400_000_000] += cost
    conn.close()
    return time.perf_counter() - t, total, dict(by_member)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="teamcost-report-bench-"))
    (home / "config.toml").write_text('team = "core"\nmember = "dev0@example.com"\n'
                                      'project = "demo-bench"\n')
    now = datetime.now(timezone.utc)
    cache = TeamCache(home / "team-cache.db")
    t = time.perf_counter()
    generate(cache, args.n, now)
    gen_s = time.perf_counter() - t
    from teamcost.reports.columnar import refresh
    t = time.perf_counter()
    refresh(cache)
    mirror_s = time.perf_counter() - t
    cache.close()

    env = {**os.environ, "TEAMCOST_HOME": str(home)}
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    code = ("import sys, time; t = time.perf_counter(); "
            "from teamcost.cli import app; "
            "rc = app(['report', '--since', '30d', '--format', 'json', '--offline'], "
            "standalone_mode=False); "
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
            "sys.stderr.write(f'@@ {time.perf_counter() - t} {hwm}\\n')")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    doc = json.loads(proc.stdout)
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives fork+exec and would report this
    # (generator) process's peak instead of the report's
    inner_s, rss_kb = proc.stderr.strip().splitlines()[-1].split()[1:]
    since_us = ts_to_us(datetime.fromisoformat(doc["window"]["since"]))
    naive_s, naive_total, naive_members = naive(home / "team-cache.db", since_us)
    assert naive_total == doc["summary"]["cost_nanos"], "report and naive totals differ"
    assert naive_members == {r["member"]: r["cost_nanos"] for r in doc["breakdowns"]["member"]}

    print(f"store     {args.n:,} calls generated in {gen_s:.1f}s; Parquet mirror built in "
          f"{mirror_s:.1f}s (once, at pull time)")
    print(f"report    --since 30d: {doc['summary']['calls']:,} calls, "
          f"${doc['summary']['cost_nanos'] / 1e9:,.2f}")
    print(f"report    end to end {wall:.2f}s wall (process start + imports + report "
          f"{float(inner_s):.2f}s), peak RSS {int(rss_kb) / 1024:.0f} MiB "
          f"(targets: < 3 s, < 1024 MiB)")
    print(f"naive     dict-of-sums over every row: {naive_s:.2f}s "
          f"(same total {naive_total:,} nanos)")
    print(f"ratio     naive / teamcost = {naive_s / wall:.1f}x (end to end)")


if __name__ == "__main__":
    main()
