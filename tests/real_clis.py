"""The real coding-agent CLIs (pinned in the Makefile, installed under .clis by `make clis`)
run offline against the fake provider servers: paths, a sealed environment, and the skip
(a failure under CI) when they are not installed."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".clis" / "node_modules" / ".bin"
API_KEY = "sk-ant-test-offline"


def cli(name: str) -> Path:
    """The installed CLI ``name`` (claude, codex, gemini); skips (fails in CI) without it."""
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{path} is not installed: run `make clis`")
    return path


def claude_interactive_config(tmp: Path, work: Path) -> None:
    """What a first interactive start asks (the onboarding, which checks it can reach
    api.anthropic.com, the bypass-permissions warning, trusting the folder) answered in
    ``$CLAUDE_CONFIG_DIR/.claude.json`` beforehand, as a user who ran it once has it."""
    conf = tmp / "home" / ".claude"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "theme": "dark", "numStartups": 3,
        "bypassPermissionsModeAccepted": True, "hasAcknowledgedCostThreshold": True,
        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "projects": {str(work): {"hasTrustDialogAccepted": True,
                                 "hasCompletedProjectOnboarding": True,
                                 "allowedTools": []}}}))


def claude_env(tmp: Path, base_url: str, otlp: str | None = None,
               extra: dict[str, str] | None = None) -> dict[str, str]:
    """Claude Code run offline: its config, home and temp files under ``tmp``; the API at
    ``base_url``; no updater, error reporting or other traffic to Anthropic; telemetry only
    to ``otlp`` (the agent's receiver) when given, exported every 500 ms."""
    home = tmp / "home"
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    (tmp / "tmp").mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "CLAUDE_CONFIG_DIR": str(home / ".claude"), "TMPDIR": str(tmp / "tmp"),
           "LANG": "C.UTF-8", "TERM": "xterm-256color",
           "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": API_KEY,
           "IS_SANDBOX": "1",    # --dangerously-skip-permissions as root
           "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "DISABLE_ERROR_REPORTING": "1", "DISABLE_BUG_COMMAND": "1"}
    if otlp:
        env.update({"CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_LOGS_EXPORTER": "otlp",
                    "OTEL_METRICS_EXPORTER": "none",
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_LOGS_EXPORT_INTERVAL": "500"})
    else:
        env["DISABLE_TELEMETRY"] = "1"
    env.update(extra or {})
    return env


class OtlpCapture:
    """A stand-in OTLP/HTTP collector that keeps every export request as sent (path,
    content type, body), so a test decides when the agent receives them."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []
        cap = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        body += self.rfile.read(size)
                        self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "gzip" in (self.headers.get("Content-Encoding") or "").lower():
                    import gzip
                    body = gzip.decompress(body)
                cap.posts.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def api_requests(self) -> list[str]:
        """The request ids of the Claude Code api_request events received so far."""
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )
        out = []
        for path, _, body in self.posts:
            if path != "/v1/logs":
                continue
            req = ExportLogsServiceRequest.FromString(body)
            for rl in req.resource_logs:
                for sl in rl.scope_logs:
                    for lr in sl.log_records:
                        attrs = {kv.key: kv.value for kv in lr.attributes}
                        if lr.body.string_value == "claude_code.api_request":
                            out.append(attrs["request_id"].string_value)
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def drain(child: Any, seconds: float) -> None:
    """Read a pty child's output for ``seconds`` (it blocks when nobody reads)."""
    import pexpect
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            child.read_nonblocking(1 << 16, timeout=0.2)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            return


def wait_pty(child: Any, what: str, cond: Any, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        drain(child, 0.3)
