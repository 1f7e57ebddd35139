"""The real coding-agent CLIs (pinned in the Makefile, installed under .clis by `make clis`)
run offline against the fake provider servers: paths, a sealed environment, and the skip
(a failure under CI) when they are not installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".clis" / "node_modules" / ".bin"


def cli(name: str) -> Path:
    """The installed CLI ``name`` (claude, codex, gemini); skips (fails in CI) without it."""
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{path} is not installed: run `make clis`")
    return path


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
           "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": "sk-ant-test-offline",
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
