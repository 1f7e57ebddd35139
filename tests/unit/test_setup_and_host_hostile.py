"""Hostile input to `agent claude-code-setup` and to `serve`'s Host check (issue 23, items
6 and 7), against real files (``chattr +i`` for an immutable one: root ignores permission
bits) and the real ASGI guard."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from teamcost.agent.claude_settings import claude_code_setup
from teamcost.errors import TeamcostError
from teamcost.web.security import Guard, _host_of


def setup(path: Path) -> object:
    return claude_code_setup(path, "http://127.0.0.1:4318", "teamcost statusline")


@pytest.fixture
def d(tmp_path: Path) -> Path:
    """A folder of its own (tmp_path also holds the test's TEAMCOST_HOME)."""
    (tmp_path / "claude").mkdir()
    return tmp_path / "claude"


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"env": {"X": -Infinity}}'])
def test_not_strict_json_is_left_untouched(d: Path, text: str) -> None:
    path = d / "settings.json"
    path.write_text(text)
    with pytest.raises(TeamcostError, match="left untouched"):
        setup(path)
    assert path.read_text() == text and listing(d) == ["settings.json"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("chattr") is None,
                    reason="needs root and chattr for an immutable file")
def test_an_immutable_file_fails_without_leaving_a_backup(d: Path) -> None:
    path = d / "settings.json"
    path.write_text('{"model": "opus"}\n')
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        with pytest.raises(TeamcostError, match="cannot write"):
            setup(path)
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    assert path.read_text() == '{"model": "opus"}\n'
    assert listing(d) == ["settings.json"]          # no backup, no temporary file


def test_a_dangling_symlink_does_not_get_its_target_created(d: Path) -> None:
    link = d / "settings.json"
    link.symlink_to(d / "elsewhere" / "x.json")
    with pytest.raises(TeamcostError, match="does not exist; left untouched"):
        setup(link)
    assert not (d / "elsewhere").exists() and listing(d) == ["settings.json"]


@pytest.mark.parametrize("name", ["config.json", "notes.txt", "package.json"])
def test_a_symlink_to_another_programs_file_is_not_written_through(d: Path,
                                                                   name: str) -> None:
    other = d / "app" / name
    other.parent.mkdir()
    other.write_text('{"theme": "dark"}')
    link = d / "settings.json"
    link.symlink_to(other)
    with pytest.raises(TeamcostError, match="not named like a Claude Code settings file"):
        setup(link)
    assert other.read_text() == '{"theme": "dark"}' and listing(d) == ["app",
                                                                            "settings.json"]


HOSTILE_HOSTS = ["localhost:80@evil.com", "localhost@evil.com", "127.0.0.1:80@evil.com",
                 "localhost/evil.com", "localhost evil.com", "localhost:8787:1",
                 "[::1]@evil.com", "[::1]:80@evil.com", "localhost:", "localhost:abc",
                 "evil.com#localhost", "localhost\tx"]


@pytest.mark.parametrize("header", HOSTILE_HOSTS)
def test_a_host_header_that_only_contains_localhost_is_not_loopback(header: str) -> None:
    assert _host_of(header) in ("", "evil.com")


@pytest.mark.parametrize("header, status", [(h, 403) for h in HOSTILE_HOSTS]
                         + [("localhost:8787", 200), ("127.0.0.1", 200), ("[::1]:1", 200)])
def test_the_guard_refuses_them(header: str, status: int) -> None:
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": "/api/report", "headers": [(b"host", header.encode())]}
    asyncio.run(Guard(app, None)(scope, receive, send))
    assert sent[0]["status"] == status
    if status == 403:
        assert "only on this machine" in json.loads(sent[1]["body"])["error"]
