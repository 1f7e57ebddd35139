"""`teamcost agent` as a real subprocess against the real Firestore emulator: freshness,
kill -9 mid-push and mid-tail, Firestore down and back, replaced and truncated logs, one agent
per home, SIGTERM, and two members' agents crossing a budget (one alert)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from teamcost.config import load_config
from teamcost.emulator import free_port, start_emulator
from teamcost.ledger import Ledger
from teamcost.tracker import Tracker
from tests.sync_support import make_calls, server_totals

TEAMCOST = str(Path(sys.executable).parent / "teamcost")
FAST = ["--push-every", "0.5s", "--pull-every", "1s", "--check-every", "1s", "--otlp-port", "0"]


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 30.0,
             every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def write_home(home: Path, project: str, emulator_host: str, member: str = "ana@example.com",
               extra: str = "") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(textwrap.dedent(f"""\
        team = "core"
        member = "{member}"
        project = "{project}"
        emulator_host = "{emulator_host}"
        """) + extra)
    return home


class AgentProc:
    """A `teamcost agent` subprocess with its stderr in a file; always stopped by the test."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.log = home / f"agent-{time.monotonic_ns()}.log"
        # HOME too: the agent must not follow the logs of whoever runs the tests
        env = dict(os.environ, TEAMCOST_HOME=str(home), HOME=str(home / "user"))
        for var in ("TEAMCOST_MEMBER", "CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME"):
            env.pop(var, None)
        self.fh = self.log.open("wb")
        self.proc = subprocess.Popen([TEAMCOST, "agent", *FAST, *args], env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.fh,
                                     stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def started(self) -> None:
        wait_for("the agent to start", lambda: "agent: started" in self.text()
                 or self.proc.poll() is not None)
        assert self.proc.poll() is None, self.text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.fh.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.fh.close()


@pytest.fixture
def agents() -> Iterator[Callable[..., AgentProc]]:
    started: list[AgentProc] = []

    def start(home: Path, *args: str) -> AgentProc:
        a = AgentProc(home, *args)
        started.append(a)
        return a

    yield start
    for a in started:
        a.kill()


def ledger_totals(home: Path) -> tuple[int, int, int]:
    """(calls, sum of cost_nanos, unpushed) of the home's ledger, by plain SQL."""
    import sqlite3
    conn = sqlite3.connect(home / "ledger.db")
    try:
        n, s, u = conn.execute("SELECT count(*), coalesce(sum(cost_nanos), 0), "
                               "coalesce(sum(pushed_at IS NULL), 0) FROM calls").fetchone()
    finally:
        conn.close()
    return int(n), int(s), int(u)


def doc_exists(client: Any, call_id: str) -> bool:
    return client.collection("trinity_costs").document(call_id).get().exists


def cc_line(session: str, msg: str, ts: datetime, out: int, stop: str | None = "end_turn",
            model: str = "claude-sonnet-4-5") -> str:
    return json.dumps({
        "type": "assistant", "sessionId": session, "cwd": "/home/ana/src/shop",
        "requestId": f"req_{msg}", "timestamp": ts.isoformat().replace("+00:00", "Z"),
        "message": {"id": msg, "model": model, "role": "assistant", "stop_reason": stop,
                    "usage": {"input_tokens": 100, "output_tokens": out,
                              "cache_read_input_tokens": 1000,
                              "cache_creation_input_tokens": 0}}}) + "\n"


@pytest.mark.emulator
def test_a_log_line_and_an_api_call_reach_firestore_on_the_push_cadence(
        firestore_emulator, firestore_client, tmp_path: Path, agents) -> None:
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    projects = tmp_path / "claude" / "projects"
    (projects / "-home-ana-src-shop").mkdir(parents=True)
    # How fast is measured by benchmarks/freshness.py with the defaults; here the agent
    # pushes every 2 s (held at most 1 s more in a burst, plus its 1 s tick), and the
    # bound below leaves the emulator's commit time on a loaded machine out of it: the
    # test once failed at load 9 with a 10 s wall-clock bound on the 5 s cadence.
    agent = agents(home, "--claude-dir", str(projects), "--push-every", "2s")
    agent.started()
    now = datetime.now(UTC)
    log = projects / "-home-ana-src-shop" / "s1.jsonl"
    t0 = time.monotonic()
    with log.open("a") as fh:
        fh.write(cc_line("s1", "msg_1", now, 42))
    wait_for("the log line's call in Firestore", lambda: doc_exists(firestore_client,
                                                                    "cc-req-req_msg_1"),
             timeout=60)
    log_s = time.monotonic() - t0
    tracker = Tracker(load_config(home))
    t0 = time.monotonic()
    rec = tracker.record("gpt-4o", 1000, 100, call_id="api-call-1")
    tracker.close()
    wait_for("the API call in Firestore", lambda: doc_exists(firestore_client, rec.call_id),
             timeout=60)
    api_s = time.monotonic() - t0
    assert agent.stop() == 0, agent.text()
    assert log_s < 60 and api_s < 60
    assert server_totals(firestore_client) == ledger_totals(home)[:2]


@pytest.mark.emulator
def test_kill_9_mid_push_and_mid_tail_loses_and_duplicates_nothing(
        firestore_emulator, firestore_client, tmp_path: Path, agents) -> None:
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    with Ledger(home / "ledger.db") as led:     # a backlog the agent pushes in many batches
        led.record_many(make_calls(6000, "ana@example.com", "ana-laptop", seed=3))
    a = agents(home)
    a.started()
    # mid-push: some documents are in Firestore, not all
    wait_for("the push to be under way", lambda: 0 < server_totals(firestore_client)[0] < 6000,
             every=0.02)
    a.kill()
    projects = tmp_path / "projects"
    (projects / "p").mkdir(parents=True)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    with (projects / "p" / "big.jsonl").open("w") as fh:
        for i in range(60_000):
            fh.write(cc_line("big", f"msg_{i:06d}", start + timedelta(seconds=i), 10 + i % 97))
    b = agents(home, "--claude-dir", str(projects))
    b.started()
    # mid-tail: the big log is partly in the ledger
    wait_for("the tail to be under way", lambda: 6000 < ledger_totals(home)[0] < 66000,
             every=0.01)
    b.kill()
    c = agents(home, "--claude-dir", str(projects))
    c.started()
    wait_for("every call recorded and pushed",
             lambda: ledger_totals(home)[0] == 66000 and ledger_totals(home)[2] == 0,
             timeout=180, every=0.5)
    assert c.stop() == 0, c.text()
    n, total, unpushed = ledger_totals(home)
    assert (n, unpushed) == (66000, 0)
    assert server_totals(firestore_client) == (n, total)


@pytest.mark.emulator
def test_firestore_down_for_30s_then_back_everything_arrives_once(tmp_path: Path, agents,
                                                                  monkeypatch) -> None:
    port = free_port()
    emu = start_emulator(port=port)
    try:
        host = f"127.0.0.1:{port}"
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)
        project = "demo-agent-outage"
        home = write_home(tmp_path / "home", project, host)
        a = agents(home)
        a.started()
        tracker = Tracker(load_config(home))
        for i in range(20):
            tracker.record("gpt-4o", 1000 + i, 10)
        from google.cloud import firestore
        client = firestore.Client(project=project)
        wait_for("the first calls pushed and marked",
                 lambda: server_totals(client)[0] == 20 and ledger_totals(home)[2] == 0)
        # Firestore goes away keeping its data (exported, restarted from the export below)
        seed = emu.export(project, tmp_path / "export")
        emu.stop()
        stopped_at = time.monotonic()
        i = 0
        while time.monotonic() - stopped_at < 30:       # calls keep arriving meanwhile
            tracker.record("gpt-4o", 2000 + i, 10)
            i += 1
            time.sleep(0.25)
        tracker.close()
        wait_for("the agent to notice", lambda: "push-failed" in a.text(), timeout=15)
        assert ledger_totals(home)[2] == i               # captured, waiting
        emu = start_emulator(port=port, seed=seed)       # back on the same port
        wait_for("the backlog pushed", lambda: ledger_totals(home)[2] == 0, timeout=60)
        n, total, _ = ledger_totals(home)
        assert n == 20 + i
        assert server_totals(client) == (n, total)       # every call, once
        assert a.stop() == 0, a.text()
        client.close()
    finally:
        emu.stop()


