"""Benchmark: how long `teamcost statusline` takes, next to `python -c pass`.

    .venv/bin/python benchmarks/statusline.py [--runs 30] [--calls 100000]

Claude Code runs the status command after every assistant message, so its cost is the
whole process: interpreter start, imports, reading the agent's snapshot and summing one
session in the ledger. Sets up a home with a snapshot and a ledger of N calls (sessions
of 50 calls), then runs the real `teamcost statusline` executable with Claude Code's JSON
on stdin, RUNS times each, and prints the medians (p50) and p90s:
- `python -c pass`: the floor, this interpreter starting and exiting;
- `teamcost statusline` with TEAMCOST_HOME set (the agent's service sets it);
- the same without TEAMCOST_HOME (XDG_DATA_HOME/teamcost is the home, as platformdirs says);
- the same with an empty ledger (no session rows to sum).

Each row is timed twice: with a bytecode cache (what an installed teamcost has: pip compiles
it, and Python writes __pycache__ on first use; here PYTHONPYCACHEPREFIX points into the
benchmark's temporary directory, so no source tree is written to, and the warm-up run fills
it), and without one (PYTHONDONTWRITEBYTECODE=1: every run compiles teamcost's sources,
as a shell that sets it, like this project's, does).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teamcost.ledger import Ledger  # noqa: E402
from tests.sync_support import make_calls  # noqa: E402

TEAMCOST = Path(sys.executable).with_name("teamcost")


def _once(cmd: list[str], env: dict[str, str], stdin: bytes) -> tuple[float, float, bytes]:
    """(wall ms, CPU ms (user + system, from wait4), stdout) of one run."""
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out:
        inp.write(stdin)
        inp.seek(0)
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = (time.perf_counter() - t0) * 1000
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{cmd} failed")
        out.seek(0)
        return wall, (ru.ru_utime + ru.ru_stime) * 1000, out.read()


def timed(rows: list[tuple[list[str], dict[str, str]]], runs: int, stdin: bytes
          ) -> list[tuple[float, float, float, bytes]]:
    """(p50 ms, p90 ms, CPU p50 ms, last stdout) of each row's ``runs`` runs, after one
    warm-up run each. The rows take turns (row 1, row 2, ..., row 1, ...), so the load of a
    shared machine falls on all of them alike rather than on whichever ran in a busy spell."""
    outs = [_once(cmd, env, stdin)[2] for cmd, env in rows]
    times: list[list[float]] = [[] for _ in rows]
    cpus: list[list[float]] = [[] for _ in rows]
    for _ in range(runs):
        for k, (cmd, env) in enumerate(rows):
            wall, cpu, outs[k] = _once(cmd, env, stdin)
            times[k].append(wall)
            cpus[k].append(cpu)
    result = []
    for t, c, out in zip(times, cpus, outs):
        t.sort()
        result.append((statistics.median(t), t[int(len(t) * 0.9) - 1], statistics.median(c), out))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--baseline", type=Path, metavar="TEAMCOST",
                    help="another teamcost executable (e.g. /work/main/.venv/bin/teamcost) "
                         "timed in the same run")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        with Ledger(home / "ledger.db") as ledger:
            calls = make_calls(args.calls, "bench@example.com", ledger.ledger_id)
            ledger.record_many(calls)
        session = calls[len(calls) // 2].session_id
        assert session is not None
        expect = sum(c.cost_nanos for c in calls if c.session_id == session)
        (home / "agent-status.json").write_text(json.dumps({
            "version": 1, "written_at": datetime.now(UTC).isoformat(), "team": "core",
            "budget": {"level": "OK", "limit_nanos": 500 * 10**9, "spent_nanos": 412 * 10**9,
                       "fraction": 0.824, "period": "month"},
            "today_nanos": 37_100_000_000, "period_nanos": 412 * 10**9}))
        stdin = json.dumps({"session_id": session, "model": {"id": "claude-sonnet-4-5",
                            "display_name": "Sonnet"}, "workspace": {"current_dir": tmp},
                            "cwd": tmp}).encode()
        base = {k: v for k, v in os.environ.items() if not k.startswith("TEAMCOST_")}
        env = base | {"TEAMCOST_HOME": str(home), "NO_COLOR": "1"}
        empty = Path(tmp) / "empty"
        empty.mkdir()
        (empty / "agent-status.json").write_text((home / "agent-status.json").read_text())

        print(f"{args.calls:,} calls in the ledger; {args.runs} runs each; "
              f"session {session} = {expect:,} nanos")
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"], env),
            ("teamcost statusline", [str(TEAMCOST), "statusline"], env),
            ("  without TEAMCOST_HOME (XDG_DATA_HOME)", [str(TEAMCOST), "statusline"],
             base | {"NO_COLOR": "1", "XDG_DATA_HOME": tmp, "HOME": tmp}),
            ("  empty ledger", [str(TEAMCOST), "statusline"],
             base | {"TEAMCOST_HOME": str(empty), "NO_COLOR": "1"}),
        ]
        if args.baseline:
            rows.insert(2, ("teamcost statusline [baseline]", [str(args.baseline), "statusline"],
                            env))
            rows.insert(4, ("  without TEAMCOST_HOME [baseline]",
                            [str(args.baseline), "statusline"], rows[3][2]))
        (Path(tmp) / "teamcost").symlink_to(home)   # XDG_DATA_HOME/teamcost: the same home
        modes = [("with a bytecode cache (as installed)",
                  {"PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")}, ("PYTHONDONTWRITEBYTECODE",)),
                 ("without a bytecode cache (PYTHONDONTWRITEBYTECODE=1)",
                  {"PYTHONDONTWRITEBYTECODE": "1"}, ("PYTHONPYCACHEPREFIX",))]
        for title, add, drop in modes:
            print(f"-- {title}")
            floor = None
            results = timed([(cmd, {k: v for k, v in e.items() if k not in drop} | add)
                             for _, cmd, e in rows], args.runs, stdin)
            for (label, _, _), (p50, p90, cpu, out) in zip(rows, results):
                floor = p50 if floor is None else floor
                extra = ("" if label.startswith("python")
                         else f"  (+{p50 - floor:.1f} ms over the floor, {p50 / floor:.2f}x)")
                print(f"{label:40s} p50 {p50:6.1f} ms  p90 {p90:6.1f} ms  "
                      f"CPU p50 {cpu:5.1f} ms{extra}")
                if not label.startswith("python"):
                    print(f"{'':40s} -> {out.decode().strip()}")


if __name__ == "__main__":
    main()
