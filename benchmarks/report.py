"""Benchmark: reports end to end, in a fresh process (wall time and peak RSS), as the history
grows, beside a plain-Python sum of the same calls (which must agree to the nano-dollar).

    .venv/bin/python benchmarks/report.py            # small sizes, a minute or two
    .venv/bin/python benchmarks/report.py --full     # the issue's sizes (5M calls: minutes)
    .venv/bin/python benchmarks/report.py --n 1000000 --span 40 --days 30   # one run

Runs, each as the real CLI (`teamcost report --since <D>d --format json --offline`) with
TEAMCOST_HOME pointing at a generated home:
  * standard    -- N calls over 40 days in the team cache, `--since 30d` (1M with --full)
  * growth      -- the same 7-day window over a cache of 100k calls / 7 days and one of
                   5M calls / 365 days (500k with the small run), and `--since 365d` over
                   the big one: the cost of a report should follow its window, not the history
  * local       -- `--source local` over a ledger of 330k calls (33k small) in 29 days
Each home's mirror is removed at the start, so its first report (the "cold" one) also
builds the Parquet mirror; then seven warm runs, taken in turns with the other cases of
the same table: the median wall time, the median CPU
time (user + system: what the run cost, whatever else the machine does) and the highest
peak RSS are printed.

Data is generated with bulk SQL (a recursive CTE, no Python per row), in arrival order with
random times (the way pulls fill a cache), and kept under $TMPDIR/teamcost-bench-data for
six hours so the next run reuses it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from teamcost.ledger import Ledger, ts_to_us  # noqa: E402
from teamcost.models import CALL_FIELDS  # noqa: E402
from teamcost.sync.cache import TeamCache  # noqa: E402

DATA = Path(tempfile.gettempdir()) / "teamcost-bench-data"
MAX_AGE_S = 6 * 3600
DAY_US = 86_400_000_000
# one SQL expression per call field; i is the row number, @END@ the newest ts, @SPAN@ the
# history
FIELDS_SQL = {
    "call_id": "printf('c%010d', i)",
    "ts": "@END@ - abs(random() % @SPAN@)",
    "team": "'core'",
    "member": "'dev' || (i % 12) || '@example.com'",
    "ledger_id": "'lap-' || (i % 20)",
    "provider": "CASE i % 6 WHEN 0 THEN 'openai' WHEN 1 THEN 'openai' WHEN 2 THEN 'anthropic' "
                "WHEN 3 THEN 'anthropic' WHEN 4 THEN 'google' ELSE 'acme' END",
    "model": "CASE i % 6 WHEN 0 THEN 'gpt-4o' WHEN 1 THEN 'gpt-4.1-mini' "
             "WHEN 2 THEN 'claude-sonnet-4-5' WHEN 3 THEN 'claude-haiku-4-5' "
             "WHEN 4 THEN 'gemini-2.5-flash' ELSE 'in-house' END",
    "input_tokens": "abs(random() % 20000)",
    "output_tokens": "abs(random() % 3000)",
    "cache_read_tokens": "(abs(random()) % 2) * 5000",
    "cache_write_tokens": "0",
    "cost_nanos": "CASE i % 6 WHEN 5 THEN 0 ELSE 1 + abs(random() % 89999999) END",
    "priced": "CASE i % 6 WHEN 5 THEN 0 ELSE 1 END",
    "price_source": "'bench'",
    "session_id": "'s' || (i / 200)",
    "agent": "CASE i % 3 WHEN 0 THEN 'planner' WHEN 1 THEN 'coder' ELSE 'reviewer' END",
    "task_id": "NULL",
    "correlation_id": "NULL",
    "duration_s": "1.5",
    "success": "CASE WHEN i % 50 = 0 THEN 0 ELSE 1 END",
    "error": "NULL",
    "tags": "'{}'",
    "estimated": "0",
}
assert tuple(FIELDS_SQL) == CALL_FIELDS


def _fill(conn: sqlite3.Connection, table: str, extra: dict[str, str], n: int, end_us: int,
          span_days: int) -> None:
    cols = {**FIELDS_SQL, **extra}
    select = ", ".join(cols.values()).replace("@END@", str(end_us)).replace(
        "@SPAN@", str(span_days * DAY_US))
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    step = 1_000_000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        conn.execute("BEGIN")
        conn.execute(f"WITH RECURSIVE g(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM g "
                     f"WHERE i < {hi - 1}) INSERT INTO {table} ({', '.join(cols)}) "
                     f"SELECT {select} FROM g")
        conn.execute("COMMIT")


def home_for(kind: str, n: int, span_days: int) -> tuple[Path, int]:
    """A TEAMCOST_HOME with a team cache (kind "team") or a ledger (kind "local") of n calls
    over span_days ending at generation time; reused while fresh. Returns (home, end_us)."""
    home = DATA / f"{kind}-{n}-{span_days}d"
    stamp = home / "generated.json"
    if stamp.exists() and time.time() - stamp.stat().st_mtime < MAX_AGE_S:
        return home, int(json.loads(stamp.read_text())["end_us"])
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    end_us = ts_to_us(datetime.now(UTC))
    t = time.perf_counter()
    if kind == "team":
        (home / "config.toml").write_text('team = "core"\nmember = "dev0@example.com"\n'
                                          'project = "demo-bench"\n')
        cache = TeamCache(home / "team-cache.db")
        _fill(cache.conn, "team_calls", {"pushed_at": str(end_us)}, n, end_us, span_days)
        cache.close()
    else:
        (home / "config.toml").write_text('team = "core"\nmember = "dev0@example.com"\n')
        ledger = Ledger(home / "ledger.db")
        _fill(ledger.conn, "calls", {"recorded_at": str(end_us), "pushed_at": "NULL"}, n,
              end_us, span_days)
        ledger.close()
    print(f"  generated {n:,} calls over {span_days} days ({kind}) in "
          f"{time.perf_counter() - t:.1f}s", flush=True)
    stamp.write_text(json.dumps({"end_us": end_us}))
    return home, end_us


def drop_mirrors(home: Path) -> None:
    """Back to a cache nobody has reported on: no Parquet mirror, no mirror marks."""
    for p in home.iterdir():
        if p.is_dir() and p.name.endswith(".parquet"):
            shutil.rmtree(p)
    if (home / "team-cache.db").exists():
        conn = sqlite3.connect(home / "team-cache.db")
        conn.execute("DELETE FROM sync_state WHERE key LIKE 'parquet%'")
        conn.commit()
        conn.close()


def run_report(home: Path, args: list[str], code_root: Path) -> tuple[float, int, dict, float]:
    """One `teamcost report ... --format json --offline` in a fresh process:
    (wall seconds, peak RSS KiB, the report document, CPU seconds user + system)."""
    env = {**os.environ, "TEAMCOST_HOME": str(home), "PYTHONPATH": str(code_root)}
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives fork+exec and would report this
    # (generator) process's peak instead of the report's
    code = ("import sys; from teamcost.cli import app; "
            f"rc = app({['report', *args, '--format', 'json', '--offline']!r}, "
            "standalone_mode=False); "
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
            "sys.stderr.write(f'@@ {hwm}\\n')")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    rss_kb = int(proc.stderr.strip().splitlines()[-1].split()[1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, rss_kb, json.loads(proc.stdout), cpu


def naive(home: Path, kind: str, since_us: int, until_us: int) -> tuple[int, int, dict]:
    """The window's calls through plain Python: (calls, total nanos, nanos by member)."""
    db, table = (("team-cache.db", "team_calls") if kind == "team" else ("ledger.db", "calls"))
    conn = sqlite3.connect(home / db)
    n = total = 0
    by_member: dict[str, int] = defaultdict(int)
    for ts, member, cost in conn.execute(f"SELECT ts, member, cost_nanos FROM {table}"):
        if since_us <= ts < until_us:
            n += 1
            total += cost
            by_member[member] += cost
    conn.close()
    return n, total, dict(by_member)