@pytest.mark.emulator
def test_truncated_and_replaced_logs_count_nothing_twice(
        firestore_emulator, firestore_client, tmp_path: Path, agents) -> None:
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    projects = tmp_path / "projects"
    (projects / "p").mkdir(parents=True)
    t0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
    trunc = projects / "p" / "t.jsonl"
    repl = projects / "p" / "r.jsonl"
    trunc.write_text("".join(cc_line("t", f"t{i}", t0, 10 + i) for i in range(5)))
    repl.write_text("".join(cc_line("r", f"r{i}", t0, 20 + i) for i in range(5)))
    a = agents(home, "--claude-dir", str(projects))
    a.started()
    wait_for("10 calls", lambda: ledger_totals(home)[0] == 10)
    # truncated and rewritten: its first three lines again, then two new ones
    trunc.write_text("".join(cc_line("t", f"t{i}", t0, 10 + i) for i in range(3))
                     + "".join(cc_line("t", f"t{i}", t0, 10 + i) for i in (5, 6)))
    # replaced by a new file of the same name: two old calls and three new ones
    tmp = repl.with_suffix(".new")
    tmp.write_text("".join(cc_line("r", f"r{i}", t0, 20 + i) for i in (3, 4, 5, 6, 7)))
    os.replace(tmp, repl)
    wait_for("15 calls", lambda: ledger_totals(home)[0] == 15)
    wait_for("all pushed", lambda: ledger_totals(home)[2] == 0)
    time.sleep(2)          # a few more scans: still 15
    assert ledger_totals(home)[0] == 15
    with Ledger(home / "ledger.db") as led:
        ids = sorted(r.call_id for r in led.calls())
    assert ids == sorted([f"cc-req-req_t{i}" for i in range(7)]
                         + [f"cc-req-req_r{i}" for i in range(8)])
    assert server_totals(firestore_client) == ledger_totals(home)[:2]
    assert a.stop() == 0, a.text()


