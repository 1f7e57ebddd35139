"""Benchmark: `teamcost export --format focus` of 1,000,000 calls (a month), wall time and
peak RSS of the real CLI in a fresh process, beside the baseline measured in the same run:
today's `teamcost export --format csv` of the same window, as a ratio.

    .venv/bin/python benchmarks/focus_export.py             # 1,000,000 calls
    .venv/bin/python benchmarks/focus_export.py --n 200000  # smaller

Bounded memory: the FOCUS export also runs over a fifth of the calls; its peak RSS should
not grow with the calls (it holds one chunk of 65,536 calls and the groups, not the window).

The ledger is generated with bulk SQL (no Python per row): 12 members, 6 models (one
unpriced), 3 agents, 5 projects, some web searches, over November 2026. The Parquet mirror
is built once before the timed runs (both exports read it). Each export is checked: the
FOCUS rows' BilledCost adds up to the ledger's sum to the nano-dollar.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from teamcost.ledger import Ledger, ts_to_us  # noqa: E402

TEAMCOST = str(Path(sys.executable).parent / "teamcost")
START = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_US = 30 * 86_400_000_000
FIELDS_SQL = {
    "call_id": "printf('c%010d', i)",
    "ts": f"{ts_to_us(START)} + abs(random() % {SPAN_US})",
    "team": "'core'",
    "member": "'dev' || (i % 12) || '@example.com'",
    "ledger_id": "'lap-1'",
    "provider": "CASE i % 6 WHEN 0 THEN 'openai' WHEN 1 THEN 'openai' WHEN 2 THEN 'anthropic' "
                "WHEN 3 THEN 'anthropic' WHEN 4 THEN 'google' ELSE 'acme' END",
    "model": "CASE i % 6 WHEN 0 THEN 'gpt-4o' WHEN 1 THEN 'gpt-4.1-mini' "
             "WHEN 2 THEN 'claude-sonnet-4-5' WHEN 3 THEN 'claude-haiku-4-5' "
             "WHEN 4 THEN 'gemini-2.5-flash' ELSE 'in-house' END",
    "input_tokens": "abs(random() % 20000)",
    "output_tokens": "abs(random() % 3000)",
    "cache_read_tokens": "(abs(random()) % 2) * 5000",
    "cache_write_tokens": "(abs(random()) % 4) * 1000",
    "cost_nanos": "CASE i % 6 WHEN 5 THEN 0 ELSE 1 + abs(random() % 89999999) END",
    "priced": "CASE i % 6 WHEN 5 THEN 0 ELSE 1 END",
    "price_source": "CASE i % 6 WHEN 5 THEN 'unpriced' ELSE 'genai-prices 0.2.5' END",
    "session_id": "'s' || (i / 200)",
    "agent": "CASE i % 3 WHEN 0 THEN 'planner' WHEN 1 THEN 'coder' ELSE 'reviewer' END",
    "task_id": "NULL", "correlation_id": "NULL", "duration_s": "1.5",
    "success": "CASE WHEN i % 50 = 0 THEN 0 ELSE 1 END", "error": "NULL",
    "tags": "CASE WHEN i % 40 = 0 THEN '{\"project\":\"p' || (i % 5) || "
            "'\",\"web_search_requests\":\"' || (i % 3) || '\"}' "
            "ELSE '{\"project\":\"p' || (i % 5) || '\"}' END",
    "recorded_at": f"{ts_to_us(START)}", "pushed_at": "NULL", "estimated": "0",
}


def make_home(n: int) -> Path:
    home = Path(tempfile.gettempdir()) / f"teamcost-bench-focus-{n}"
    stamp = home / "generated"
    if stamp.exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "config.toml").write_text('team = "core"\nmember = "dev0@example.com"\n')
    t = time.perf_counter()
    ledger = Ledger(home / "ledger.db")
    conn = ledger.conn
    conn.execute("PRAGMA synchronous = OFF")
    cols = ", ".join(FIELDS_SQL)
    for lo in range(0, n, 500_000):
        hi = min(n, lo + 500_000)
        conn.execute("BEGIN")
        conn.execute(f"WITH RECURSIVE g(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM g "
                     f"WHERE i < {hi - 1}) INSERT INTO calls ({cols}) "
                     f"SELECT {', '.join(FIELDS_SQL.values())} FROM g")
        conn.execute("COMMIT")
    ledger.close()
    print(f"generated {n:,} calls in {time.perf_counter() - t:.1f}s", flush=True)
    stamp.write_text("ok")
    return home


def run(home: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one teamcost command in a fresh process."""
    env = dict(os.environ, TEAMCOST_HOME=str(home))
    t = time.perf_counter()
    proc = subprocess.Popen([TEAMCOST, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"teamcost {' '.join(args)} failed: {err}")
    return wall, usage.ru_maxrss / 1024


def _args(out: Path) -> tuple[str, ...]:
    return ("--month", "2026-11", "--tz", "UTC", "--source", "local", "--offline",
            "--out", str(out))


def warm(home: Path) -> None:
    wall, _ = run(home, "report", "--since", "2026-11-01", "--until", "2026-11-30",
                  "--tz", "UTC", "--source", "local", "--offline", "--format", "json")
    print(f"mirror built (first report of {home.name}): {wall:.1f}s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    n = ap.parse_args().n
    small = make_home(n // 5)
    warm(small)
    small_s, small_mb = run(small, "export", *_args(small / "out"), "--format", "focus")
    home = make_home(n)
    out = home / "out"
    common = _args(out)
    warm(home)
    focus_s, focus_mb = run(home, "export", *common, "--format", "focus")
    csv_s, csv_mb = run(home, "export", *common, "--format", "csv")
    conn = sqlite3.connect(home / "ledger.db")
    want = conn.execute("SELECT sum(cost_nanos), count(*) FROM calls").fetchone()
    conn.close()
    with (out / "teamcost-2026-11-focus.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    got = sum(int(Decimal(r["BilledCost"]) * 1_000_000_000) for r in rows)
    calls = sum(int(r["x_Calls"]) for r in rows)
    assert (got, calls) == tuple(want), ((got, calls), want)
    print(f"export --format focus: {n:,} calls -> {len(rows):,} FOCUS rows "
          f"(+ Parquet) in {focus_s:.1f}s, peak RSS {focus_mb:.0f} MiB")
    print(f"export --format focus of {n // 5:,} calls: {small_s:.1f}s, peak RSS "
          f"{small_mb:.0f} MiB (5x the calls: {focus_mb / small_mb:.2f}x the memory)")
    print(f"baseline export --format csv (one row per call) of the same window: "
          f"{csv_s:.1f}s, peak RSS {csv_mb:.0f} MiB")
    print(f"ratio focus/csv: time {focus_s / csv_s:.2f}x, peak RSS {focus_mb / csv_mb:.2f}x; "
          f"money adds up to the ledger's {want[0]:,} nanos")


if __name__ == "__main__":
    main()