_dropped: set[Path] = set()
Case = tuple[str, str, int, int, int]   # label, kind, calls, span days, window days


def measure(cases: list[Case], code_root: Path, warm: int = 7) -> list[dict]:
    """Each case cold once, then ``warm`` rounds of one run of every case in turn (so a
    burst of load elsewhere on the machine falls on all of them alike)."""
    prepared = []
    for label, kind, n, span, days in cases:
        home, _ = home_for(kind, n, span)
        if home not in _dropped:  # the first run builds the mirror, as after an upgrade
            drop_mirrors(home)
            _dropped.add(home)
        args = ["--since", f"{days}d"] + (["--source", "local"] if kind == "local" else [])
        cold, cold_rss, _, _ = run_report(home, args, code_root)
        prepared.append((label, kind, n, home, args, cold, cold_rss))
    runs: list[list[tuple[float, int, dict, float]]] = [[] for _ in cases]
    for _ in range(warm):
        for i, (_, _, _, home, args, _, _) in enumerate(prepared):
            runs[i].append(run_report(home, args, code_root))
    rows = []
    for (label, kind, n, home, _, cold, cold_rss), rs in zip(prepared, runs):
        wall = statistics.median(r[0] for r in rs)
        cpu = statistics.median(r[3] for r in rs)
        rss = max(r[1] for r in rs)
        doc = rs[-1][2]
        since_us = ts_to_us(datetime.fromisoformat(doc["window"]["since"]))
        until_us = ts_to_us(datetime.fromisoformat(doc["window"]["until"]))
        calls, total, members = naive(home, kind, since_us, until_us)
        s = doc["summary"]
        assert (s["calls"], s["cost_nanos"]) == (calls, total), (label, s["calls"], calls)
        assert members == {r["member"]: r["cost_nanos"] for r in doc["breakdowns"]["member"]}
        rows.append({"label": label, "calls": s["calls"], "wall": wall, "cpu": cpu,
                     "rss_mib": rss / 1024, "cold": cold, "cold_rss_mib": cold_rss / 1024,
                     "history": n})
        print(f"  {label:<34} {s['calls']:>10,} calls  {wall:6.2f}s wall  {cpu:5.2f}s cpu  "
              f"{rss / 1024:5.0f} MiB   (cold, building the mirror: {cold:.2f}s, "
              f"{cold_rss / 1024:.0f} MiB)", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the issue's sizes (1M, 5M, 330k)")
    ap.add_argument("--n", type=int, help="one run: calls in the team cache")
    ap.add_argument("--span", type=int, default=40, help="one run: days of history (40)")
    ap.add_argument("--days", type=int, default=30, help="one run: report --since <days>d (30)")
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="teamcost source tree the reports run (compare with another checkout)")
    args = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    code = args.code.resolve()
    print(f"teamcost from {code}; data in {DATA}")
    if args.n:
        measure([(f"{args.n:,} calls / {args.span}d, --since {args.days}d", "team", args.n,
                  args.span, args.days)], code)
        return
    big, standard, local = ((5_000_000, 1_000_000, 330_000) if args.full
                            else (500_000, 100_000, 33_000))
    print(f"standard: {standard:,} calls over 40 days, --since 30d")
    measure([(f"{standard:,} calls / 40d, --since 30d", "team", standard, 40, 30)], code)
    print("history growth: the same 7-day window as the history grows")
    small_7, big_7, big_365 = measure([
        ("100,000 calls / 7d, --since 7d", "team", 100_000, 7, 7),
        (f"{big:,} calls / 365d, --since 7d", "team", big, 365, 7),
        (f"{big:,} calls / 365d, --since 365d", "team", big, 365, 365)], code)
    print(f"local ledger: --source local over {local:,} calls")
    loc, = measure([(f"{local:,} calls / 29d, --source local", "local", local, 29, 30)], code)
    print("targets (issue 17, full sizes):")
    checks = [("7d over the big cache < 1 s", big_7["wall"] < 1.0),
              ("... and within 1.5x of 100k/7d", big_7["wall"] < 1.5 * small_7["wall"]),
              ("--since 365d over the big cache < 3 s", big_365["wall"] < 3.0),
              ("... and < 1 GiB", big_365["rss_mib"] < 1024),
              ("local-ledger report < 1 s", loc["wall"] < 1.0)]
    for what, ok in checks:
        print(f"  {'met   ' if ok else 'MISSED'} {what}")
    print(f"  ratio 7d big / 7d small: {big_7['wall'] / small_7['wall']:.2f}x wall, "
          f"{big_7['cpu'] / small_7['cpu']:.2f}x cpu")


if __name__ == "__main__":
    main()