@pytest.mark.emulator
def test_one_agent_per_home_and_sigterm_exits_0_within_5s(
        firestore_emulator, tmp_path: Path, agents) -> None:
    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    first = agents(home)
    first.started()
    second = subprocess.run([TEAMCOST, "agent", "--otlp-port", "0"], capture_output=True,
                            text=True, env=dict(os.environ, TEAMCOST_HOME=str(home)),
                            timeout=60)
    assert second.returncode == 1
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("teamcost: error: ")
    assert f"pid {first.proc.pid}" in lines[0] and str(home) in lines[0]
    status = json.loads(subprocess.run([TEAMCOST, "agent", "status", "--format", "json"],
                                       capture_output=True, text=True, timeout=60,
                                       env=dict(os.environ, TEAMCOST_HOME=str(home))).stdout)
    assert status["running"] and status["pid"] == first.proc.pid
    # watch on a home an agent serves reads what the agent pulled, without a pull of its own
    watched = subprocess.run([TEAMCOST, "watch", "--once", "--format", "json"],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, TEAMCOST_HOME=str(home)))
    assert watched.returncode == 0, watched.stderr
    refreshed = json.loads(watched.stdout)["refreshed"]
    assert refreshed["pulled_by"] == "agent" and "pulled" not in refreshed
    tracker = Tracker(load_config(home))
    tracker.record("gpt-4o", 10, 1)
    tracker.close()
    t0 = time.monotonic()
    assert first.stop(signal.SIGTERM) == 0, first.text()
    assert time.monotonic() - t0 < 5
    assert "stopped" in first.text()
    st = subprocess.run([TEAMCOST, "agent", "status", "--format", "json"], capture_output=True,
                        text=True, timeout=60, env=dict(os.environ, TEAMCOST_HOME=str(home)))
    assert json.loads(st.stdout)["running"] is False
    # nothing lost: the call is in the ledger (pushed or waiting for the next agent)
    assert ledger_totals(home)[0] == 1


