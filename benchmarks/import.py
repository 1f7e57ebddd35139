"""Benchmark: `teamcost import claude-code` on a generated Claude Code log tree.

    .venv/bin/python benchmarks/import.py [--mb 200] [--naive-mb MB]

Generates --mb megabytes of session logs shaped like Claude Code's (~1.2 KB lines with
message content, usage with cache tokens, 10% repeated lines), then imports them in a
fresh process and reports calls per second and that process's peak RSS. The naive
approach (each file read whole and parsed into a list, then one ledger transaction per
call) runs in its own process on the same tree (or its first --naive-mb megabytes), and
the ratio of the two rates is printed. Peak memory shows streaming: it stays flat as --mb
grows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]
WORDS = ("the quick brown fox refactors the parser and writes a test for the ledger "
         "while the reviewer reads the diff").split()


def generate(root: Path, mb: float, seed: int = 7) -> tuple[int, int]:
    """Write session logs until ``mb`` MB; returns (bytes, distinct calls)."""
    rng = random.Random(seed)
    target = int(mb * 1_000_000)
    written = calls = 0
    t0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
    project = session = 0
    while written < target:
        d = root / f"-home-dev-src-project{project:03d}"
        d.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(800):
            ts = t0 + timedelta(seconds=rng.randrange(60 * 86400))
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(60, 160)))
            line = json.dumps({
                "parentUuid": f"p{session}-{i - 1}", "isSidechain": False, "userType": "external",
                "cwd": f"/home/dev/src/project{project:03d}", "sessionId": f"sess-{session:05d}",
                "version": "2.0.0", "gitBranch": "main", "type": "assistant",
                "uuid": f"u{session}-{i}", "timestamp": ts.isoformat().replace("+00:00", "Z"),
                "requestId": f"req_{session:05d}_{i:04d}",
                "message": {"id": f"msg_{session:05d}_{i:04d}", "type": "message",
                            "role": "assistant", "model": MODELS[i % 3],
                            "content": [{"type": "text", "text": text}],
                            "stop_reason": "end_turn", "stop_sequence": None,
                            "usage": {"input_tokens": rng.randrange(1, 5000),
                                      "output_tokens": rng.randrange(1, 3000),
                                      "cache_read_input_tokens": rng.randrange(0, 90_000),
                                      "cache_creation_input_tokens": rng.randrange(0, 5000),
                                      "service_tier": "standard"}}})
            lines.append(line)
            calls += 1
            if rng.random() < 0.1:       # Claude Code logs some messages more than once
                lines.append(line)
        data = ("\n".join(lines) + "\n").encode()
        (d / f"sess-{session:05d}.jsonl").write_bytes(data)
        written += len(data)
        session += 1
        if session % 4 == 0:
            project += 1
    return written, calls


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float:
    """This process's resident memory now (after imports, before the work): the base."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_teamcost(root: Path, home: Path) -> dict:
    from teamcost.capture.logs.claude_code import import_claude_code
    from teamcost.config import load_config
    home.mkdir(parents=True, exist_ok=True)
    cfg = load_config(home)
    base = rss_now_mb()
    t = time.perf_counter()
    res = import_claude_code(root, cfg)
    secs = time.perf_counter() - t
    return {"calls": res.imported, "already": res.already, "bytes": res.bytes_read,
            "seconds": secs, "rss_mb": peak_rss_mb(), "base_mb": base}


def run_naive(root: Path, home: Path, limit_mb: float) -> dict:
    from teamcost.config import load_config
    from teamcost.tracker import Tracker
    home.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(load_config(home))
    base = rss_now_mb()
    seen: set[str] = set()
    read = calls = 0
    t = time.perf_counter()
    for f in sorted(root.rglob("*.jsonl")):
        if read >= limit_mb * 1_000_000:
            break
        text = f.read_text()                       # the whole file at once
        read += len(text)
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        for d in entries:
            m = d["message"]
            cid = f"cc-{m['id']}-{d['requestId']}"
            if cid in seen:
                continue
            seen.add(cid)
            u = m["usage"]
            tracker.record(m["model"], u["input_tokens"], u["output_tokens"],
                           provider="anthropic", cache_read_tokens=u["cache_read_input_tokens"],
                           cache_write_tokens=u["cache_creation_input_tokens"], call_id=cid,
                           ts=datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00")))
            calls += 1
    return {"calls": calls, "bytes": read, "seconds": time.perf_counter() - t,
            "rss_mb": peak_rss_mb(), "base_mb": base}


def child(mode: str, root: Path, home: Path, limit_mb: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--root", str(root),
                          "--home", str(home), "--naive-mb", str(limit_mb)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--naive-mb", type=float, default=None,
                    help="megabytes the naive import reads (default: all of --mb)")
    ap.add_argument("--child")
    ap.add_argument("--root")
    ap.add_argument("--home")
    args = ap.parse_args()
    if args.naive_mb is None:
        args.naive_mb = args.mb
    if args.child:
        root, home = Path(args.root), Path(args.home)
        res = (run_teamcost(root, home) if args.child == "teamcost"
               else run_naive(root, home, args.naive_mb))
        print(json.dumps(res))
        return

    work = Path(tempfile.mkdtemp(prefix="teamcost-import-bench-"))
    root = work / "projects"
    t = time.perf_counter()
    size, distinct = generate(root, args.mb)
    print(f"generated {size / 1e6:,.0f} MB in {len(list(root.rglob('*.jsonl')))} session "
          f"files ({distinct:,} calls + ~10% repeated lines) in {time.perf_counter() - t:.0f}s")
    tc = child("teamcost", root, work / "home-teamcost", args.naive_mb)
    assert tc["calls"] == distinct, (tc, distinct)
    rate = tc["calls"] / tc["seconds"]
    print(f"teamcost import: {tc['calls']:,} calls ({tc['already']:,} repeats skipped) from "
          f"{tc['bytes'] / 1e6:,.0f} MB in {tc['seconds']:.1f}s = {rate:,.0f} calls/s, "
          f"{tc['bytes'] / 1e6 / tc['seconds']:.1f} MB/s; peak RSS {tc['rss_mb']:.0f} MB "
          f"(+{tc['rss_mb'] - tc['base_mb']:.0f} MB over the process before the import)")
    nv = child("naive", root, work / "home-naive", args.naive_mb)
    nrate = nv["calls"] / nv["seconds"]
    print(f"naive (whole files, one transaction a call) on {nv['bytes'] / 1e6:,.0f} MB: "
          f"{nv['calls']:,} calls in {nv['seconds']:.1f}s = {nrate:,.0f} calls/s; "
          f"peak RSS {nv['rss_mb']:.0f} MB (+{nv['rss_mb'] - nv['base_mb']:.0f} MB)")
    print(f"ratio teamcost/naive: {rate / nrate:.1f}x calls/s")
    again = child("teamcost", root, work / "home-teamcost", args.naive_mb)
    print(f"re-import: {again['calls']:,} new calls, {again['already']:,} already present, "
          f"{again['seconds']:.1f}s")


if __name__ == "__main__":
    main()
