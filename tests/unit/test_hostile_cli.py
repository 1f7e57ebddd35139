"""The hostile user's findings on the CLI (issue 23, items 4, 8, 10, 11): each fails on the
code before its fix. Values are worked out here, not read back from the code under test."""

from __future__ import annotations

import json
import re
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from teamcost.errors import InvalidValue
from teamcost.periods import zone

from tests.cli_support import one_error_line, run


# -- item 4: a zone name is checked before it becomes a path -------------------------------

@pytest.mark.parametrize("name", ["A" * 300, "America", "../../../etc/passwd", "/etc/localtime",
                                  "Europe//Berlin", "UTC\x00", " UTC", "Europe/Berlin/",
                                  "x" * 65])
def test_a_bad_zone_is_invalid_timezone(name: str) -> None:
    with pytest.raises(InvalidValue) as info:
        zone(name)
    assert info.value.field == "timezone"


@pytest.mark.parametrize("args", [["report", "--tz"], ["init", "--tz"], ["report", "--tz"],
                                  ["budget", "set", "--amount", "5", "--tz"]])
@pytest.mark.parametrize("name", ["A" * 300, "America"])
def test_a_bad_tz_names_the_flag_not_a_file(args: list[str], name: str) -> None:
    r = run(*args, name)
    assert r.exit_code == 2, (r.stderr, r.exception)
    line = one_error_line(r)
    assert line.startswith(f"teamcost: error: invalid --tz: '{name[:20]}")
    assert "site-packages" not in line and "File name too long" not in line


def test_real_zones_still_work() -> None:
    assert zone("America/Argentina/ComodRivadavia").key == "America/Argentina/ComodRivadavia"
    # a home with a call in it (an empty home is its own exit code: nothing to report)
    assert run("record", "-m", "gpt-4o", "-i", "10", "-o", "5").exit_code == 0
    assert run("report", "--since", "1d", "--tz", "Etc/GMT+5").exit_code == 0


# -- item 8: a decimal comma is refused, never read as 100x -------------------------------

@pytest.mark.parametrize("amount", ["12,50", "1,5", "1,2,3", "1.234,56"])
def test_budget_set_refuses_a_decimal_comma(amount: str) -> None:
    r = run("budget", "set", "--amount", amount)
    assert r.exit_code == 2
    assert f"invalid --amount: '{amount}'" in one_error_line(r)


# -- item 10: a newline in a model forges no line ------------------------------------------

FORGED = "x\ntotal    $0.00  over 0 calls"


def test_a_newline_in_a_model_forges_no_report_line() -> None:
    r = run("record", "-m", FORGED, "-i", "10", "-o", "5")
    assert r.exit_code == 0
    assert r.stdout.count("\n") == 1 and "unknown/x\\ntotal" in r.stdout
    r = run("report", "--since", "1d")
    assert r.exit_code == 0
    totals = [ln for ln in r.stdout.splitlines() if ln.strip("│ ").startswith("total")]
    assert len(totals) == 1 and "over 1 calls" in totals[0], totals   # the real one only
    assert re.search(r"UNPRICED +1 calls of x\\ntotal    \$0\.00  over 0 calls", r.stdout)


# -- item 11 -------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["sync", "--format", "json", "status"],
                                  ["sync", "status", "--format", "json"]])
