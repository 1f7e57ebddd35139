"""Benchmark: `teamcost serve` over 1,000,000 cached calls, next to the CLI in the same run.

    .venv/bin/python benchmarks/serve.py [--n 1000000] [--requests 30] [--loads 5]

The team cache is generated straight into SQLite (as benchmarks/report.py does) and its
Parquet mirror built once (what `sync pull` keeps current); the project lives on a
Firestore emulator (FIRESTORE_EMULATOR_HOST or the gcloud one started here) with a
budget, so every report carries its budget line as it would for a real team. Then:

- the real `teamcost serve` subprocess answers `/api/report?since=30d`: latency p50/p95
  over warm requests (one client, keep-alive), next to `teamcost report --since 30d
  --format json` run as a fresh process each time (median), and the ratio;
- Chromium (Playwright) loads the page: navigation start to "interactive" (the
  overview, chart and tables rendered from the API), first load and median.

Targets: API p95 < 1 s, page interactive < 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.emulated import emulated_team  # noqa: E402
from benchmarks.report import generate  # noqa: E402
from teamcost.budget.check import set_team_budget  # noqa: E402
from teamcost.config import write_config  # noqa: E402
from teamcost.reports.columnar import refresh  # noqa: E402
from teamcost.sync.cache import TeamCache  # noqa: E402
from tests.system.web_support import TEAMCOST, serving  # noqa: E402

CHROMIUM = os.environ.get("TEAMCOST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def page_loads(url: str, loads: int) -> list[float]:
    """ms from navigation start to the page's first render with data, fresh context each."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(loads):
                ctx = browser.new_context(viewport={"width": 1440, "height": 900})
                page = ctx.new_page()
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']", timeout=60_000)
                out.append(float(page.evaluate("window.teamcostReadyAt")))
                ctx.close()
        finally:
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--cli-runs", type=int, default=5)
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()

    with emulated_team() as (client, cfg, _work):
        host = os.environ["FIRESTORE_EMULATOR_HOST"]
        write_config(cfg.home, {"team": cfg.team, "member": cfg.member,
                                "project": cfg.project, "emulator_host": host})
        now = datetime.now(UTC)
        cache = TeamCache(cfg.home / "team-cache.db")
        t = time.perf_counter()
        generate(cache, args.n, now)
        gen_s = time.perf_counter() - t
        t = time.perf_counter()
        refresh(cache)
        mirror_s = time.perf_counter() - t
        cache.close()
        set_team_budget(cfg, 40_000, "month", client=client)
        print(f"store     {args.n:,} cached calls generated in {gen_s:.1f}s, Parquet mirror "
              f"in {mirror_s:.1f}s; budget $40,000/month on the emulator")

        env = {**os.environ, "TEAMCOST_HOME": str(cfg.home)}
        cli_s = []
        cli_doc = None
        for _ in range(args.cli_runs):
            t = time.perf_counter()
            proc = subprocess.run([TEAMCOST, "report", "--since", "30d", "--format", "json"],
                                  env=env, capture_output=True, text=True, check=False)
            cli_s.append(time.perf_counter() - t)
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            cli_doc = json.loads(proc.stdout)
        assert cli_doc is not None

        with serving(cfg.home, "--pull-every", "0", env={"FIRESTORE_EMULATOR_HOST": host}) as srv:
            with httpx.Client(base_url=srv.url, timeout=60) as http:
                for _ in range(3):  # warm: imports, the mirror's page cache, the gRPC channel
                    http.get("api/report", params={"since": "30d"}).raise_for_status()
                lat = []
                doc = None
                for _ in range(args.requests):
                    t = time.perf_counter()
                    r = http.get("api/report", params={"since": "30d"})
                    lat.append(time.perf_counter() - t)
                    r.raise_for_status()
                    doc = r.json()
                assert doc is not None
                # the same document as the CLI's for one fixed window
                fixed = {"since": cli_doc["window"]["since"], "until": cli_doc["window"]["until"]}
                a = http.get("api/report", params=fixed).json()
                b = json.loads(subprocess.run(
                    [TEAMCOST, "report", "--since", fixed["since"], "--until", fixed["until"],
                     "--format", "json"], env=env, capture_output=True, text=True,
                    check=True).stdout)
                assert (a["summary"], a["breakdowns"], a["trend"]) == \
                    (b["summary"], b["breakdowns"], b["trend"]), "API and CLI disagree"
            loads = page_loads(srv.url, args.loads) if os.path.exists(CHROMIUM) else []

    p50, p95 = statistics.median(lat), percentile(lat, 95)
    cli_med = statistics.median(cli_s)
    s = doc["summary"]
    print(f"report    --since 30d: {s['calls']:,} calls, ${s['cost_nanos'] / 1e9:,.2f}, budget "
          f"{doc['budget']['level']}")
    print(f"api       /api/report?since=30d warm: p50 {p50 * 1000:.0f} ms, p95 "
          f"{p95 * 1000:.0f} ms over {args.requests} requests (target p95 < 1000 ms)")
    print(f"cli       teamcost report --since 30d --format json: median {cli_med:.2f} s "
          f"(fresh process each, {args.cli_runs} runs)")
    print(f"ratio     cli / api p50 = {cli_med / p50:.1f}x")
    if loads:
        print(f"page      navigation to interactive: first {loads[0]:.0f} ms, median "
              f"{statistics.median(loads):.0f} ms over {len(loads)} loads in Chromium "
              "(target < 1500 ms)")
    else:
        print(f"page      skipped: {CHROMIUM} is missing (apt-get install chromium)")


if __name__ == "__main__":
    main()