@pytest.mark.emulator
def test_two_members_agents_cross_the_budget_and_one_alert_is_delivered(
        firestore_emulator, firestore_client, tmp_path: Path, agents) -> None:
    from tests.system.test_budget_alerts import Hook

    hook = Hook()
    try:
        homes = [write_home(tmp_path / m, firestore_emulator.project, firestore_emulator.host,
                            member=f"{m}@example.com",
                            extra=f'[budget]\nwebhook_url = "{hook.url}"\n')
                 for m in ("ana", "ben")]
        from teamcost.budget.check import set_team_budget
        set_team_budget(load_config(homes[0]), "1", "month", "0.5", client=firestore_client)
        procs = [agents(h) for h in homes]
        for p in procs:
            p.started()
        # $0.30 each: together $0.60 of $1 crosses 50 %, neither alone does
        for h in homes:
            tracker = Tracker(load_config(h))
            for _ in range(3):
                tracker.record("gpt-4o", 40_000, 0)      # $0.10 each
            tracker.close()
        wait_for("the alert", lambda: len(hook.bodies) >= 1, timeout=30)
        time.sleep(3)                                     # several more checks by both agents
        assert len(hook.bodies) == 1, hook.bodies
        assert hook.bodies[0]["threshold"] == "50" and hook.bodies[0]["team"] == "core"
        alerts = list(firestore_client.collection("teamcost_alerts").stream())
        assert len(alerts) == 1
        for p in procs:
            assert p.stop() == 0, p.text()
    finally:
        hook.close()


@pytest.mark.emulator
def test_codex_and_gemini_cli_logs_are_followed_like_an_import(
        firestore_emulator, tmp_path: Path, agents) -> None:
    import shutil

    from teamcost.capture.logs.codex import import_codex
    from teamcost.capture.logs.gemini_cli import import_gemini_cli

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    codex_home = tmp_path / "codex"
    gemini_home = tmp_path / "gemini"
    shutil.copytree(fixtures / "codex", codex_home)
    shutil.copytree(fixtures / "gemini_cli", gemini_home)
    # what an import of the same trees records, into a ledger of its own
    ref_home = tmp_path / "reference"
    ref_home.mkdir()
    ref_cfg = load_config(ref_home, env={})
    import_codex(codex_home, ref_cfg)
    import_gemini_cli(gemini_home, ref_cfg)
    with Ledger(ref_cfg.ledger_file) as led:
        expected = sorted((r.call_id, r.cost_nanos) for r in led.calls())
    assert expected

    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host)
    a = agents(home, "--codex-dir", str(codex_home), "--gemini-dir", str(gemini_home))
    a.started()
    wait_for("the logs followed", lambda: ledger_totals(home)[0] == len(expected))
    assert a.stop() == 0, a.text()
    with Ledger(home / "ledger.db") as led:
        assert sorted((r.call_id, r.cost_nanos) for r in led.calls()) == expected