def test_sync_subcommands_take_the_format_given_to_sync(args: list[str]) -> None:
    r = run(*args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["unpushed"] == 0 and doc["project"] is None


def test_sync_subcommand_format_wins_over_syncs() -> None:
    r = run("sync", "--format", "json", "status", "--format", "text")
    assert r.exit_code == 0 and r.stdout.startswith("team ")


def test_record_cost_usd_keeps_the_models_provider() -> None:
    r = run("record", "-m", "gpt-4o", "-i", "1", "-o", "1", "--cost-usd", "0.5", "--format",
            "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["provider"], doc["cost_nanos"], doc["price_source"]) == (
        "openai", 500_000_000, "reported")
    r = run("record", "-m", "no-such-model-xyz", "--cost-usd", "0.5", "--format", "json")
    assert json.loads(r.stdout)["provider"] == "unknown"


@pytest.mark.parametrize("args", [["ledger", "status"], ["report", "--since", "1d"],
                                  ["watch", "--once"], ["sync", "status"]])
def test_readers_write_nothing_into_an_empty_ledger_file(args: list[str], tmp_path: Path,
                                                          monkeypatch) -> None:
    mine = tmp_path / "empty.db"
    mine.touch()
    monkeypatch.setenv("TEAMCOST_LEDGER", str(mine))
    r = run(*args)
    assert r.exit_code == 0, r.output
    assert mine.stat().st_size == 0          # was 48 KB of teamcost tables
    if args[0] == "ledger":
        assert "calls     0 (0 unpriced)" in r.stdout


def test_record_makes_an_empty_ledger_file_a_ledger(tmp_path: Path, monkeypatch) -> None:
    mine = tmp_path / "empty.db"
    mine.touch()
    monkeypatch.setenv("TEAMCOST_LEDGER", str(mine))
    assert run("record", "-m", "gpt-4o").exit_code == 0
    with sqlite3.connect(mine) as conn:
        assert conn.execute("SELECT count(*) FROM calls").fetchone() == (1,)


def test_a_chart_in_a_missing_directory_is_refused_and_nothing_created(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "dir" / "x.png"
    r = run("report", "--since", "1d", "--chart", str(target))
    assert r.exit_code == 2
    assert "invalid --chart:" in one_error_line(r) and "existing directory" in r.stderr
    assert not (tmp_path / "nonexistent").exists()


def test_import_claude_code_refuses_a_binary_file_in_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "session.jsonl"
    binary.write_bytes(bytes(range(256)) * 12)
    for args, flag in ((["import", "claude-code", str(binary)], "PATH"),
                       (["import", "jsonl", str(binary)], "FILE")):
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert f"invalid {flag}:" in one_error_line(r)
        assert "its first line is not a JSON object" in r.stderr


@pytest.mark.parametrize("args, flag", [
    (["record", "-m", "x", "--ts", "yesterday"], "--ts"),
    (["report", "--format", "xml"], "--format"),
    (["ledger", "status", "--format", "xml"], "--format")])
def test_no_value_error_prefix_in_messages(args: list[str], flag: str) -> None:
    r = run(*args)
    assert r.exit_code == 2
    line = one_error_line(r)
    assert line.startswith(f"teamcost: error: invalid {flag}: ")
    assert "value error" not in line.lower()


def test_a_failed_demo_leaves_no_folder_behind(tmp_path: Path) -> None:
    from teamcost.demo.run import run_demo

    def fail(step: str, obj: object) -> str:
        raise RuntimeError("the disk filled up")

    base = tmp_path / "work"
    base.mkdir()
    target = base / "new" / "demo"
    with pytest.raises(RuntimeError):
        run_demo(target, local_only=True, now=datetime(2026, 11, 20, 12, tzinfo=UTC),
                 render=fail)
    assert list(base.iterdir()) == []
    # an empty folder that was there stays, empty
    target.mkdir(parents=True)
    with pytest.raises(RuntimeError):
        run_demo(target, local_only=True, now=datetime(2026, 11, 20, 12, tzinfo=UTC),
                 render=fail)
    assert target.is_dir() and list(target.iterdir()) == []


def _cc(msg_id: str, out: int) -> str:
    return json.dumps({
        "type": "assistant", "sessionId": "s1", "requestId": f"req_{msg_id}", "cwd": "/w/shop",
        "timestamp": "2026-11-20T10:00:00Z", "uuid": f"u-{msg_id}",
        "message": {"id": msg_id, "type": "message", "role": "assistant",
                    "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "ok"}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 10, "output_tokens": out}}})


def test_a_finished_last_line_without_a_newline_is_imported_now(tmp_path: Path) -> None:
    log = tmp_path / "projects" / "-w-shop" / "s1.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(_cc("m1", 5) + "\n" + _cc("m2", 7))      # the writer never ended it
    now = time.time()
    os.utime(log, (now, now))                               # just written: not quiet
    r = run("import", "claude-code", str(tmp_path / "projects"), "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["imported"], doc["pending"], doc["skipped"]) == (2, 0, 0)
    with log.open("a") as fh:                               # its newline comes later
        fh.write("\n" + _cc("m3", 9) + "\n")
    doc = json.loads(run("import", "claude-code", str(tmp_path / "projects"),
                         "--format", "json").stdout)
    assert (doc["imported"], doc["already"], doc["skipped"]) == (1, 0, 0)


def test_a_half_written_last_line_still_waits(tmp_path: Path) -> None:
    log = tmp_path / "projects" / "-w-shop" / "s1.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(_cc("m1", 5) + "\n" + _cc("m2", 7)[:-1])
    now = time.time()
    os.utime(log, (now, now))
    doc = json.loads(run("import", "claude-code", str(tmp_path / "projects"),
                         "--format", "json").stdout)
    assert (doc["imported"], doc["pending"], doc["skipped"]) == (1, 1, 0)
