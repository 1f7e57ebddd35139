"""`teamcost plan set|assign|show` against the Firestore emulator, and their bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_support import one_error_line, run


@pytest.mark.emulator
def test_set_assign_show_and_end(firestore_emulator, monkeypatch, teamcost_home: Path) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    monkeypatch.setenv("TEAMCOST_TEAM", "core")
    res = run("plan", "set", "Claude Max", "--price", "200",
              "--covers", "source=claude-code,provider=anthropic")
    assert res.exit_code == 0, res.output
    assert "Claude Max: $200.00 per seat per month" in res.stdout
    res = run("plan", "assign", "ann@x.io", "Claude Max", "--from", "2026-11-03T10:07:00Z")
    assert res.exit_code == 0, res.output
    assert "ann@x.io holds Claude Max from 2026-11-03T10:15+00:00" in res.stdout  # next 1/4 h
    res = run("plan", "assign", "ann@x.io", "Claude Max", "--end", "--from", "2026-11-20")
    assert res.exit_code == 0, res.output
    doc = json.loads(run("plan", "show", "--format", "json").stdout)
    assert doc["plans"] == [{"name": "Claude Max", "seat_nanos": 200_000_000_000, "covers": [
        {"source": "claude-code", "provider": "anthropic", "model": "*"}]}]
    assert [(s["member"], s["since"], s["holds"]) for s in doc["seats"]] == [
        ("ann@x.io", "2026-11-03T10:15:00+00:00", True),
        ("ann@x.io", "2026-11-20T00:00:00+00:00", False)]
    res = run("plan", "assign", "bo@x.io", "Cursor")
    assert res.exit_code == 2 and "--plan" not in one_error_line(res)
    assert "Claude Max" in one_error_line(res)


@pytest.mark.parametrize(("args", "needle"), [
    (["plan", "set", "X", "--price", "$200"], "--price"),
    (["plan", "set", "X", "--price", "20", "--covers", "colour=red"], "--covers"),
    (["plan", "set", "\x1b[31mX", "--price", "20"], "plan"),
    (["plan", "set", "X" * 100, "--price", "20"], "plan"),
    (["plan", "assign", "ann", "X", "--from", "someday"], "--from"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str, monkeypatch,
                                      teamcost_home: Path) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-nowhere")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert needle in one_error_line(res)


def test_without_a_project_says_how(teamcost_home: Path, monkeypatch) -> None:
    monkeypatch.delenv("TEAMCOST_PROJECT", raising=False)
    res = run("plan", "show")
    assert res.exit_code == 1 and "teamcost init --project" in one_error_line(res)
