"""teamcost report / export through the CLI on a real ledger and team cache."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord, record_from_json
from teamcost.periods import parse_week
from teamcost.sync.cache import TeamCache

from tests.cli_support import one_error_line, run

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "teamcost" / "reports"
                     / "report.schema.json").read_text())


def calls_around_now(n: int, member: str = "tester@example.com", team: str = "default",
                     prefix: str = "c") -> list[CallRecord]:
    now = datetime.now(timezone.utc)
    return [CallRecord(call_id=f"{prefix}{i:04d}", ts=now - timedelta(hours=5 * i + 1), team=team,
                       member=member, ledger_id="lap", provider="openai",
                       model=["gpt-4o", "o3", "weird-llm"][i % 3], input_tokens=100 + i,
                       output_tokens=10 + i, cost_nanos=0 if i % 3 == 2 else 1_000_001 * (i + 1),
                       priced=i % 3 != 2, price_source="test", session_id=f"s{i % 4}")
            for i in range(n)]


@pytest.fixture
def ledger_calls(teamcost_home: Path) -> list[CallRecord]:
    calls = calls_around_now(60)
    with Ledger(teamcost_home / "ledger.db") as ledger:
        ledger.record_many(calls)
    return calls


def test_json_report_validates_and_is_exact(ledger_calls) -> None:
    result = run("report", "--since", "7d", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    since = datetime.fromisoformat(doc["window"]["since"])
    inside = [c for c in ledger_calls if c.ts >= since]
    assert doc["summary"]["calls"] == len(inside) == 34  # 5h apart: 1h..166h ago
    assert doc["summary"]["cost_nanos"] == sum(c.cost_nanos for c in inside)
    assert doc["summary"]["unpriced_calls"] == sum(1 for c in inside if not c.priced)
    assert doc["source"] == "local"


def test_csv_round_trips_through_pandas(ledger_calls) -> None:
    result = run("report", "--since", "7d", "--format", "csv", "--by", "member,model", "--by", "day")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["dimension", "key", "cost_usd", "cost_nanos", "calls",
                                   "input_tokens", "output_tokens", "cache_read_tokens",
                                   "cache_write_tokens", "unpriced_calls", "failed_calls"]
    doc = json.loads(run("report", "--since", "7d", "--format", "json").stdout)
    total = doc["summary"]["cost_nanos"]
    for dim in ("member", "model", "day"):
        part = frame[frame["dimension"] == dim]
        assert int(part["cost_nanos"].sum()) == total
        assert int(part["calls"].sum()) == doc["summary"]["calls"]


def test_table_view_shows_unpriced_and_every_model(ledger_calls) -> None:
    result = run("report", "--since", "30d")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for model in ("gpt-4o", "o3", "weird-llm"):
        assert model in out
    assert re.search(r"UNPRICED +20 calls of weird-llm", out)
    assert "trend by day" in out and "by member" in out


def test_empty_window_says_no_calls() -> None:
    assert run("init", "--team", "core").exit_code == 0     # a home with a ledger, no calls
    result = run("report", "--since", "24h")
    assert result.exit_code == 0
    assert "no calls" in result.stdout


def test_a_missing_or_empty_home_or_unknown_team_is_an_error(teamcost_home, tmp_path,
                                                             monkeypatch) -> None:
    """Never "no calls" (which reads as zero spend) when there is nothing to read."""
    result = run("report")                                   # before init: nothing here
    assert result.exit_code == 1
    assert f"nothing was recorded in TEAMCOST_HOME {teamcost_home} yet" in result.stderr
    assert not (teamcost_home / "ledger.db").exists()        # looking creates nothing
    monkeypatch.setenv("TEAMCOST_HOME", str(tmp_path / "nowhere"))
    result = run("export", "--week", "last")
    assert result.exit_code == 1
    assert f"TEAMCOST_HOME {tmp_path / 'nowhere'} does not exist" in result.stderr
    assert not (tmp_path / "nowhere").exists()
    monkeypatch.setenv("TEAMCOST_HOME", str(teamcost_home))
    assert run("record", "-m", "gpt-4o", "-i", "10", "-o", "1").exit_code == 0
    monkeypatch.setenv("TEAMCOST_TEAM", "typo")
    assert run("report", "--offline").exit_code == 0      # local: this ledger, any team
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-typo")    # a team report: the team matters
    result = run("report", "--offline")
    assert result.exit_code == 1
    assert "team 'typo' has no calls in TEAMCOST_HOME" in result.stderr
    assert "the calls here are of team default" in result.stderr


@pytest.mark.parametrize("args, needle", [
    (["--since", "7x"], "invalid --since: '7x'"),
    (["--since", "-3d"], "invalid --since: '-3d'"),
    (["--since", "2026-13-01"], "that date does not exist"),
    (["--since", "0d"], "above 0"),
    (["--since", "1d", "--until", "3d"], "a time before --until"),
    (["--until", "yesterday", "--since", "today"], "a time before --until"),
    (["--by", "colour"], "invalid --by: 'colour'"),
    (["--tz", "Mars/Olympus"], "invalid --tz: 'Mars/Olympus'"),
    (["--format", "xml"], "invalid --format: 'xml'; expected table, json or csv"),
    (["--source", "cloud"], "invalid --source: 'cloud'; expected team or local"),
    (["--source", "team"], "no Firestore project is configured"),
])
def test_bad_report_input_exits_2_with_one_line(args, needle) -> None:
    result = run("report", *args)
    assert result.exit_code == 2, result.output
    assert needle in one_error_line(result)


@pytest.mark.parametrize("args, needle", [
    (["--week", "2026-W54"], "an ISO week that exists"),
    (["--week", "lastweek"], "last, this, or an ISO week like 2026-W47"),
    (["--month", "2026-13"], "a month like 2026-11"),
    (["--week", "last", "--month", "this"], "one of --week or --month"),
    (["--format", "xlsx"], "invalid --format: 'xlsx'; expected csv, jsonl, json, both or focus"),
])
def test_bad_export_input_exits_2(args, needle) -> None:
    result = run("export", *args)
    assert result.exit_code == 2, result.output
    assert needle in one_error_line(result)


def test_export_into_a_file_path_fails_cleanly(tmp_path: Path, ledger_calls) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    result = run("export", "--week", "this", "--out", str(target))
    assert result.exit_code == 1
    assert "it is a file, not a directory" in one_error_line(result)


def test_export_week_agrees_with_report_and_reimports(tmp_path: Path, ledger_calls) -> None:
    out = tmp_path / "out"
    result = run("export", "--week", "this", "--out", str(out), "--output", "json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    cfg = load_config()
    week = parse_week("this", datetime.now(timezone.utc), "UTC")
    inside = [c for c in ledger_calls if week.since <= c.ts < week.until]
    assert info["calls"] == len(inside) and info["cost_nanos"] == sum(c.cost_nanos for c in inside)
    label = week.label
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"teamcost-{label}-calls.csv", f"teamcost-{label}-calls.jsonl",
                     f"teamcost-{label}-summary.json"]
    # JSONL is lossless; CSV holds every field and exact nanos
    back = [record_from_json(json.loads(l)) for l in
            (out / f"teamcost-{label}-calls.jsonl").read_text().splitlines()]
    # the export is in time order; the fixture's list is not (a Monday shows it)
    assert back == sorted(inside, key=lambda c: (c.ts, c.call_id))
    rows = list(csv.DictReader((out / f"teamcost-{label}-calls.csv").open()))
    assert sum(int(r["cost_nanos"]) for r in rows) == info["cost_nanos"]
    assert rows and rows[0]["ts"].endswith("Z")
    summary = json.loads((out / f"teamcost-{label}-summary.json").read_text())
    jsonschema.validate(summary, SCHEMA)
    # the report of the same week says the same, to the nano-dollar
    report = json.loads(run("report", "--since", week.since.isoformat(), "--until",
                            week.until.isoformat(), "--format", "json").stdout)
    assert report["summary"]["cost_nanos"] == summary["summary"]["cost_nanos"] == info["cost_nanos"]
    assert report["breakdowns"]["member"] == summary["breakdowns"]["member"]
    assert cfg.team == "default"


def test_export_write_failure_leaves_no_partial_file(tmp_path: Path, ledger_calls,
                                                     monkeypatch) -> None:
    from teamcost.reports import export as export_mod

    def explode(fh, records):
        fh.write("call_id,ts\npartial,")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_mod, "write_calls_jsonl", explode)
    out = tmp_path / "out"
    result = run("export", "--week", "this", "--out", str(out))
    assert result.exit_code == 1
    assert "No space left on device" in one_error_line(result)
    leftovers = sorted(p.name for p in out.iterdir())
    # the CSV written before the failure is whole; no JSONL, no temp file, no half file
    assert all(not n.startswith(".") for n in leftovers)
    assert not any(n.endswith(".jsonl") for n in leftovers)


def test_team_source_merges_cache_and_unseen_local_calls(teamcost_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-offline")
    monkeypatch.setenv("TEAMCOST_TEAM", "core")
    mine = calls_around_now(10, team="core", prefix="mine")
    theirs = calls_around_now(12, member="bo@example.com", team="core", prefix="bo")
    other_team = calls_around_now(5, member="x@example.com", team="other", prefix="x")
    with Ledger(teamcost_home / "ledger.db") as ledger:
        ledger.record_many(mine)
    with TeamCache(teamcost_home / "team-cache.db") as cache:
        # my first 6 calls were pushed and pulled back: they must not count twice
        cache.upsert([(c, 1) for c in mine[:6] + theirs + other_team])
    doc = json.loads(run("report", "--since", "30d", "--format", "json", "--offline").stdout)
    expected = mine + theirs
    assert doc["source"] == "team"
    assert doc["summary"]["calls"] == len(expected)
    assert doc["summary"]["cost_nanos"] == sum(c.cost_nanos for c in expected)
    assert {r["member"] for r in doc["breakdowns"]["member"]} == {"tester@example.com",
                                                                  "bo@example.com"}
    only_bo = json.loads(run("report", "--since", "30d", "--format", "json", "--offline",
                             "--member", "bo@example.com").stdout)
    assert only_bo["summary"]["cost_nanos"] == sum(c.cost_nanos for c in theirs)