@pytest.mark.emulator
def test_otlp_from_the_real_sdk_exporters_and_one_call_by_two_paths_counts_once(
        firestore_emulator, tmp_path: Path, agents) -> None:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    import requests
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from tests.system.test_otlp_receiver import (CONFIG, check_cc, check_spans,
                                                 claude_code_logs, genai_spans, to_otlp_json)

    home = write_home(tmp_path / "home", firestore_emulator.project, firestore_emulator.host,
                      member="tester@example.com",
                      extra="\n".join(CONFIG.splitlines()[1:]) + "\n")
    port = free_port()
    a = agents(home, "--otlp-port", str(port))
    a.started()
    wait_for("the receiver", lambda: f"127.0.0.1:{port}" in a.text())
    logs, spans = claude_code_logs(), genai_spans()
    # logs as protobuf through the SDK's exporter; spans as OTLP/JSON (the Python SDK has no
    # JSON exporter: its own encoding of the spans, written as OTLP/JSON)
    OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs").export(logs)
    resp = requests.post(f"http://127.0.0.1:{port}/v1/traces", data=to_otlp_json(
        encode_spans(spans)), headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 200, resp.text
    wait_for("the telemetry recorded", lambda: ledger_totals(home)[0] == 3)
    with Ledger(home / "ledger.db") as led:
        rows = {r.call_id: r for r in led.calls()}
    check_cc(rows)
    fail = next(s for s in spans if s.status.status_code.name == "ERROR")
    check_spans(rows, f"{fail.context.trace_id:032x}", f"{fail.context.span_id:016x}")
    # the same calls again in the other encodings (a resend): nothing new
    resp = requests.post(f"http://127.0.0.1:{port}/v1/logs", data=to_otlp_json(
        encode_logs(logs)), headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 200, resp.text
    OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces").export(spans)
    time.sleep(1.5)
    assert ledger_totals(home)[0] == 3
    assert a.stop() == 0, a.text()

    # both paths on: the agent follows Claude Code's transcripts AND receives its telemetry;
    # joined on the request id: the transcript's request once, the requests only telemetry
    # saw (session titles...) counted too
    home2 = write_home(tmp_path / "home2", firestore_emulator.project, firestore_emulator.host,
                       member="tester@example.com")
    projects = tmp_path / "claude" / "projects"
    (projects / "-home-ana-src-shop").mkdir(parents=True)
    (projects / "-home-ana-src-shop" / "sess-42.jsonl").write_text(
        cc_line("sess-42", "msg_01", datetime(2026, 11, 20, 9, 30, 4, tzinfo=UTC), 7238))
    port2 = free_port()
    b = agents(home2, "--otlp-port", str(port2), "--claude-dir", str(projects))
    b.started()
    wait_for("the transcript's call", lambda: ledger_totals(home2)[0] == 1)
    OTLPLogExporter(endpoint=f"http://127.0.0.1:{port2}/v1/logs").export(logs)
    time.sleep(1.5)
    with Ledger(home2 / "ledger.db") as led:
        got = {r.call_id: r.tags["source"] for r in led.calls()}
    only_telemetry = {k: "claude-code-otel" for k in rows if k.startswith("cc-")}
    assert got == {"cc-req-req_msg_01": "claude-code", **only_telemetry}
    assert b.stop() == 0, b.text()


def test_json_logs_are_one_object_per_line_and_bad_options_are_one_line(
        tmp_path: Path, agents) -> None:
    home = tmp_path / "home"
    home.mkdir()
    a = agents(home, "--log-format", "json", "--claude-dir", str(tmp_path / "none"))
    wait_for("the agent to start", lambda: '"started"' in a.text() or a.proc.poll() is not None)
    assert a.stop() == 0, a.text()
    events = [json.loads(line) for line in a.text().splitlines()]
    assert [e["event"] for e in events][0] == "started"
    assert [e["event"] for e in events][-2:] == ["stopping", "stopped"]
    assert events[0]["project"] is None and events[0]["otlp"] is None   # --otlp-port 0
    env = dict(os.environ, TEAMCOST_HOME=str(home))
    for args, needle in ((["--push-every", "soon"], "invalid --push-every: 'soon'"),
                         (["--pull-every", "0s"], "invalid --pull-every: '0s'"),
                         (["--log-format", "xml"], "invalid --log-format: 'xml'"),
                         (["--otlp-port", "70000"], "invalid --otlp-port: 70000"),
                         (["--claude-dir", str(home / "config.toml")], "invalid --claude-dir")):
        if args[0] == "--claude-dir":
            (home / "config.toml").write_text('team = "core"\n')
        res = subprocess.run([TEAMCOST, "agent", *args], capture_output=True, text=True,
                             env=env, timeout=60)
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], res.stderr
