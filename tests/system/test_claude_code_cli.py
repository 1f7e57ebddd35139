"""The real Claude Code CLI (pinned npm package, a native binary) run offline against a
fake Messages API; teamcost's numbers must equal what that server billed, request by
request and every token kind."""

from __future__ import annotations

import subprocess
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
