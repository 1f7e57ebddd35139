"""Hostile or odd values (issue 18): empty strings are values, not "absent"; a bad number
names itself; a label that looks like a formula opens as text in a spreadsheet; a record
whose team `init` would refuse is a bad line; `record` never writes before it can answer."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from teamcost.ledger import Ledger
from teamcost.models import CallRecord, record_to_json
from tests.cli_support import run
from tests.hostile_support import assert_one_line, snapshot


def rows(home: Path) -> list[tuple]:
    db = home / "ledger.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT call_id, model, agent FROM calls ORDER BY seq").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("args, flag", [
    (["budget", "check", "--estimate", ""], "--estimate"),
    (["export", "--week", "", "--offline"], "--week"),
    (["export", "--month", "", "--offline"], "--month"),
    (["report", "--until", "", "--offline"], "--until"),
    (["report", "--tz", "", "--offline"], "--tz"),
    (["export", "--tz", "", "--offline"], "--tz"),
])
def test_an_empty_value_is_refused_not_taken_as_absent(teamcost_home, tmp_path, monkeypatch,
                                                       args, flag):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert_one_line(run(*args), 2, f"invalid {flag}: ''")
    assert snapshot(tmp_path) == before     # no export written into the current folder


@pytest.mark.parametrize("args, shown", [
    (["demo", "--seed", "abc"], "invalid --seed: 'abc'"),
    (["demo", "--seed=1.5"], "invalid --seed: '1.5'"),
    (["agent", "--otlp-port", "http"], "invalid --otlp-port: 'http'"),
])
def test_a_bad_number_names_the_value(tmp_path, monkeypatch, args, shown):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert_one_line(result, 2, shown)
    assert not (tmp_path / "demo-output").exists()


# -- CSV cells that would run as formulas ------------------------------------------------

FORMULAS = ["=1+1", "+SUM(A1:A9)", "-2+3", "@cmd", "=HYPERLINK(\"http://x.test\")",
            "\tTAB", "\rCR"]


@pytest.fixture
def formula_calls(teamcost_home: Path) -> list[CallRecord]:
    now = datetime.now(UTC)
    calls = [CallRecord(call_id=f"f{i}", ts=now - timedelta(minutes=i + 1), team="default",
                        member="tester@example.com", ledger_id="lap", provider="openai",
                        model=label, cost_nanos=1_000 * (i + 1), session_id=label,
                        agent=label, task_id=label, error="-boom" if i == 0 else None,
                        tags={"note": label})
             for i, label in enumerate(FORMULAS)]
    calls.append(CallRecord(call_id="plain", ts=now - timedelta(minutes=30), team="default",
                            member="tester@example.com", ledger_id="lap", provider="openai",
                            model="gpt-4o", cost_nanos=5))
    with Ledger(teamcost_home / "ledger.db") as led:
        led.record_many(calls)
    return calls


def test_report_csv_neutralises_formula_cells_and_keeps_numbers(formula_calls):
    result = run("report", "--since", "1d", "--format", "csv", "--by", "model,agent,session")
    assert result.exit_code == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    keys = {r["key"] for r in table if r["dimension"] == "model"}
    assert keys == {"'" + f for f in FORMULAS} | {"gpt-4o"}
    for r in table:
        assert not r["key"].startswith(("=", "+", "-", "@", "\t", "\r")), r
        int(r["cost_nanos"]), int(r["calls"]), float(r["cost_usd"])   # numbers stay numbers
    by_model = {r["key"]: int(r["cost_nanos"]) for r in table if r["dimension"] == "model"}
    assert by_model["'=1+1"] == 1_000 and by_model["gpt-4o"] == 5
    # JSON is exact: the labels as recorded
    doc = json.loads(run("report", "--since", "1d", "--format", "json").stdout)
    assert {r["model"] for r in doc["breakdowns"]["model"]} == set(FORMULAS) | {"gpt-4o"}


def test_export_csv_neutralises_text_cells_and_jsonl_round_trips_exactly(formula_calls,
                                                                         tmp_path):
    out = tmp_path / "out"
    result = run("export", "--week", "this", "--out", str(out), "--offline")
    assert result.exit_code == 0, result.stderr
    in_week = [c for c in formula_calls
               if c.ts >= datetime.fromisoformat(json.loads(next(out.glob("*-summary.json"))
                                                            .read_text())["window"]["since"])]
    [csv_file] = out.glob("*-calls.csv")
    table = list(csv.DictReader(csv_file.open(encoding="utf-8", newline="")))
    assert len(table) == len(in_week)
    for r in table:
        for name in ("model", "session_id", "agent", "task_id", "error"):
            assert not r[name].startswith(("=", "+", "-", "@", "\t", "\r")), (name, r[name])
        assert int(r["cost_nanos"]) >= 0 and r["cost_usd"][0].isdigit()
    f0 = next(r for r in table if r["call_id"] == "f0")
    assert (f0["model"], f0["error"]) == ("'=1+1", "'-boom")
    assert json.loads(f0["tags"]) == {"note": "=1+1"}   # inside JSON: never a cell start
    # JSON Lines: every field exactly as recorded, and `import jsonl` reads it back
    [jsonl] = out.glob("*-calls.jsonl")
    back = {d["call_id"]: d for d in map(json.loads, jsonl.read_text().splitlines())}
    assert back == {c.call_id: record_to_json(c) for c in in_week}


# -- import jsonl: a team init would refuse ----------------------------------------------

def test_import_jsonl_refuses_a_team_init_would_refuse(teamcost_home, tmp_path):
    now = datetime.now(UTC)
    good = CallRecord(call_id="ok-1", ts=now, team="core", member="ana", ledger_id="l",
                      provider="openai", model="gpt-4o", cost_nanos=7)
    lines = [json.dumps(record_to_json(good))]
    for i, team in enumerate(["has space", "semi;colon", "-dash-first", "é-accent"]):
        bad = record_to_json(good.replace(call_id=f"bad-{i}", team=team))
        lines.append(json.dumps(bad))
    f = tmp_path / "calls.jsonl"
    f.write_text("\n".join(lines) + "\n")
    for team in ("has space",):
        assert_one_line(run("init", "--team", team), 2, f"invalid --team: {team!r}")
    result = run("import", "jsonl", str(f), "--format", "json")
    assert result.exit_code == 0, result.stderr
    res = json.loads(result.stdout)
    assert res["imported"] == 1 and res["skipped"] == 4
    assert all("invalid team" in b for b in res["bad"]) and f"{f}:2" in res["bad"][0]
    assert [r[0] for r in rows(teamcost_home)] == ["ok-1"]


# -- record: the write is the last thing that can fail ------------------------------------

@pytest.mark.parametrize("model, agent", [("planner[/]", "[bold]x"), ("[red]m[/red]", "a[/b]"),
                                          ("gpt-4o", "[/]")])
def test_record_with_markup_labels_records_once_and_prints_them_literally(teamcost_home,
                                                                          model, agent):
    result = run("record", "-m", model, "--agent", agent, "--call-id", "c1")
    assert result.exit_code == 0, result.stderr
    assert model in result.stdout
    assert rows(teamcost_home) == [("c1", model, agent)]


def test_a_failing_record_leaves_no_row(teamcost_home):
    assert run("record", "-m", "gpt-4o", "--call-id", "c1", "-i", "5").exit_code == 0
    before = snapshot(teamcost_home)
    for args in (["-m", "gpt-4o", "--call-id", "c1", "-i", "6"],        # differs: refused
                 ["-m", "gpt-4o", "--ts", "0001-01-01T00:00:00+14:00"],
                 ["-m", "gpt-4o", "--format", "xml"]):
        result = run("record", *args)
        assert result.exit_code != 0 and result.stdout == ""
        assert rows(teamcost_home) == [("c1", "gpt-4o", None)]
    assert snapshot(teamcost_home) == before
