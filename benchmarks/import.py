"""Benchmark: `teamcost import claude-code|codex|gemini-cli` on generated log trees.

    .venv/bin/python benchmarks/import.py [--mb 200] [--naive-mb MB]
        [--codex-mb 20] [--gemini-mb 20] [--only claude-code|codex|gemini-cli]

Generates --mb megabytes of session logs shaped like Claude Code's (~1.2 KB lines with
message content, usage with cache tokens, 10% repeated lines), then imports them in a
fresh process and reports calls per second and that process's peak RSS. The naive
approach (each file read whole and parsed into a list, then one ledger transaction per
call) runs in its own process on the same tree (or its first --naive-mb megabytes), and
the ratio of the two rates is printed. Peak memory shows streaming: it stays flat as --mb
grows.

Codex and Gemini CLI trees (rollouts with session metadata, reasoning, tool calls and
output, repeated rate-limit token counts; chat sessions whose messages are written again
with tool calls, plus a few legacy whole-JSON sessions) are generated at --codex-mb /
--gemini-mb (use 200 for the full run) and at a quarter of that; both are imported in
fresh processes, and the peak RSS of the two sizes is printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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
    t0 = datetime(2026, 8, 1, tzinfo=timezone.utc)   # 60 days of calls, all in the past
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


CODEX_MODELS = ["gpt-5-codex", "gpt-5.2-codex", "gpt-5-mini"]
GEMINI_MODELS = ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"]


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(lo, hi)))


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def generate_codex(root: Path, mb: float, seed: int = 11) -> tuple[int, int]:
    """Codex rollouts until ``mb`` MB; returns (bytes, distinct requests)."""
    rng = random.Random(seed)
    target = int(mb * 1_000_000)
    written = calls = 0
    t0 = datetime(2026, 8, 1, tzinfo=timezone.utc)   # 60 days of calls, all in the past
    n = 0
    while written < target:
        sid = _uuid(rng)
        start = t0 + timedelta(minutes=37 * n)
        day = root / "sessions" / start.strftime("%Y/%m/%d")
        day.mkdir(parents=True, exist_ok=True)
        cwd = f"/home/dev/src/project{n % 40:03d}"

        def line(ts: datetime, kind: str, payload: dict) -> str:
            return json.dumps({"timestamp": ts.isoformat(timespec="milliseconds")
                               .replace("+00:00", "Z"), "type": kind, "payload": payload},
                              separators=(",", ":"))

        lines = [line(start, "session_meta", {
            "id": sid, "timestamp": start.isoformat(), "cwd": cwd, "originator": "codex_cli_rs",
            "cli_version": "0.58.0", "source": "cli", "model_provider": "openai",
            "base_instructions": {"text": _text(rng, 1500, 2000)}})]
        total = [0, 0, 0, 0, 0]
        ts = start
        for turn in range(rng.randrange(20, 60)):
            ts += timedelta(seconds=rng.randrange(20, 400))
            lines.append(line(ts, "turn_context", {
                "cwd": cwd, "approval_policy": "on-request", "model": CODEX_MODELS[turn % 3],
                "sandbox_policy": {"type": "workspace-write"}, "effort": "medium"}))
            lines.append(line(ts, "response_item", {"type": "message", "role": "user",
                         "content": [{"type": "input_text", "text": _text(rng, 10, 60)}]}))
            for _ in range(rng.randrange(1, 4)):     # requests in this turn
                ts += timedelta(seconds=rng.randrange(2, 40))
                lines.append(line(ts, "response_item", {"type": "reasoning", "summary": [],
                             "encrypted_content": "gAAAAA" + "x" * rng.randrange(400, 1600)}))
                lines.append(line(ts, "response_item", {"type": "function_call", "name": "shell",
                             "arguments": json.dumps({"command": ["pytest", "-q"]}),
                             "call_id": f"call_{calls}"}))
                lines.append(line(ts, "response_item", {"type": "function_call_output",
                             "call_id": f"call_{calls}", "output": _text(rng, 50, 300)}))
                i = rng.randrange(2000, 90_000)
                last = [i, rng.randrange(0, i), rng.randrange(10, 3000), 0, 0]
                last[3] = rng.randrange(0, last[2])
                last[4] = last[0] + last[2]
                total = [a + b for a, b in zip(total, last, strict=True)]
                keys = ("input_tokens", "cached_input_tokens", "output_tokens",
                        "reasoning_output_tokens", "total_tokens")
                info = {"total_token_usage": dict(zip(keys, total, strict=True)),
                        "last_token_usage": dict(zip(keys, last, strict=True)),
                        "model_context_window": 272000}
                event = line(ts, "event_msg", {"type": "token_count", "info": info,
                             "rate_limits": {"primary": {"used_percent": 5.0}}})
                lines.append(event)
                calls += 1
                if rng.random() < 0.3:              # a rate-limit refresh repeats it
                    lines.append(event)
            lines.append(line(ts, "event_msg", {"type": "agent_message",
                                                "message": _text(rng, 20, 80)}))
        data = ("\n".join(lines) + "\n").encode()
        (day / f"rollout-{start.strftime('%Y-%m-%dT%H-%M-%S')}-{sid}.jsonl").write_bytes(data)
        written += len(data)
        n += 1
    return written, calls


def generate_gemini(root: Path, mb: float, seed: int = 13) -> tuple[int, int]:
    """Gemini CLI chat sessions until ``mb`` MB; returns (bytes, distinct responses)."""
    rng = random.Random(seed)
    target = int(mb * 1_000_000)
    written = calls = 0
    t0 = datetime(2026, 8, 1, tzinfo=timezone.utc)   # 60 days of calls, all in the past
    n = 0
    while written < target:
        sid = _uuid(rng)
        proj = root / "tmp" / f"project{n % 40:03d}"
        (proj / "chats").mkdir(parents=True, exist_ok=True)
        (proj / ".project_root").write_text(f"/home/dev/src/project{n % 40:03d}")
        start = t0 + timedelta(minutes=41 * n)
        stamp = lambda t: t.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
        meta = {"sessionId": sid, "projectHash": f"{n:064x}", "startTime": stamp(start),
                "lastUpdated": stamp(start), "kind": "main"}
        messages = []
        ts = start
        for k in range(rng.randrange(20, 80)):
            ts += timedelta(seconds=rng.randrange(20, 300))
            messages.append({"id": _uuid(rng), "timestamp": stamp(ts), "type": "user",
                             "content": [{"text": _text(rng, 10, 60)}]})
            i = rng.randrange(2000, 150_000)
            m = {"id": _uuid(rng), "timestamp": stamp(ts + timedelta(seconds=9)),
                 "type": "gemini", "content": _text(rng, 20, 120), "thoughts": [],
                 "tokens": {"input": i, "output": rng.randrange(10, 3000),
                            "cached": rng.randrange(0, i), "thoughts": rng.randrange(0, 2000),
                            "tool": 0, "total": 0},
                 "model": GEMINI_MODELS[k % 3]}
            messages.append(m)
            calls += 1
            if rng.random() < 0.5:                   # written again with its tool call
                messages.append(dict(m, toolCalls=[{
                    "id": f"run_shell_command-{k}", "name": "run_shell_command",
                    "args": {"command": "pytest -q"}, "status": "success",
                    "result": [{"functionResponse": {"response": {"output": _text(rng, 50, 250)}}}],
                    "timestamp": stamp(ts + timedelta(seconds=12))}]))
        name = f"session-{start.strftime('%Y-%m-%dT%H-%M')}-{sid[:8]}"
        if n % 20 == 19:                             # an older session: one JSON document
            seen: dict[str, dict] = {}
            for m in messages:
                seen[m["id"]] = m
            data = (json.dumps({**meta, "messages": list(seen.values())}, indent=2) + "\n").encode()
            (proj / "chats" / f"{name}.json").write_bytes(data)
        else:
            data = ("\n".join(json.dumps(x, separators=(",", ":")) for x in [meta, *messages])
                    + "\n").encode()
            (proj / "chats" / f"{name}.jsonl").write_bytes(data)
        written += len(data)
        n += 1
    return written, calls


def run_source(source: str, root: Path, home: Path) -> dict:
    from teamcost.capture.logs.codex import import_codex
    from teamcost.capture.logs.gemini_cli import import_gemini_cli
    from teamcost.config import load_config
    home.mkdir(parents=True, exist_ok=True)
    cfg = load_config(home)
    fn = import_codex if source == "codex" else import_gemini_cli
    base = rss_now_mb()
    t = time.perf_counter()
    res = fn(root, cfg)
    secs = time.perf_counter() - t
    return {"calls": res.imported, "already": res.already, "bytes": res.bytes_read,
            "bad": res.skipped, "seconds": secs, "rss_mb": peak_rss_mb(), "base_mb": base}


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
    ap.add_argument("--codex-mb", type=float, default=20,
                    help="megabytes of Codex rollouts (200 for the full run)")
    ap.add_argument("--gemini-mb", type=float, default=20,
                    help="megabytes of Gemini CLI sessions (200 for the full run)")
    ap.add_argument("--only", choices=["claude-code", "codex", "gemini-cli"])
    ap.add_argument("--child")
    ap.add_argument("--root")
    ap.add_argument("--home")
    args = ap.parse_args()
    if args.naive_mb is None:
        args.naive_mb = args.mb
    if args.child:
        root, home = Path(args.root), Path(args.home)
        if args.child in ("codex", "gemini-cli"):
            res = run_source(args.child, root, home)
        else:
            res = (run_teamcost(root, home) if args.child == "teamcost"
                   else run_naive(root, home, args.naive_mb))
        print(json.dumps(res))
        return

    work = Path(tempfile.mkdtemp(prefix="teamcost-import-bench-"))
    for source, mb, gen in (("codex", args.codex_mb, generate_codex),
                            ("gemini-cli", args.gemini_mb, generate_gemini)):
        if args.only in (None, source):
            bench_source(work, source, mb, gen)
    if args.only not in (None, "claude-code"):
        work.rmdir()
        return
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


def bench_source(work: Path, source: str, mb: float, gen: Any) -> None:
    """Import a tree of ``mb`` MB and one of a quarter of that; print rate and peak RSS."""
    rows = []
    for size in (mb / 4, mb):
        root = work / f"{source}-{size:g}mb"
        t = time.perf_counter()
        written, distinct = gen(root, size)
        gen_s = time.perf_counter() - t
        res = child(source, root, work / f"home-{source}-{size:g}", 0)
        assert res["calls"] == distinct and res["bad"] == 0, (res, distinct)
        again = child(source, root, work / f"home-{source}-{size:g}", 0)
        assert again["calls"] == 0, again
        rows.append((size, written, distinct, res, again, gen_s))
        for done in (root, work / f"home-{source}-{size:g}"):   # up to 200 MB each
            shutil.rmtree(done, ignore_errors=True)
    for _size, written, _distinct, res, again, gen_s in rows:
        rate = res["calls"] / res["seconds"]
        print(f"{source} import: {written / 1e6:,.0f} MB (generated in {gen_s:.0f}s), "
              f"{res['calls']:,} calls ({res['already']:,} lines already present) in "
              f"{res['seconds']:.1f}s = {rate:,.0f} calls/s, "
              f"{res['bytes'] / 1e6 / res['seconds']:.1f} MB/s; peak RSS {res['rss_mb']:.0f} MB "
              f"(+{res['rss_mb'] - res['base_mb']:.0f} MB over the process before the import); "
              f"re-import: {again['calls']} new in {again['seconds']:.1f}s")
    (_, _, _, small, _, _), (_, _, _, big, _, _) = rows
    print(f"{source} peak RSS over base: +{small['rss_mb'] - small['base_mb']:.0f} MB at "
          f"{mb / 4:g} MB, +{big['rss_mb'] - big['base_mb']:.0f} MB at {mb:g} MB")


if __name__ == "__main__":
    main()
