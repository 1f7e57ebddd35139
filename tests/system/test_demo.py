"""`teamcost demo` end to end: against the real emulator, and without one."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teamcost.cli import app
from teamcost.commands.demo import render_step
from teamcost.demo.generate import MEMBERS, all_models
from teamcost.demo.run import run_demo

TEAMCOST = str(Path(sys.executable).with_name("teamcost"))


def _ledger_totals(paths) -> tuple[int, int]:
    """Calls and cost summed straight from the ledger files (a second computation)."""
    n = nanos = 0
    for p in paths:
        with sqlite3.connect(p) as conn:
            a, b = conn.execute("SELECT count(*), coalesce(sum(cost_nanos), 0) FROM calls").fetchone()
        n, nanos = n + a, nanos + b
    return n, nanos


@pytest.mark.emulator
def test_demo_pushes_every_machine_and_pulls_the_whole_team(firestore_emulator, tmp_path):
    result = run_demo(tmp_path / "demo", emulator_host=firestore_emulator.host,
                      project=firestore_emulator.project, render=render_step)
    assert result.mode == "firestore" and not result.emulator_started
    n, nanos = _ledger_totals(result.ledgers.values())
    assert (result.calls, result.total_nanos) == (n, nanos)
    assert set(result.members) == {m.name for m in MEMBERS}
    assert set(result.models) == {m.model for m in all_models()}
    with sqlite3.connect(result.home / "team-cache.db") as conn:
        cached = conn.execute("SELECT count(*), sum(cost_nanos), count(DISTINCT member) "
                              "FROM team_calls").fetchone()
        unpushed = 0
    for p in result.ledgers.values():
        with sqlite3.connect(p) as conn:
            unpushed += conn.execute("SELECT count(*) FROM calls WHERE pushed_at IS NULL"
                                     ).fetchone()[0]
    assert cached == (n, nanos, len(MEMBERS)) and unpushed == 0
    # the demo home points the CLI at the demo's team
    cfg = (result.home / "config.toml").read_text()
    assert firestore_emulator.project in cfg and "demo-team" in cfg
    assert result.seconds < 120
    # the 7-day report shows every member and model, and the files are where it says
    doc = json.loads((result.directory / "report-7d.json").read_text())
    assert {r["member"] for r in doc["breakdowns"]["member"]} == {m.name for m in MEMBERS}
    assert {r["model"] for r in doc["breakdowns"]["model"]} == {m.model for m in all_models()}
    text = (result.directory / "report-7d.txt").read_text()
    assert all(m.name in text for m in MEMBERS) and all(m.model in text for m in all_models())
    for what in ("export (csv)", "export (jsonl)", "export (summary)", "chart (png)",
                 "chart (html)"):
        assert result.files[what].is_file() and result.files[what].stat().st_size > 0, what
    # last week's export holds exactly last week's calls of the ledgers (a second count)
    summary = json.loads(result.files["export (summary)"].read_text())
    since = datetime.fromisoformat(summary["window"]["since"])
    until = datetime.fromisoformat(summary["window"]["until"])
    lo, hi = int(since.timestamp() * 1e6), int(until.timestamp() * 1e6)
    n_week = nanos_week = 0
    for p in result.ledgers.values():
        with sqlite3.connect(p) as conn:
            a, b = conn.execute("SELECT count(*), coalesce(sum(cost_nanos), 0) FROM calls "
                                "WHERE ts >= ? AND ts < ?", (lo, hi)).fetchone()
        n_week, nanos_week = n_week + a, nanos_week + b
    assert (summary["summary"]["calls"], summary["summary"]["cost_nanos"]) == (n_week, nanos_week)
    assert len(result.files["export (jsonl)"].read_text().splitlines()) == n_week
    # the budget check counts this month's calls of every ledger, and the report shows it
    st = json.loads(result.files["budget check (json)"].read_text())
    lo = int(datetime.fromisoformat(st["start"]).timestamp() * 1e6)
    hi = int(datetime.fromisoformat(st["end"]).timestamp() * 1e6)
    month = 0
    for p in result.ledgers.values():
        with sqlite3.connect(p) as conn:
            month += conn.execute("SELECT coalesce(sum(cost_nanos), 0) FROM calls "
                                  "WHERE ts >= ? AND ts < ?", (lo, hi)).fetchone()[0]
    assert st["spent_nanos"] == month and st["exit_code"] == result.budget_exit_code
    assert result.budget_status == st["line"] and doc["budget"]["line"] == st["line"]
    # running it again replaces the demo instead of doubling it
    again = run_demo(tmp_path / "demo", emulator_host=firestore_emulator.host,
                     project=firestore_emulator.project)
    with sqlite3.connect(again.home / "team-cache.db") as conn:
        assert conn.execute("SELECT count(*) FROM team_calls").fetchone()[0] == again.calls


def test_demo_without_an_emulator_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("TEAMCOST_FIRESTORE_EMULATOR", str(tmp_path / "no-such-emulator"))
    r = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "d"), "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["mode"] == "local" and doc["emulator_host"] is None
    assert any("gcloud components install cloud-firestore-emulator" in n for n in doc["notes"])
    # the whole team is in the home's one ledger, so local reports show all of it
    n, nanos = _ledger_totals([Path(doc["home"]) / "ledger.db"])
    assert (n, nanos) == (doc["calls"], doc["total_nanos"])
    assert "project" not in (Path(doc["home"]) / "config.toml").read_text()
    assert doc["files"]["export (summary)"] and doc["files"]["chart (html)"]
    report = json.loads(Path(doc["files"]["report (json)"]).read_text())
    assert report["source"] == "local" and report["summary"]["members"] == len(MEMBERS)


def test_demo_refuses_an_emulator_host_that_does_not_answer(tmp_path, monkeypatch):
    from teamcost.emulator import free_port
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    r = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "d")])
    assert r.exit_code == 1
    assert "FIRESTORE_EMULATOR_HOST=127.0.0.1:" in r.output and "unset it" in r.output


@pytest.mark.emulator
def test_teamcost_demo_command_under_three_minutes(firestore_emulator, tmp_path):
    """The command as `make demo` runs it (here on the session's emulator)."""
    env = dict(os.environ, FIRESTORE_EMULATOR_HOST=firestore_emulator.host)
    started = time.monotonic()
    proc = subprocess.run([TEAMCOST, "demo", "--dir", str(tmp_path / "demo")], env=env,
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert took < 180
    out = proc.stdout
    assert f"export TEAMCOST_HOME={tmp_path / 'demo' / 'home'}" in out
    for m in MEMBERS:
        assert m.name in out                      # the report printed shows every member
        for machine in m.machines:
            assert f"{machine}.db" in out
    for model in all_models():
        assert model.model in out
    assert "teamcost-" in out and "-summary.json" in out and "spend-30d.png" in out
