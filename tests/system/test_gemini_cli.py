"""The real Gemini CLI (pinned npm package) run offline against a fake Gemini API, with
its OpenTelemetry on: the agent counts the replies from its chat files and the router
(utility) calls, which only its telemetry reports; together they equal what the server
billed, each call once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gemini_api_server import GeminiApiServer  # noqa: E402
from real_clis import OtlpCapture, cli  # noqa: E402

from teamcost.emulator import free_port  # noqa: E402
from teamcost.ledger import Ledger  # noqa: E402
from tests.system.test_agent import agents, wait_for  # noqa: E402,F401


@pytest.fixture
def api() -> GeminiApiServer:
    s = GeminiApiServer()
    yield s
    s.close()


def gemini_prompt(tmp: Path, api: GeminiApiServer, prompt: str, otlp: str | None) -> None:
    """``gemini -p`` with its home under ``tmp``, the API at the fake, telemetry (OTLP over
    HTTP) to ``otlp`` when given."""
    conf = tmp / ".gemini"
    conf.mkdir(exist_ok=True)
    settings: dict = {"security": {"auth": {"selectedType": "gemini-api-key"}},
                      "general": {"disableAutoUpdate": True},
                      "privacy": {"usageStatisticsEnabled": False}}
    if otlp:
        settings["telemetry"] = {"enabled": True, "target": "local", "otlpEndpoint": otlp,
                                 "otlpProtocol": "http", "logPrompts": False}
    (conf / "settings.json").write_text(json.dumps(settings))
    (tmp / "work").mkdir(exist_ok=True)
    (tmp / "tmp").mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
           "TMPDIR": str(tmp / "tmp"), "GEMINI_API_KEY": "offline-key",
           "GOOGLE_GEMINI_BASE_URL": api.url, "TERM": "dumb",
           "GEMINI_CLI_TRUST_WORKSPACE": "true"}
    p = subprocess.run([str(cli("gemini")), "-p", prompt, "--yolo"], env=env, cwd=tmp / "work",
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]


def test_gemini_replies_and_router_calls_each_once(tmp_path: Path, api: GeminiApiServer,
                                                    agents) -> None:  # noqa: F811
    capture = OtlpCapture()
    try:
        gemini_prompt(tmp_path, api, "say hi", capture.url)
        gemini_prompt(tmp_path, api, "say hi again", capture.url)
    finally:
        capture.close()
    kinds = [b.kind for b in api.billed]
    assert kinds.count("json") >= 2 and kinds.count("chat") >= 2, kinds
    home = tmp_path / "tc"
    home.mkdir()
    (home / "config.toml").write_text('team = "core"\nmember = "ana@example.com"\n')
    port = free_port()
    a = agents(home, "--otlp-port", str(port), "--gemini-dir", str(tmp_path / ".gemini"))
    a.started()
    import requests
    for _ in range(2):                        # the second time: an exporter's retry
        for path, ctype, body in capture.posts:
            if path == "/v1/logs":
                r = requests.post(f"http://127.0.0.1:{port}{path}", data=body,
                                  headers={"Content-Type": ctype}, timeout=10)
                assert r.status_code == 200, r.text

    def calls() -> list:
        if not (home / "ledger.db").exists():
            return []
        with Ledger(home / "ledger.db") as led:
            return list(led.calls())

    wait_for("every billed call", lambda: len(calls()) >= len(api.billed))
    time.sleep(1.5)
    got = calls()
    assert len(got) == len(api.billed)
    router = {c.tags["response_id"]: c for c in got if c.tags.get("source") == "gemini-cli-otel"}
    assert set(router) == {b.response_id for b in api.billed if b.kind == "json"}
    for b in api.billed:
        if b.kind == "json":
            c = router[b.response_id]
            assert (c.model, c.input_tokens, c.cache_read_tokens, c.output_tokens,
                    c.tags["role"]) == (b.model, b.prompt_tokens - b.cached_tokens,
                                        b.cached_tokens,
                                        b.candidates_tokens + b.thoughts_tokens,
                                        "utility_router"), b
    for kind, want in (("input_tokens", lambda b: b.prompt_tokens - b.cached_tokens),
                       ("cache_read_tokens", lambda b: b.cached_tokens),
                       ("output_tokens", lambda b: b.candidates_tokens + b.thoughts_tokens)):
        assert sum(getattr(c, kind) for c in got) == sum(want(b) for b in api.billed), kind
    assert a.stop() == 0, a.text()
