"""The real Codex CLI (pinned npm package) run offline with ``codex exec`` against a fake
Responses API; teamcost's import of the rollouts it wrote must equal what the server
billed, request by request and every token kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from real_clis import cli  # noqa: E402
from responses_server import ResponsesServer  # noqa: E402

from teamcost.capture.logs.codex import import_codex  # noqa: E402
from teamcost.config import load_config  # noqa: E402
from teamcost.ledger import Ledger  # noqa: E402


@pytest.fixture
def api() -> ResponsesServer:
    s = ResponsesServer()
    yield s
    s.close()


def codex_exec(tmp: Path, api: ResponsesServer, prompt: str) -> None:
    """``codex exec`` with its home under ``tmp`` and a model provider at the fake API."""
    home = tmp / "codex"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        'model = "gpt-5-codex"\nmodel_provider = "fake"\n'
        '[model_providers.fake]\nname = "fake"\n'
        f'base_url = "{api.url}"\nenv_key = "FAKE_OPENAI_KEY"\nwire_api = "responses"\n')
    (tmp / "work").mkdir(exist_ok=True)
    (tmp / "tmp").mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
           "CODEX_HOME": str(home), "TMPDIR": str(tmp / "tmp"), "FAKE_OPENAI_KEY": "sk-offline",
           "RUST_LOG": "error"}
    p = subprocess.run([str(cli("codex")), "exec", "--skip-git-repo-check",
                        "--dangerously-bypass-approvals-and-sandbox", prompt], env=env,
                       cwd=tmp / "work", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]


def test_codex_exec_with_a_shell_call_is_exact(tmp_path: Path, api: ResponsesServer) -> None:
    codex_exec(tmp_path, api, "RUN_SHELL now")
    codex_exec(tmp_path, api, "just say hi")
    assert [b.kind for b in api.billed] == ["tool", "after-tool", "text"]
    result = import_codex(tmp_path / "codex", load_config())
    assert result.skipped == 0, result.bad
    with Ledger.for_config(load_config()) as led:
        calls = sorted(led.calls(), key=lambda c: (c.ts, c.input_tokens))
    assert len(calls) == len(api.billed)
    for c, b in zip(calls, api.billed):
        assert (c.model, c.input_tokens, c.cache_read_tokens, c.output_tokens,
                c.tags.get("reasoning_tokens")) == (
            b.model, b.input_tokens - b.cached_tokens, b.cached_tokens, b.output_tokens,
            str(b.reasoning_tokens)), b
    assert sum(c.input_tokens + c.cache_read_tokens for c in calls) == sum(
        b.input_tokens for b in api.billed)
    assert sum(c.output_tokens for c in calls) == sum(b.output_tokens for b in api.billed)
    again = import_codex(tmp_path / "codex", load_config())
    assert again.imported == 0
