"""The real Claude Code CLI (pinned npm package, a native binary) run offline against a
fake Messages API; teamcost's numbers must equal what that server billed, request by
request and every token kind."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from messages_server import Billed, MessagesServer  # noqa: E402
from real_clis import claude_env, cli  # noqa: E402

from teamcost.capture.logs.claude_code import import_claude_code  # noqa: E402
from teamcost.config import load_config  # noqa: E402
from teamcost.ledger import Ledger  # noqa: E402
from teamcost.models import CallRecord  # noqa: E402
from teamcost.pricing import extras_from_tags  # noqa: E402


@pytest.fixture
def api() -> MessagesServer:
    s = MessagesServer()
    yield s
    s.close()


def run_print(tmp: Path, api: MessagesServer, prompt: str, otlp: str | None = None) -> str:
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    p = subprocess.run([str(cli("claude")), "-p", prompt, "--dangerously-skip-permissions"],
                       env=claude_env(tmp, api.url, otlp), cwd=work, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def request_of(rec: CallRecord) -> str | None:
    return rec.tags.get("request_id") or (rec.call_id.rsplit("-", 1)[-1]
                                          if rec.call_id.startswith("cc-") else None)


def assert_same_as_billed(calls: list[CallRecord], billed: list[Billed]) -> None:
    """Each billed request once, every token kind equal, and so the totals."""
    by_req: dict[str, list[CallRecord]] = {}
    for c in calls:
        by_req.setdefault(request_of(c) or c.call_id, []).append(c)
    assert sorted(by_req) == sorted(b.request_id for b in billed)
    for b in billed:
        (c,) = by_req[b.request_id]
        got = (c.model, c.input_tokens, c.output_tokens, c.cache_read_tokens,
               c.cache_write_tokens, extras_from_tags(c.tags)[0])
        assert got == (b.model, b.input_tokens, b.output_tokens, b.cache_read_tokens,
                       b.cache_write_tokens, b.cache_write_1h_tokens), b
    for kind in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        assert sum(getattr(c, kind) for c in calls) == sum(getattr(b, kind) for b in billed)


def ledger_calls() -> list[CallRecord]:
    with Ledger.for_config(load_config()) as led:
        return list(led.calls())


def test_print_mode_with_tools_and_a_subagent_is_exact(tmp_path: Path, api: MessagesServer
                                                       ) -> None:
    run_print(tmp_path, api, "RUN_BASH now")
    run_print(tmp_path, api, "RUN_AGENT now")
    kinds = [b.kind for b in api.billed]
    assert "subagent" in kinds and "after-tool" in kinds
    assert any('"name": "Bash"' in str(r[3]) or "Bash" in str(r[3]) for r in api.requests)
    projects = tmp_path / "home" / ".claude" / "projects"
    subagent_files = list(projects.rglob("subagents/agent-*.jsonl"))
    assert subagent_files, "the CLI wrote no subagent transcript"
    result = import_claude_code(projects, load_config())
    assert result.skipped == 0, result.bad
    calls = ledger_calls()
    assert_same_as_billed(calls, api.billed)
    assert result.imported == len(api.billed)
    # importing again adds nothing
    again = import_claude_code(projects, load_config())
    assert again.imported == 0 and len(ledger_calls()) == len(api.billed)


# -- interactive, with telemetry, under the agent --

from real_clis import OtlpCapture, claude_interactive_config, drain, wait_pty  # noqa: E402

from tests.system.test_agent import TEAMCOST, agents, wait_for  # noqa: E402,F401
from teamcost.emulator import free_port  # noqa: E402


def interactive(tmp: Path, api: MessagesServer, prompt: str, otlp: str | None,
                until: Any, interrupt_when: Any = None) -> None:
    """One prompt in the interactive CLI (a pty); waits for ``until()``, then quits.
    Non-essential traffic stays allowed: the session-title request is part of it (there is
    no network here, so nothing else leaves the machine)."""
    import pexpect
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    claude_interactive_config(tmp, work)
    env = claude_env(tmp, api.url, otlp)
    env.pop("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC")
    child = pexpect.spawn(str(cli("claude")), ["--dangerously-skip-permissions"], env=env,
                          cwd=str(work), dimensions=(40, 120), timeout=30)
    try:
        drain(child, 3)
        child.send(prompt)
        drain(child, 0.5)
        child.send("\r")
        if interrupt_when is not None:
            wait_pty(child, "the stream to stall", interrupt_when)
            drain(child, 0.5)
            child.send("\x1b")                # Esc: Claude Code's interrupt
            drain(child, 2)
        wait_pty(child, "the session's requests", until)
        drain(child, 1.5)
        child.sendcontrol("c")
        drain(child, 0.3)
        child.sendcontrol("c")
        drain(child, 3)                       # exits, flushing its telemetry
    finally:
        child.close(force=True)


def write_capture_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('team = "core"\nmember = "ana@example.com"\n')
    return home


def post_all(port: int, capture: OtlpCapture) -> None:
    import requests
    for path, ctype, body in capture.posts:
        if path == "/v1/logs":
            r = requests.post(f"http://127.0.0.1:{port}{path}", data=body,
                              headers={"Content-Type": ctype}, timeout=10)
            assert r.status_code == 200, r.text


def test_interactive_title_request_counted_once_whichever_witness_first_and_kill_9(
        tmp_path: Path, api: MessagesServer, agents) -> None:  # noqa: F811
    capture = OtlpCapture()
    try:
        interactive(tmp_path, api, "RUN_BASH now", capture.url, until=lambda: (
            len(api.billed) >= 3 and len(capture.api_requests()) >= 3))
        drain_deadline = time.monotonic() + 10
        while len(capture.api_requests()) < len(api.billed) and time.monotonic() < drain_deadline:
            time.sleep(0.2)
    finally:
        capture.close()
    kinds = sorted(b.kind for b in api.billed)
    assert kinds == ["after-tool", "main", "title"], kinds
    assert sorted(capture.api_requests()) == sorted(b.request_id for b in api.billed)
    title = next(b.request_id for b in api.billed if b.kind == "title")
    projects = tmp_path / "home" / ".claude" / "projects"

    # transcript first: the agent records the transcript's calls, is killed -9 before the
    # telemetry arrives; a new agent receives it: the title request is added, nothing twice
    home = write_capture_home(tmp_path / "tc-a")
    port = free_port()
    a = agents(home, "--otlp-port", str(port), "--claude-dir", str(projects))
    a.started()
    wait_for("the transcript's calls", lambda: len(calls_of(home)) == 2)
    a.kill()
    b = agents(home, "--otlp-port", str(port), "--claude-dir", str(projects))
    b.started()
    post_all(port, capture)
    wait_for("the title request", lambda: len(calls_of(home)) == 3)
    post_all(port, capture)                   # an exporter's retry: nothing new
    time.sleep(1.5)
    got = calls_of(home)
    assert_same_as_billed(got, api.billed)
    assert {request_of(c): c.tags["source"] for c in got} == {
        b.request_id: "claude-code-otel" if b.request_id == title else "claude-code"
        for b in api.billed}
    assert "disagree" not in b.text()
    assert b.stop() == 0, b.text()

    # telemetry first: an agent that does not follow the transcripts yet records all three
    # from telemetry, is killed -9; a new one follows the transcripts: nothing added
    home2 = write_capture_home(tmp_path / "tc-b")
    port2 = free_port()
    c = agents(home2, "--otlp-port", str(port2), "--claude-dir", str(tmp_path / "none"))
    c.started()
    post_all(port2, capture)
    wait_for("the telemetry's calls", lambda: len(calls_of(home2)) == 3)
    c.kill()
    d = agents(home2, "--otlp-port", "0", "--claude-dir", str(projects))
    d.started()
    files = len(list(projects.rglob("*.jsonl")))
    wait_for("the transcripts read", lambda: files_read(home2) >= files)
    time.sleep(1.5)                           # a further tick or two: still nothing new
    got2 = calls_of(home2)
    assert_same_as_billed(got2, api.billed)
    assert {c.tags["source"] for c in got2} == {"claude-code-otel"}
    assert "disagree" not in d.text()
    assert d.stop() == 0, d.text()


def calls_of(home: Path) -> list[CallRecord]:
    if not (home / "ledger.db").exists():
        return []
    with Ledger(home / "ledger.db") as led:
        return list(led.calls())


def files_read(home: Path) -> int:
    """Transcripts the agent has read to their end (its progress in the ledger)."""
    import sqlite3
    conn = sqlite3.connect(home / "ledger.db")
    try:
        return conn.execute("SELECT count(*) FROM log_files WHERE source = 'claude-code' "
                            "AND offset = size").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_an_interrupted_stream_is_recorded_as_estimated(tmp_path: Path, api: MessagesServer
                                                        ) -> None:
    interactive(tmp_path, api, "STALL now", None, until=lambda: True,
                interrupt_when=api.stalled.is_set)
    stalled = [b for b in api.billed if b.kind == "stall"]
    assert len(stalled) == 1 and not stalled[0].complete
    projects = tmp_path / "home" / ".claude" / "projects"
    result = import_claude_code(projects, load_config())
    assert result.skipped == 0, result.bad
    calls = {request_of(c): c for c in ledger_calls()}
    got = calls[stalled[0].request_id]
    # never silently exact: the numbers the transcript had when the stream stopped
    assert got.estimated
    assert (got.input_tokens, got.cache_read_tokens, got.cache_write_tokens) == (
        stalled[0].input_tokens, stalled[0].cache_read_tokens, stalled[0].cache_write_tokens)
    assert result.estimated == 1 and "1 interrupted (recorded as estimated)" in result.summary()
    # with telemetry off, the title request never reaches teamcost: that is what the
    # agent's status says is not counted
    assert set(calls) == {b.request_id for b in api.billed if b.kind != "title"}


def test_agent_status_says_when_claude_code_telemetry_is_off(tmp_path: Path,
                                                           api: MessagesServer, agents
                                                           ) -> None:  # noqa: F811
    run_print(tmp_path, api, "RUN_BASH now")
    projects = tmp_path / "home" / ".claude" / "projects"
    home = write_capture_home(tmp_path / "tc")
    a = agents(home, "--claude-dir", str(projects))
    a.started()
    wait_for("the transcript's calls", lambda: len(calls_of(home)) == len(api.billed))
    wait_for("the snapshot", lambda: (home / "agent-status.json").exists()
             or any(home.glob("*status*.json")))
    env = dict(os.environ, TEAMCOST_HOME=str(home), HOME=str(home / "user"))
    env.pop("CLAUDE_CONFIG_DIR", None)
    out = wait_for("status to say so", lambda: (lambda r: r.stdout if "telemetry is off" in
                                                r.stdout else None)(subprocess.run(
        [TEAMCOST, "agent", "status"], env=env, capture_output=True, text=True, timeout=60)))
    assert "session titles" in out and "claude-code-setup" in out
    rep = subprocess.run([TEAMCOST, "report", "--since", "7d", "--source", "local",
                          "--offline"], env=env, capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    assert "warning: this machine: Claude Code telemetry is off" in rep.stderr
    assert a.stop() == 0, a.text()
