"""`teamcost statusline`: one line from the agent's snapshot and the local ledger, whatever
Claude Code (or anything else) sends on stdin."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from teamcost.agent.statusline import (
    NO_SNAPSHOT,
    StatusInput,
    _quick_epoch_us,
    _written_us,
    build_status_line,
    parse_status_input,
)
from teamcost.cli import app
from teamcost.errors import TeamcostError
from teamcost.ledger import Ledger
from teamcost.models import CallRecord

NOW = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
SESSION = "8c1f0e2a-4b7d-4a51-9d7e-2f0c6b1e9a33"
CLAUDE_JSON = json.dumps({  # the shape Claude Code's statusline docs describe
    "hook_event_name": "Status", "session_id": SESSION,
    "transcript_path": "/home/ann/.claude/projects/-w/8c1f.jsonl", "cwd": "/w",
    "model": {"id": "claude-opus-4-1", "display_name": "Opus"},
    "workspace": {"current_dir": "/w/src", "project_dir": "/w"},
    "version": "1.0.80", "output_style": {"name": "default"},
    "cost": {"total_cost_usd": 0.01234, "total_duration_ms": 45000},
})


def snapshot(home: Path, **over: Any) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "version": 1, "written_at": (NOW - timedelta(seconds=20)).isoformat(), "team": "acme",
        "budget": {"level": "WARN", "limit_nanos": 500_000_000_000,
                   "spent_nanos": 412_340_000_000, "fraction": 0.82468, "period": "month"},
        "today_nanos": 37_100_000_000, "period_nanos": 412_340_000_000}
    snap.update(over)
    (home / "agent-status.json").write_text(json.dumps(snap))
    return snap


def calls(home: Path, *costs_and_sessions: tuple[int, str | None]) -> None:
    with Ledger(home / "ledger.db") as lg:
        lg.record_many(CallRecord(
            call_id=f"cc-{i}", ts=NOW, team="acme", member="ann@example.com", ledger_id="lg",
            provider="anthropic", model="claude-opus-4-1", input_tokens=1, output_tokens=1,
            cost_nanos=cost, price_source="test", session_id=session)
            for i, (cost, session) in enumerate(costs_and_sessions))


def line(home: Path, stdin: str = CLAUDE_JSON, **kw: Any) -> str:
    return build_status_line(stdin, home, now=NOW, **kw)


def test_the_line_from_snapshot_and_session(teamcost_home: Path) -> None:
    snapshot(teamcost_home)
    calls(teamcost_home, (2_000_000_000, SESSION), (140_000_000, SESSION), (9_999, "other"),
          (5, None))
    # 412.34 of 500 -> $412/$500 (whole dollars from $100), 82.468% -> 82% (floored);
    # the session: 2.00 + 0.14 = $2.14
    assert line(teamcost_home) == "team $412/$500 (82%) · today $37.10 · session $2.14"


def test_small_budgets_show_cents_and_small_sessions_show_fractions(teamcost_home: Path) -> None:
    snapshot(teamcost_home, budget={"level": "OK", "limit_nanos": 50_000_000_000,
                                    "spent_nanos": 12_345_000_000, "fraction": 0.2469,
                                    "period": "week"}, today_nanos=0)
    calls(teamcost_home, (12_300_000, SESSION))
    # $12.345 exactly: half-even to the cent, as every money figure (teamcost.money)
    assert line(teamcost_home) == "team $12.34/$50.00 (24%) · today $0.00 · session $0.0123"


def test_no_budget_and_no_calls_yet(teamcost_home: Path) -> None:
    snapshot(teamcost_home, budget=None, period_nanos=412_000_000_000)
    assert line(teamcost_home) == "team $412.00 · today $37.10 · session $0.00"


def test_exhausted_and_colours(teamcost_home: Path) -> None:
    snapshot(teamcost_home, budget={"level": "EXHAUSTED", "limit_nanos": 500_000_000_000,
                                    "spent_nanos": 512_000_000_000, "fraction": 1.024,
                                    "period": "month"})
    assert line(teamcost_home, "") == "team $512/$500 (102%, exhausted) · today $37.10"
    assert line(teamcost_home, "", color=True) == (
        "\x1b[31mteam $512/$500 (102%, exhausted)\x1b[0m · today $37.10")
    snapshot(teamcost_home)   # WARN
    assert line(teamcost_home, "", color=True).startswith("\x1b[33mteam $412/$500 (82%)\x1b[0m")


def test_an_old_snapshot_says_how_old(teamcost_home: Path) -> None:
    snapshot(teamcost_home, written_at=(NOW - timedelta(minutes=12, seconds=5)).isoformat())
    assert line(teamcost_home, "").endswith(" · today $37.10 · as of 12m ago")
    snapshot(teamcost_home, written_at="2026-02-27T10:15:00Z")     # 'Z' and days
    assert line(teamcost_home, "").endswith(" · as of 3d ago")
    snapshot(teamcost_home, written_at="2026-03-02T10:14:00")      # naive: UTC
    assert "as of" not in line(teamcost_home, "")


def test_no_snapshot_says_what_to_run(teamcost_home: Path) -> None:
    assert line(teamcost_home) == NO_SNAPSHOT == "teamcost: no agent status yet (run: teamcost agent)"


@pytest.mark.parametrize("stdin", ["", "not json", "[1,2]", "null", '{"session_id": 5}',
                                   '{"session_id": ""}', "[" * 100_000, '{"session_id": "x"',
                                   "\x00\x1b[2J"])
def test_bad_stdin_still_prints_the_team_line(teamcost_home: Path, stdin: str) -> None:
    snapshot(teamcost_home)
    assert line(teamcost_home, stdin) == "team $412/$500 (82%) · today $37.10"


@pytest.mark.parametrize("content, says", [
    ("{not json", "is not valid JSON"),
    ("[]", "is not a JSON object"),
    ('{"version": 2}', "has version 2"),
    (json.dumps({"version": 1, "written_at": "2026-03-02T10:00:00+00:00", "budget": None,
                 "today_nanos": "12", "period_nanos": 1}), "today_nanos is '12'"),
    (json.dumps({"version": 1, "written_at": "yesterday", "budget": None, "today_nanos": 1,
                 "period_nanos": 1}), "written_at is 'yesterday'"),
    (json.dumps({"version": 1, "written_at": "2026-03-02T10:00:00+00:00", "budget": [],
                 "today_nanos": 1, "period_nanos": 1}), "budget is []"),
])
def test_a_broken_snapshot_is_one_line_naming_the_problem(teamcost_home: Path, content: str,
                                                          says: str) -> None:
    (teamcost_home / "agent-status.json").write_text(content)
    out = line(teamcost_home)
    assert out.startswith("teamcost: ") and says in out and "\n" not in out


def test_a_snapshot_path_that_is_a_directory(teamcost_home: Path) -> None:
    (teamcost_home / "agent-status.json").mkdir()
    assert "is a directory" in line(teamcost_home)


def test_an_unreadable_ledger_keeps_the_team_numbers(teamcost_home: Path) -> None:
    snapshot(teamcost_home)
    (teamcost_home / "ledger.db").write_bytes(b"garbage" * 1000)
    assert line(teamcost_home) == "team $412/$500 (82%) · today $37.10 · session ?"


def test_the_ledger_the_config_names_is_the_one_read(teamcost_home: Path, tmp_path: Path) -> None:
    snapshot(teamcost_home)
    other = tmp_path / "elsewhere"
    other.mkdir()
    calls(other, (3_000_000_000, SESSION))
    (teamcost_home / "config.toml").write_text(f'ledger_path = "{other / "ledger.db"}"\n')
    assert line(teamcost_home).endswith("session $3.00")


def test_parse_status_input_reads_claude_codes_fields() -> None:
    assert parse_status_input(CLAUDE_JSON) == (SESSION, "claude-opus-4-1", "/w/src")
    assert parse_status_input('{"cwd": "/a", "model": "x"}') == (None, None, "/a")


def test_the_command_in_process(teamcost_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    snapshot(teamcost_home, written_at=datetime.now(UTC).isoformat())
    calls(teamcost_home, (2_140_000_000, SESSION))
    r = CliRunner().invoke(app, ["statusline"], input=CLAUDE_JSON)
    assert r.exit_code == 0
    assert r.stdout == "team $412/$500 (82%) · today $37.10 · session $2.14\n"
    (teamcost_home / "agent-status.json").unlink()
    r = CliRunner().invoke(app, ["statusline"], input="")
    assert (r.exit_code, r.stdout) == (0, NO_SNAPSHOT + "\n")


def _datetime_us(raw: str) -> int | None:
    """What datetime says (the reading the line had before it parsed the agent's form
    itself): microseconds since the epoch, naive read as UTC; None when it refuses."""
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


_OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=500, deadline=None)
@given(when=st.datetimes(timezones=st.one_of(st.none(), st.just(UTC), _OFFSETS)),
       spec=st.sampled_from(["auto", "seconds", "microseconds", "milliseconds"]),
       zulu=st.booleans())
def test_written_at_is_read_as_datetime_reads_it(when: datetime, spec: str, zulu: bool) -> None:
    raw = when.isoformat(timespec=spec)
    if zulu and raw.endswith("+00:00"):
        raw = raw[:-6] + "Z"
    assert _written_us({"written_at": raw}) == _datetime_us(raw)


@settings(max_examples=500, deadline=None)
@given(raw=st.one_of(
    st.text(st.sampled_from("0123456789-:T.+Z z٣"), max_size=32),
    st.datetimes().map(lambda d: d.isoformat()).flatmap(
        lambda s: st.integers(0, len(s) - 1).flatmap(lambda i: st.sampled_from("09:-+T.Zx").map(
            lambda c: s[:i] + c + s[i + 1:])))))
def test_odd_written_at_is_read_or_refused_as_datetime_does(raw: str) -> None:
    expect = _datetime_us(raw)
    if expect is None:
        with pytest.raises(TeamcostError, match="expected an ISO 8601 time"):
            _written_us({"written_at": raw})
    else:
        assert _written_us({"written_at": raw}) == expect


def test_the_quick_reading_takes_the_agents_form() -> None:
    """The agent writes ``datetime.now(UTC).isoformat()``: that form never needs datetime."""
    assert _quick_epoch_us("1970-01-01T00:00:00+00:00") == 0
    assert _quick_epoch_us("2026-03-02T10:15:00.000001+00:00") == 1_772_446_500_000_001
    assert _quick_epoch_us("2024-02-29T00:00:00Z") == 1_709_164_800_000_000
    assert _quick_epoch_us("2023-02-29T00:00:00Z") is None        # no such day
    assert _quick_epoch_us("2026-03-02T10:15:00+01:00") == 1_772_446_500_000_000 - 3_600_000_000


def test_status_input_is_the_tuple_it_was() -> None:
    inp = parse_status_input(CLAUDE_JSON)
    assert (inp.session_id, inp.model, inp.cwd) == inp == (SESSION, "claude-opus-4-1", "/w/src")
    assert repr(inp) == (f"StatusInput(session_id={SESSION!r}, model='claude-opus-4-1', "
                         "cwd='/w/src')")
    assert StatusInput() == (None, None, None) and len(StatusInput()) == 3
