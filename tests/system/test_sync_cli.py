"""`teamcost sync ...` through the real CLI entry point and the real emulator."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from teamcost.ledger import Ledger
from teamcost.sync.mapping import COLLECTION, record_to_doc

from tests.cli_support import one_error_line, run
from tests.sync_support import make_calls, server_totals



def test_sync_without_a_project_says_how_to_configure_one() -> None:
    for args in (["sync"], ["sync", "push"], ["sync", "pull"]):
        result = run(*args)
        assert result.exit_code == 1
        line = one_error_line(result)
        assert "no Firestore project configured" in line and "teamcost init --project" in line


def test_sync_status_works_offline(teamcost_home: Path) -> None:
    assert run("record", "-m", "gpt-4o", "-i", "1000", "-o", "500").exit_code == 0
    result = run("sync", "status", "--format", "json")
    assert result.exit_code == 0, result.output
    st = json.loads(result.stdout)
    # gpt-4o: 1000 * $2.50/M + 500 * $10/M = $0.0075 = 7,500,000 nano-dollars
    assert (st["unpushed"], st["unpushed_cost_nanos"], st["cached_calls"]) == (1, 7_500_000, 0)
    assert st["watermark"] is None and st["last_push"] is None


@pytest.mark.emulator
def test_sync_pushes_then_pulls(firestore_emulator, firestore_client, monkeypatch) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    monkeypatch.setenv("TEAMCOST_TEAM", "core")
    for i in range(3):
        assert run("record", "-m", "gpt-4o", "-i", "1000", "-o", "500").exit_code == 0
    result = run("sync")
    assert result.exit_code == 0, result.output
    assert "pushed 3, already there 0, conflicts 0" in result.stdout
    assert "pulled 3 documents, 3 new; cache holds 3 calls" in result.stdout
    assert server_totals(firestore_client) == (3, 3 * 7_500_000)

    again = run("sync", "--format", "json")
    doc = json.loads(again.stdout)
    assert doc["push"]["pushed"] == 0 and doc["pull"]["cached"] == 3

    st = json.loads(run("sync", "status", "--format", "json").stdout)
    assert st["unpushed"] == 0 and st["cached_calls"] == 3
    assert st["cached_cost_nanos"] == 22_500_000 and st["watermark"] is not None
    text = run("sync", "status").stdout
    assert "cache      3 calls, $0.0225" in text


@pytest.mark.emulator
def test_sync_format_json_reaches_push_pull_and_status(firestore_emulator, firestore_client,
                                                       monkeypatch) -> None:
    """`sync --format json push` (the option before the subcommand) printed text."""
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    monkeypatch.setenv("TEAMCOST_TEAM", "core")
    for _ in range(2):
        assert run("record", "-m", "gpt-4o", "-i", "1000", "-o", "500").exit_code == 0
    push = run("sync", "--format", "json", "push")
    assert push.exit_code == 0, push.output
    assert json.loads(push.stdout)["pushed"] == 2
    pull = run("sync", "--format", "json", "pull")
    assert pull.exit_code == 0, pull.output
    assert json.loads(pull.stdout)["cached"] == 2
    status = run("sync", "--format", "json", "status")
    assert json.loads(status.stdout)["cached_cost_nanos"] == 2 * 7_500_000


@pytest.mark.emulator
def test_conflict_exits_5_and_names_the_call(firestore_emulator, firestore_client,
                                            monkeypatch, teamcost_home: Path) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
    monkeypatch.setenv("TEAMCOST_TEAM", "core")
    ledger = Ledger(teamcost_home / "ledger.db")
    calls = make_calls(3, "tester@example.com", ledger.ledger_id)
    ledger.record_many(calls)
    firestore_client.collection(COLLECTION).document(calls[1].call_id).create(
        {**record_to_doc(calls[1]), "output_tokens": calls[1].output_tokens + 1})
    result = run("sync", "push")
    assert result.exit_code == 5
    assert f"conflict: {calls[1].call_id} differs in output_tokens" in result.stdout
    assert "pushed 2, already there 0, conflicts 1" in result.stdout
    assert [r.call_id for _, r in ledger.unpushed()] == [calls[1].call_id]


def test_unreachable_firestore_fails_with_one_clear_line(monkeypatch) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{port}")
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-nowhere")
    assert run("record", "-m", "gpt-4o", "-i", "10", "-o", "5").exit_code == 0
    result = run("sync", "push")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert f"the Firestore emulator at 127.0.0.1:{port} is not running" in line
    assert "nothing was lost" in line
    assert "0 pushed" in line
    st = json.loads(run("sync", "status", "--format", "json").stdout)
    assert st["unpushed"] == 1  # still waiting, untouched


@pytest.mark.emulator
def test_progress_bar_on_a_terminal(firestore_emulator, teamcost_home: Path) -> None:
    import os
    import sys

    import pexpect

    ledger = Ledger(teamcost_home / "ledger.db")
    ledger.record_many(make_calls(3000, "tester@example.com", ledger.ledger_id))
    ledger.close()
    env = {**os.environ, "TEAMCOST_PROJECT": firestore_emulator.project, "TEAMCOST_TEAM": "core",
           "COLUMNS": "100"}
    child = pexpect.spawn(sys.executable, ["-m", "teamcost.cli", "sync", "push"], env=env,
                          encoding="utf-8", timeout=60, dimensions=(24, 100))
    child.expect(r"push .*\d+/3000")  # the bar: label, done/total, drawn on the terminal
    child.expect("pushed 3000, already there 0, conflicts 0")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
