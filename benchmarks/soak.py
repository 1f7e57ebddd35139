"""Soak: `teamcost agent` as a subprocess for N minutes under mixed load and faults.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--burst 200] [--every 30]

Load, all the time: Claude Code-shaped transcripts appended (a few lines a second) and rotated
(every minute the session file is renamed aside and a new one started; rotated files are
deleted three rotations later), and OTLP bursts: ``--burst`` concurrent HTTP clients each
posting one GenAI span every ``--every`` seconds (a request not answered 200 is sent again in
the next burst, as an exporter retries). Faults, each once:

- Firestore down: at 35% of the run the agent's path to the emulator is cut (a TCP proxy in
  between, so nothing is in flight while the data is exported), the emulator is exported,
  stopped, and after 60 s started again on the same port from its export;
- the ledger read-only: at 65% of the run, for 60 s, ``chattr +i`` on the ledger's -wal file
  (the tests' way of making it unwritable to root, see tests/system/test_agent_faults.py):
  SQLite then fails every write with "disk I/O error" (needs root; skipped and said so
  otherwise).

Printed: the agent's exits (must be 0; an exited agent is restarted and counted), its RSS
after the warm-up (the mean over the 30 s after it) and at the end (the mean over the last
30 s), the growth (target < 10%) beside the same figure for a control agent run alongside with
no load and no faults (the baseline, as a ratio); then the calls generated, the ledger's
count and integer sum of cost_nanos and Firestore's (must be equal), and what the load saw.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from teamcost.capture.logs.claude_code import claude_code_call_id  # noqa: E402
from teamcost.emulator import free_port, start_emulator  # noqa: E402
from tests.sync_support import TcpProxy  # noqa: E402

TEAMCOST = str(Path(sys.executable).parent / "teamcost")
PROJECT = "demo-soak"
SAMPLE_S = 5.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Agent:
    """An agent subprocess; restarted (and counted) if it exits."""

    def __init__(self, home: Path, args: list[str], trace: Path | None = None) -> None:
        self.home, self.args, self.trace = home, args, trace
        self.exits: list[int] = []
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ, TEAMCOST_HOME=str(self.home), HOME=str(self.home / "user"))
        for var in ("TEAMCOST_MEMBER", "CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME",
                    "FIRESTORE_EMULATOR_HOST"):
            env.pop(var, None)
        fh = (self.home / "agent.log").open("ab")
        cmd = [TEAMCOST]
        if self.trace is not None:
            env["SOAK_TRACE_DIR"] = str(self.trace)
            env.setdefault("SOAK_TRACE_FRAMES", "15")
            cmd = [sys.executable, str(ROOT / "benchmarks" / "agent_traced.py")]
        return subprocess.Popen([*cmd, "agent", *self.args], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=fh)

    def check(self) -> None:
        code = self.proc.poll()
        if code is not None:
            self.exits.append(code)
            log(f"agent in {self.home.name} EXITED with {code}; restarting it")
            self.proc = self._start()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def cc_line(session: str, msg: str, out: int) -> str:
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({
        "type": "assistant", "sessionId": session, "cwd": "/home/ana/src/shop",
        "requestId": f"req_{msg}", "timestamp": ts,
        "message": {"id": msg, "model": "claude-sonnet-4-5", "role": "assistant",
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 100 + out % 7, "output_tokens": out,
                              "cache_read_input_tokens": 1000,
                              "cache_creation_input_tokens": 0}}}) + "\n"


class Logs(threading.Thread):
    """Appends Claude Code lines, rotates the session file every minute."""

    def __init__(self, folder: Path, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.folder, self.stop_ = folder, stop
        self.ids: set[str] = set()
        self.rotations = 0

    def run(self) -> None:
        rnd = random.Random(23)
        n = 0
        session = 0
        current = self.folder / f"s{session}.jsonl"
        rotated: list[Path] = []
        next_rotation = time.monotonic() + 60
        while not self.stop_.wait(0.5):
            with current.open("a") as fh:
                for _ in range(rnd.randint(1, 3)):
                    n += 1
                    msg = f"msg_{n:08d}"
                    fh.write(cc_line(f"s{session}", msg, 10 + n % 500))
                    self.ids.add(claude_code_call_id(msg, f"req_{msg}"))
            if time.monotonic() >= next_rotation:
                aside = current.with_name(f"{current.stem}-rotated.jsonl")
                os.replace(current, aside)          # still followed: read again, counted once
                rotated.append(aside)
                if len(rotated) > 3:
                    rotated.pop(0).unlink()
                session += 1
                current = self.folder / f"s{session}.jsonl"
                self.rotations += 1
                next_rotation += 60


def span_body(trace: str, span: str) -> bytes:
    attrs = [{"key": "gen_ai.system", "value": {"stringValue": "openai"}},
             {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
             {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
             {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}},
             {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "150"}}]
    end = time.time_ns()
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {
        "name": "soak"}, "spans": [{"traceId": trace, "spanId": span, "name": "chat", "kind": 3,
                                    "startTimeUnixNano": str(end - 800_000_000),
                                    "endTimeUnixNano": str(end), "attributes": attrs}]}]}]}
                      ).encode()


class Bursts(threading.Thread):
    """Every ``every`` s, ``size`` concurrent clients; a request not answered 200 is sent
    again in a later burst (until it is)."""

    def __init__(self, port: int, size: int, every: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.size, self.every, self.stop_ = port, size, every, stop
        self.ids: set[str] = set()
        self.pending: list[tuple[str, str]] = []
        self.sent = self.ok = self.bursts = 0
        self.refused: dict[str, int] = {}

    def post(self, trace: str, span: str) -> int | str:
        body = span_body(trace, span)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("POST", "/v1/traces", body=body,
                         headers={"Content-Type": "application/json"})
            status = conn.getresponse().status
            conn.close()
            return status
        except OSError as exc:
            return type(exc).__name__

    def burst(self, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
        go = threading.Barrier(len(items))
        out: list[Any] = [None] * len(items)

        def one(i: int) -> None:
            go.wait()
            out[i] = self.post(*items[i])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(items))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = []
        for item, status in zip(items, out):
            self.sent += 1
            if status == 200:
                self.ok += 1
            else:
                self.refused[str(status)] = self.refused.get(str(status), 0) + 1
                failed.append(item)
        return failed

    def run(self) -> None:
        b = 0
        while not self.stop_.wait(self.every):
            self.flush_burst(b)
            b += 1

    def flush_burst(self, b: int) -> None:
        items = list(self.pending)
        for i in range(self.size - len(items)):
            trace, span = f"{b + 1:016x}{i + 1:016x}", f"{i + 1:016x}"
            self.ids.add(f"otel-{trace}-{span}")
            items.append((trace, span))
        self.pending = self.burst(items)
        self.bursts += 1

    def finish(self, deadline: float) -> None:
        while self.pending and time.monotonic() < deadline:
            self.pending = self.burst(self.pending)
            time.sleep(1)


def ledger_totals(home: Path) -> tuple[int, int, int, set[str]]:
    conn = sqlite3.connect(f"file:{home / 'ledger.db'}?mode=ro", uri=True, timeout=30)
    try:
        n, s, u = conn.execute("SELECT count(*), coalesce(sum(cost_nanos), 0), "
                               "coalesce(sum(pushed_at IS NULL), 0) FROM calls").fetchone()
        ids = {r[0] for r in conn.execute("SELECT call_id FROM calls")}
    finally:
        conn.close()
    return int(n), int(s), int(u), ids


def firestore_totals(host: str) -> tuple[int, int]:
    """(documents, integer sum of cost_nanos), summed here from every document."""
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    from google.cloud import firestore
    client = firestore.Client(project=PROJECT)
    try:
        n = total = 0
        for doc in client.collection("trinity_costs").select(["cost_nanos"]).stream():
            n += 1
            total += int(doc.get("cost_nanos"))
        return n, total
    finally:
        client.close()


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--burst", type=int, default=200, help="concurrent OTLP requests per burst")
    ap.add_argument("--every", type=float, default=30.0, help="seconds between bursts")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--no-outage", action="store_true", help="keep Firestore up")
    ap.add_argument("--no-readonly", action="store_true", help="keep the ledger writable")
    ap.add_argument("--trace", type=Path, default=None,
                    help="run the loaded agent under tracemalloc (benchmarks/agent_traced.py) "
                         "and write snapshots into this folder: after warm-up, before and "
                         "after the outage, at the end")
    a = ap.parse_args()
    total_s = a.minutes * 60
    warmup_s = 60.0 if a.minutes <= 10 else 180.0
    can_chattr = os.geteuid() == 0 and shutil.which("chattr") is not None
    work = Path(tempfile.mkdtemp(prefix="teamcost-soak-"))
    port = free_port()
    emu = start_emulator(port=port)
    proxy = TcpProxy(emu.host)
    homes = {}
    for name, project in (("loaded", True), ("control", False)):
        home = work / name
        (home / "user").mkdir(parents=True)
        lines = ['team = "core"', f'member = "{name}@example.com"']
        if project:
            lines += [f'project = "{PROJECT}"', f'emulator_host = "{proxy.host}"']
        (home / "config.toml").write_text("\n".join(lines) + "\n")
        homes[name] = home
    claude = work / "claude" / "projects" / "-home-ana-src-shop"
    claude.mkdir(parents=True)
    (work / "control-claude").mkdir()
    otlp_port = free_port()
    agent = Agent(homes["loaded"], ["--claude-dir", str(claude.parent), "--otlp-port",
                                    str(otlp_port), "--push-every", "2s", "--pull-every", "15s",
                                    "--check-every", "30s"], trace=a.trace)
    if a.trace is not None:
        a.trace.mkdir(parents=True, exist_ok=True)

    def snap(why: str) -> None:
        if a.trace is not None and agent.proc.poll() is None:
            log(f"tracemalloc snapshot: {why}")
            agent.proc.send_signal(signal.SIGUSR1)
    warm_snapped = False
    control = Agent(homes["control"], ["--claude-dir", str(work / "control-claude"),
                                       "--otlp-port", "0"])
    log(f"work folder {work}; emulator {emu.host} behind proxy {proxy.host}; "
        f"{a.minutes:g} min, warm-up {warmup_s:.0f} s")
    deadline = time.monotonic() + 60
    while not (homes["loaded"] / "agent-status.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    stop = threading.Event()
    logs = Logs(claude, stop)
    bursts = Bursts(otlp_port, a.burst, a.every, stop)
    logs.start()
    if a.burst > 0:
        bursts.start()
    t0 = time.monotonic()
    samples: list[tuple[float, float, float]] = []     # (t, loaded RSS, control RSS)
    outage_at, readonly_at = 0.35 * total_s, 0.65 * total_s
    outage_done, readonly_done = a.no_outage, a.no_readonly
    wal = homes["loaded"] / "ledger.db-wal"
    readonly_s = 0.0
    try:
        while (t := time.monotonic() - t0) < total_s:
            agent.check()
            control.check()
            r1, r2 = rss_mb(agent.proc.pid), rss_mb(control.proc.pid)
            if r1 is not None and r2 is not None:
                samples.append((t, r1, r2))
            if not warm_snapped and t >= warmup_s + 30:
                warm_snapped = True
                snap("after warm-up")
            if not outage_done and t >= outage_at:
                outage_done = True
                snap("before the outage")
                time.sleep(3)
                log("Firestore down: path cut, emulator exported and stopped")
                proxy.refuse = True
                proxy.cut_all()
                time.sleep(1)
                seed = emu.export(PROJECT, work / "export")
                emu.stop()
                time.sleep(60)
                emu = start_emulator(port=port, seed=seed)
                proxy.refuse = False
                log("Firestore back on the same port, from its export")
                snap("right after the outage")
                continue
            if not readonly_done and t >= readonly_at:
                readonly_done = True
                if not can_chattr:
                    log("ledger read-only phase SKIPPED: needs root and chattr")
                    continue
                log("ledger read-only for 60 s (chattr +i on its -wal)")
                started = time.monotonic()
                subprocess.run(["chattr", "+i", str(wal)], check=True)
                try:
                    end = started + 60
                    while time.monotonic() < end:
                        agent.check()
                        r1, r2 = rss_mb(agent.proc.pid), rss_mb(control.proc.pid)
                        if r1 is not None and r2 is not None:
                            samples.append((time.monotonic() - t0, r1, r2))
                        time.sleep(SAMPLE_S)
                finally:
                    subprocess.run(["chattr", "-i", str(wal)], check=True)
                readonly_s = time.monotonic() - started
                log("ledger writable again")
                continue
            time.sleep(SAMPLE_S)
        stop.set()
        logs.join(10)
        if a.burst > 0:
            bursts.join(300)
        bursts.finish(time.monotonic() + 120)
        log("load stopped; waiting for every call to be recorded and pushed")
        expected = logs.ids | bursts.ids
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            agent.check()
            n, s, unpushed, ids = ledger_totals(homes["loaded"])
            if expected <= ids and unpushed == 0:
                break
            time.sleep(2)
        snap("at the end")
        time.sleep(3 if a.trace is not None else 0)
        fs = firestore_totals(emu.host)
        n, s, unpushed, ids = ledger_totals(homes["loaded"])
        agent.check()
        end_rss = [r for (tt, r, _) in samples if tt >= samples[-1][0] - 30]
        end_ctl = [c for (tt, _, c) in samples if tt >= samples[-1][0] - 30]
        warm_rss = [r for (tt, r, _) in samples if warmup_s <= tt <= warmup_s + 30]
        warm_ctl = [c for (tt, _, c) in samples if warmup_s <= tt <= warmup_s + 30]
        code = agent.stop()
        control.stop()
        growth = 100 * (mean(end_rss) - mean(warm_rss)) / mean(warm_rss)
        ctl_growth = 100 * (mean(end_ctl) - mean(warm_ctl)) / mean(warm_ctl)
        print()
        print(f"soak: {a.minutes:g} min, {len(samples)} samples, OTLP bursts of {a.burst} "
              f"every {a.every:g} s, Firestore down once (60 s + restart), ledger read-only "
              f"{readonly_s:.0f} s")
        print(f"  agent exits during the run:   {len(agent.exits)} {agent.exits or ''} "
              f"(SIGTERM at the end: exit {code})")
        print(f"  RSS after warm-up ({warmup_s:.0f} s):  {mean(warm_rss):.1f} MB")
        print(f"  RSS at the end:               {mean(end_rss):.1f} MB")
        print(f"  RSS growth:                   {growth:+.1f}% (target < 10%); control agent, "
              f"no load: {ctl_growth:+.1f}% ({mean(warm_ctl):.1f} -> {mean(end_ctl):.1f} MB); "
              f"ratio to target {growth / 10:.2f}")
        print(f"  calls generated:              {len(expected):,} ({len(logs.ids):,} from logs, "
              f"{logs.rotations} rotations; {len(bursts.ids):,} by OTLP in {bursts.bursts} "
              f"bursts, {bursts.sent:,} requests, {bursts.ok:,} answered 200, re-sent "
              f"{sum(bursts.refused.values()):,}: {bursts.refused or 'none'})")
        print(f"  ledger:                       {n:,} calls, sum cost_nanos {s:,}, "
              f"unpushed {unpushed}, missing {len(expected - ids)}")
        print(f"  Firestore:                    {fs[0]:,} documents, sum cost_nanos {fs[1]:,}")
        same = fs == (n, s) and unpushed == 0 and expected <= ids
        print(f"  equal (count and sum): {'yes' if same else 'NO'}; exits none: "
              f"{'yes' if not agent.exits else 'NO'}; growth < 10%: "
              f"{'yes' if growth < 10 else 'NO'}")
        series = []
        for minute in range(int(samples[-1][0] // 60) + 1):
            at = [r for (tt, r, _) in samples if minute * 60 <= tt < (minute + 1) * 60]
            if at:
                series.append(f"{mean(at):.0f}")
        print(f"  RSS by minute (MB):           {' '.join(series)}")
        print(f"  agent log: {homes['loaded'] / 'agent.log'}")
    finally:
        stop.set()
        if can_chattr and wal.exists():
            subprocess.run(["chattr", "-i", str(wal)], check=False)
        for ag in (agent, control):
            if ag.proc.poll() is None:
                ag.proc.kill()
                ag.proc.wait()
        proxy.close()
        emu.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
