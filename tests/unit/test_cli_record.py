"""`teamcost init`, `teamcost record`, `teamcost ledger status` from the outside.

Every bad input exits non-zero with ONE line on stderr naming the problem, prints
nothing on stdout, and leaves the config file and the ledger exactly as they were.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from teamcost.cli import app

runner = CliRunner()
TS = "2026-11-20T10:00:00+00:00"


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def ledger_file(home: Path) -> Path:
    return Path(os.environ.get("TEAMCOST_LEDGER") or home / "ledger.db")


def state(home: Path) -> tuple[Any, Any]:
    """(config file bytes, every ledger row) -- what a failed command must not change."""
    cfg = home / "config.toml"
    config = "<dir>" if cfg.is_dir() else cfg.read_bytes() if cfg.exists() else None
    led = home / "ledger.db"
    if not led.exists():
        return config, None
    conn = sqlite3.connect(led)
    try:
        rows = conn.execute("SELECT * FROM calls ORDER BY seq").fetchall()
    finally:
        conn.close()
    return config, rows


def assert_one_line_error(result: Any, *needles: str, code: int | None = None) -> None:
    assert result.exit_code != 0, result.stdout
    if code is not None:
        assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("teamcost: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def home_with_one_call(teamcost_home: Path) -> Path:
    assert run("init", "--team", "core").exit_code == 0
    r = run("record", "-m", "gpt-4o", "-i", "1000", "-o", "500", "--call-id", "first", "--ts", TS)
    assert r.exit_code == 0, r.stderr
    return teamcost_home


# -- bad input to `teamcost record` --

BAD_RECORD = [
    (["-m", "gpt-4o", "-i", "-5"], ["--input-tokens", "-5"], 2),
    (["-m", "gpt-4o", "-o", "-1"], ["--output-tokens", "-1"], 2),
    (["-m", "gpt-4o", "--cache-read-tokens", "-3"], ["--cache-read-tokens", "-3"], 2),
    (["-m", "gpt-4o", "--cache-write-tokens", "-7"], ["--cache-write-tokens", "-7"], 2),
    (["-m", "gpt-4o", "-i", "1.5"], ["--input-tokens", "'1.5'", "integer"], 2),
    (["-m", "gpt-4o", "-o", "many"], ["--output-tokens", "'many'", "integer"], 2),
    (["-m", "gpt-4o", "--cache-read-tokens", ""], ["--cache-read-tokens", "''"], 2),
    (["-m", "gpt-4o", "--cache-write-tokens", "1e3"], ["--cache-write-tokens", "'1e3'"], 2),
    (["-m", "gpt-4o", "-i", str(10**13)], ["--input-tokens", str(10**13)], 2),
    (["-m", "", "-i", "5"], ["model", "''", "non-empty"], 2),
    (["-m", "   "], ["model", "non-empty"], 2),
    (["-i", "5"], ["--model"], 2),
    (["-m", "gpt-4o", "--format", "xml"], ["--format", "'xml'", "text", "json"], 2),
    (["-m", "gpt-4o", "--colour", "red"], ["--colour"], 2),
    (["-m", "gpt-4o", "--cost-usd", "-1"], ["--cost-usd", "'-1'"], 2),
    (["-m", "gpt-4o", "--cost-usd", "cheap"], ["--cost-usd", "'cheap'"], 2),
    (["-m", "gpt-4o", "--cost-usd", "nan"], ["--cost-usd", "'nan'"], 2),
    (["-m", "gpt-4o", "--tag", "novalue"], ["--tag", "'novalue'", "KEY=VALUE"], 2),
    (["-m", "gpt-4o", "--tag", "=v"], ["--tag", "KEY=VALUE"], 2),
    (["-m", "gpt-4o", "--ts", "yesterday"], ["--ts", "'yesterday'"], 2),
    (["-m", "gpt-4o", "--ts", "2026-11-20T10:00:00"], ["--ts", "2026-11-20T10:00:00"], 2),
    (["-m", "gpt-4o", "--duration", "-1"], ["--duration", "-1"], 2),
    (["-m", "gpt-4o", "--duration", "soon"], ["--duration", "'soon'"], 2),
    (["-m", "gpt-4o", "--duration", "inf"], ["--duration", "inf"], 2),
    (["-m", "gpt-4o", "--call-id", "a/b"], ["--call-id", "'a/b'"], 2),
    (["-m", "gpt-4o", "--provider", ""], ["provider", "''"], 2),
    (["-m", "gpt-4o", "--session", ""], ["session_id", "''"], 2),
    (["-m", "gpt-4o", "--agent", "a" * 300], ["agent"], 2),
    (["-m", "gpt-4o", "--failed", "--error", "e" * 2001], ["error", "2000"], 2),
]


@pytest.mark.parametrize("args,needles,code", BAD_RECORD,
                         ids=[" ".join(a)[:40] for a, _, _ in BAD_RECORD])
def test_bad_record_input(home_with_one_call: Path, args: list[str], needles: list[str],
                          code: int) -> None:
    before = state(home_with_one_call)
    assert_one_line_error(run("record", *args), *needles, code=code)
    assert state(home_with_one_call) == before


def test_bad_record_input_creates_no_ledger(teamcost_home: Path) -> None:
    for args in (["-m", "gpt-4o", "-i", "-5"], ["-m", ""], ["-m", "gpt-4o", "--call-id", "a/b"],
                 ["-m", "gpt-4o", "--cost-usd", "x"], ["-m", "gpt-4o", "--format", "xml"]):
        assert_one_line_error(run("record", *args))
    assert list(teamcost_home.iterdir()) == []


def test_same_call_id_different_content(home_with_one_call: Path) -> None:
    before = state(home_with_one_call)
    r = run("record", "-m", "gpt-4o", "-i", "999", "-o", "500", "--call-id", "first", "--ts", TS)
    assert_one_line_error(r, "'first'", "input_tokens", code=1)
    assert state(home_with_one_call) == before
    # exactly the same call again is a no-op that succeeds
    r = run("record", "-m", "gpt-4o", "-i", "1000", "-o", "500", "--call-id", "first", "--ts", TS)
    assert r.exit_code == 0, r.stderr
    assert state(home_with_one_call) == before


# -- bad config and ledger locations, for both commands --

BAD_CONFIGS = [
    ("directory", None, ["config.toml", "is a directory"]),
    ("invalid TOML", b"team = \n", ["config.toml", "not valid TOML"]),
    ("not UTF-8", b"\xff\xfe team", ["config.toml", "cannot read"]),
    ("unknown key", b"colour = 'red'\n", ["config.toml", "unknown keys", "colour"]),
    ("bad team", b"team = 'bad team'\n", ["team", "'bad team'", "config.toml"]),
    ("bad override", b"[[price_overrides]]\npattern = '('\ninput = 1\noutput = 1\n",
     ["price override", "'('", "regular expression"]),
]


@pytest.mark.parametrize("command", [["record", "-m", "gpt-4o", "-i", "5"], ["init", "--team", "x"],
                                     ["ledger", "status"]])
@pytest.mark.parametrize("kind,content,needles", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_unreadable_or_invalid_config(home_with_one_call: Path, command: list[str], kind: str,
                                      content: bytes | None, needles: list[str]) -> None:
    cfg = home_with_one_call / "config.toml"
    cfg.unlink()
    if content is None:
        cfg.mkdir()      # we run as root: chmod 000 would not stop us reading it
    else:
        cfg.write_bytes(content)
    before = state(home_with_one_call)
    assert_one_line_error(run(*command), *needles, code=1)
    assert state(home_with_one_call) == before


LEDGER_PLACES = [
    ("missing directory", "{tmp}/no/such/dir/ledger.db", ["{tmp}/no/such/dir", "does not exist"]),
    ("missing under /proc", "/proc/x/ledger.db", ["/proc/x", "does not exist"]),
    ("read-only directory", "/proc/self/ledger.db", ["/proc/self", "not writable"]),
    ("a directory", "{tmp}", ["is a directory"]),
]


@pytest.mark.parametrize("command", [["record", "-m", "gpt-4o", "-i", "5"], ["init", "--team", "x"],
                                     ["ledger", "status"]])
@pytest.mark.parametrize("kind,place,needles", LEDGER_PLACES, ids=[p[0] for p in LEDGER_PLACES])
def test_ledger_in_a_missing_or_read_only_directory(home_with_one_call: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    command: list[str], kind: str, place: str,
                                                    needles: list[str]) -> None:
    spot = tmp_path / "spot"
    spot.mkdir()
    monkeypatch.setenv("TEAMCOST_LEDGER", place.format(tmp=spot))
    before = state(home_with_one_call)
    assert_one_line_error(run(*command), *[n.format(tmp=spot) for n in needles], code=1)
    assert state(home_with_one_call) == before
    assert not (spot / "no").exists()
    assert list(spot.iterdir()) == []


def test_bad_environment_value(home_with_one_call: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMCOST_TEAM", "no spaces allowed")
    before = state(home_with_one_call)
    assert_one_line_error(run("record", "-m", "gpt-4o"), "team", "'no spaces allowed'",
                          "environment")
    assert state(home_with_one_call) == before


# -- bad input to `teamcost init` --

BAD_INIT = [
    (["--team", "bad team"], ["team", "'bad team'"]),
    (["--team", ""], ["team", "''"]),
    (["--member", ""], ["member", "''"]),
    (["--member", "-dash-first"], ["member", "'-dash-first'"]),
    (["--project", "X"], ["project", "'X'"]),
    (["--timezone", "Mars/Olympus"], ["timezone", "'Mars/Olympus'"]),
    (["--tz", "UTC+25"], ["invalid --tz: 'UTC+25'"]),         # the flag as typed
    (["--tz", "A" * 300], ["invalid --tz: 'AAA", "IANA zone name"]),  # not 'File name too long'
    (["--colour", "red"], ["--colour"]),
    (["--team"], ["--team"]),
    (["extra-argument"], ["extra-argument"]),
]


@pytest.mark.parametrize("args,needles", BAD_INIT, ids=[" ".join(a)[:30] for a, _ in BAD_INIT])
def test_bad_init_input(home_with_one_call: Path, args: list[str], needles: list[str]) -> None:
    before = state(home_with_one_call)
    assert_one_line_error(run("init", *args), *needles, code=2)
    assert state(home_with_one_call) == before


def test_bad_init_on_a_fresh_home_writes_nothing(teamcost_home: Path) -> None:
    assert_one_line_error(run("init", "--team", "bad team"), "team")
    assert list(teamcost_home.iterdir()) == []


# -- happy paths --

def test_init_writes_and_merges_config(teamcost_home: Path) -> None:
    r = run("init", "--team", "core", "--project", "demo-teamcost", "--tz", "Europe/Berlin")
    assert r.exit_code == 0, r.stderr
    assert "team core" in r.stdout and "ledger" in r.stdout
    assert (teamcost_home / "ledger.db").exists()
    r = run("init", "--member", "bob@example.com")
    assert r.exit_code == 0, r.stderr
    text = (teamcost_home / "config.toml").read_text()
    assert 'team = "core"' in text and 'timezone = "Europe/Berlin"' in text
    assert 'member = "bob@example.com"' in text and 'project = "demo-teamcost"' in text


def test_record_then_status_shows_exact_count_and_cost(home_with_one_call: Path) -> None:
    # the fixture recorded gpt-4o 1000 in / 500 out = $0.0075 = 7_500_000 nanos
    calls = [
        # claude-sonnet-4-5: 1000 x $3 + 2000 x $0.30 + 3000 x $3.75 + 500 x $15 per Mtok
        #   = $0.003 + $0.0006 + $0.01125 + $0.0075 = $0.02235
        (["-m", "claude-sonnet-4-5", "-i", "1000", "-o", "500", "--cache-read-tokens", "2000",
          "--cache-write-tokens", "3000"], 22_350_000),
        # gemini-2.5-flash: 6000 x $0.30 + 500 x $2.50 per Mtok = $0.0018 + $0.00125
        (["-m", "gemini-2.5-flash", "-i", "6000", "-o", "500", "--provider", "google"], 3_050_000),
        (["-m", "gpt-4o", "--cost-usd", "0.0123", "--tag", "env=ci"], 12_300_000),   # reported
        (["-m", "llama3.1:8b", "--provider", "ollama", "-i", "50000"], 0),            # local
        (["-m", "frobnicator-9000", "-i", "10"], 0),                                  # unpriced
    ]
    for args, nanos in calls:
        r = run("record", *args, "--format", "json")
        assert r.exit_code == 0, r.stderr
        rec = json.loads(r.stdout)
        assert rec["cost_nanos"] == nanos
        assert rec["ts"].endswith("Z") and rec["team"] == "core"
    r = run("ledger", "status", "--format", "json")
    assert r.exit_code == 0, r.stderr
    st = json.loads(r.stdout)
    total = 7_500_000 + 22_350_000 + 3_050_000 + 12_300_000
    assert st["calls"] == 6
    assert st["cost_nanos"] == total
    assert st["unpushed"] == 6 and st["unpushed_cost_nanos"] == total
    assert st["unpriced"] == 1
    assert st["path"] == str(home_with_one_call / "ledger.db")
    conn = sqlite3.connect(home_with_one_call / "ledger.db")
    assert conn.execute("SELECT count(*), sum(cost_nanos) FROM calls").fetchone() == (6, total)
    assert conn.execute("SELECT tags, price_source FROM calls WHERE cost_nanos = 12300000"
                        ).fetchone() == ('{"env":"ci"}', "reported")
    assert st["ledger_id"] == conn.execute("SELECT value FROM meta").fetchone()[0]
    conn.close()
    text = run("ledger", "status")
    assert text.exit_code == 0
    assert "calls     6 (1 unpriced)" in text.stdout
    assert "$0.0452" in text.stdout    # $0.0452 exactly: 45_200_000 nanos


def test_record_text_output(home_with_one_call: Path) -> None:
    r = run("record", "-m", "gpt-4o", "-i", "1000", "-o", "500", "--session", "s1",
            "--agent", "Planner", "--task", "T-1", "--call-id", "req_1")
    assert r.exit_code == 0, r.stderr
    # money: three significant digits below $1 (money.format_usd); counts with separators
    assert r.stdout.strip() == "recorded req_1: openai/gpt-4o 1,000 in / 500 out, $0.0075"
    conn = sqlite3.connect(home_with_one_call / "ledger.db")
    assert conn.execute("SELECT session_id, agent, task_id FROM calls WHERE call_id='req_1'"
                        ).fetchone() == ("s1", "Planner", "T-1")
    conn.close()


def test_console_script_errors_on_stderr(teamcost_home: Path) -> None:
    exe = Path(sys.executable).with_name("teamcost")
    if not exe.exists():  # pragma: no cover
        pytest.skip("console script not installed next to this python")
    p = subprocess.run([str(exe), "record", "-m", "gpt-4o", "-i", "-1"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr == ("teamcost: error: invalid --input-tokens: -1; "
                        "expected an integer from 0 to 1000000000000\n")


@pytest.mark.parametrize("args,needles", [(["--format", "xml"], ["--format", "'xml'"]),
                                          (["--verbose"], ["--verbose"])])
def test_bad_ledger_status_input(home_with_one_call: Path, args: list[str],
                                 needles: list[str]) -> None:
    before = state(home_with_one_call)
    assert_one_line_error(run("ledger", "status", *args), *needles, code=2)
    assert state(home_with_one_call) == before
