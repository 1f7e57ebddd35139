"""Commands load only what they use: each runs in a child python that lists, at exit, which
of the heavy stacks (pandas, pyarrow, numpy, the Firestore/gRPC client) it imported. The
child starts the way the ``teamcost`` script does (``python -m teamcost``: a bare
``statusline`` goes past the CLI, everything else to teamcost.cli)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from teamcost.cli import COMMANDS

FORBIDDEN = ("pandas", "pyarrow", "numpy", "grpc", "google.cloud", "google.api_core")
# the code that runs the CLI in the child: prints the loaded heavy modules as JSON at exit
CHILD = """
import atexit, json, runpy, sys
watch, out = json.loads(sys.argv[1]), sys.argv[2]
def report():
    names = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in watch))
    with open(out, "w") as fh:
        json.dump(names, fh)
atexit.register(report)
sys.argv = ["teamcost", *sys.argv[3:]]
runpy.run_module("teamcost", run_name="__main__", alter_sys=True)
"""


def loaded(args: list[str], home: Path, tmp_path: Path, watch: tuple[str, ...] = FORBIDDEN,
           stdin: str = "") -> tuple[list[str], subprocess.CompletedProcess]:
    out = tmp_path / "modules.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "TEAMCOST_HOME": str(home), "COLUMNS": "100"}
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(list(watch)), str(out), *args],
                          env=env, capture_output=True, text=True, timeout=120, input=stdin)
    assert out.exists(), proc.stderr
    return json.loads(out.read_text()), proc


def command_paths() -> list[list[str]]:
    """Every command and subcommand, as argv."""
    from teamcost.cli import load_module_commands

    paths: list[list[str]] = [[]]

    def walk(cmd: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        for name, cmd in load_module_commands(module).items():
            walk(cmd, [name])
    return paths


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    (h / "config.toml").write_text('team = "core"\nmember = "ann@example.com"\n'
                                   'project = "demo-startup"\n')
    return h


def test_help_of_every_command_loads_no_heavy_stack(home: Path, tmp_path: Path) -> None:
    paths = command_paths()
    assert ["sync", "push"] in paths and ["report"] in paths and len(paths) > 25
    for new in (["serve"], ["reconcile"], ["reprice"], ["statusline"], ["agent", "status"],
                ["agent", "install"], ["agent", "claude-code-setup"]):
        assert new in paths, new
    for path in paths:
        mods, proc = loaded([*path, "--help"], home, tmp_path)
        assert proc.returncode == 0, (path, proc.stderr)
        assert "Usage: teamcost" in proc.stdout
        assert mods == [], (path, mods)


EVERYDAY = [["record", "-m", "gpt-4o", "-i", "1200", "-o", "300", "--tag", "k=v"],
            ["ledger", "status"], ["whoami"], ["agent", "status"],
            ["init", "--team", "core", "--member", "ann@example.com"], ["statusline"]]


@pytest.mark.parametrize("args", EVERYDAY, ids=lambda a: " ".join(a[:2]))
def test_everyday_commands_load_no_heavy_stack(args: list[str], home: Path,
                                               tmp_path: Path) -> None:
    mods, proc = loaded(args, home, tmp_path)
    assert proc.returncode in (0, 1), proc.stderr   # agent status exits 1: no agent runs
    assert "Traceback" not in proc.stderr
    assert mods == [], mods


def test_statusline_from_claude_code_loads_neither_typer_nor_the_heavy_stacks(
        home: Path, tmp_path: Path) -> None:
    """What Claude Code runs on every assistant message: its status JSON on stdin, the line
    on stdout, from the agent's snapshot and the ledger's calls of that session."""
    from datetime import UTC, datetime

    from teamcost.ledger import Ledger
    from teamcost.models import CallRecord

    (home / "agent-status.json").write_text(json.dumps({
        "version": 1, "written_at": datetime.now(UTC).isoformat(), "team": "core",
        "budget": None, "today_nanos": 3_000_000_000, "period_nanos": 40_000_000_000}))
    with Ledger(home / "ledger.db") as led:
        led.record_many([CallRecord(call_id=f"s{i}", ts=datetime.now(UTC), team="core",
                                    member="ann@example.com", ledger_id=led.ledger_id,
                                    provider="anthropic", model="claude-sonnet-4-5",
                                    session_id="sess-1", cost_nanos=125_000_000)
                         for i in range(2)])
    mods, proc = loaded(["statusline"], home, tmp_path,
                        (*FORBIDDEN, "typer", "click", "rich", "teamcost.cli"),
                        stdin=json.dumps({"session_id": "sess-1", "model": {"id": "x"}}))
    assert proc.returncode == 0, proc.stderr
    assert mods == [], mods
    # no budget: the month's spend; 2 calls x $0.125 = $0.25 in the session
    assert proc.stdout == "team $40.00 · today $3.00 · session $0.25\n", proc.stdout


def test_a_second_record_loads_neither_genai_prices_nor_pydantic(home: Path,
                                                                 tmp_path: Path) -> None:
    """The price cache (first record writes it) and typer's deferred coercion keep the
    everyday record to the interpreter, typer, rich and the ledger."""
    watch = (*FORBIDDEN, "genai_prices", "pydantic")
    args = ["record", "-m", "claude-sonnet-4-5", "-i", "1000", "-o", "500", "--format", "json"]
    first, proc = loaded(args, home, tmp_path, watch)
    assert proc.returncode == 0, proc.stderr
    assert "genai_prices" in first           # the cold start resolved the price
    second, proc = loaded(args, home, tmp_path, watch)
    assert proc.returncode == 0, proc.stderr
    assert second == []
    # claude-sonnet-4-5: 1000 in x $3/Mtok + 500 out x $15/Mtok = $0.003 + $0.0075
    rec = json.loads(proc.stdout)
    assert rec["cost_nanos"] == 10_500_000 and rec["price_source"].startswith("genai-prices ")


def test_import_teamcost_loads_no_heavy_stack(tmp_path: Path) -> None:
    code = ("import json, sys, teamcost; print(json.dumps(sorted(m for m in sys.modules "
            f"if any(m == f or m.startswith(f + '.') for f in {list(FORBIDDEN)!r}))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TEAMCOST_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize("found_by", ["TEAMCOST_HOME", "XDG_DATA_HOME"])
def test_statusline_imports_neither_pathlib_nor_typing(found_by: str, home: Path,
                                                       tmp_path: Path) -> None:
    """Either costs the status line more than all else it imports (issue 28), and so does
    platformdirs, which users without TEAMCOST_HOME (most) used to pay for: what the line
    loads beyond what the interpreter had when it started."""
    (home / "agent-status.json").write_text(json.dumps({
        "version": 1, "written_at": "2026-11-20T09:00:00+00:00", "team": "core",
        "budget": None, "today_nanos": 0, "period_nanos": 0}))
    out = tmp_path / "new-modules.txt"
    code = ("import sys\nbefore = set(sys.modules)\nsys.argv = ['teamcost', 'statusline']\n"
            "from teamcost.__main__ import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"open({str(out)!r}, 'w').write('\\n'.join(sorted(set(sys.modules) - before)))\n")
    env = {**os.environ, "TEAMCOST_HOME": str(home)}
    if found_by == "XDG_DATA_HOME":      # XDG_DATA_HOME/teamcost is the home
        del env["TEAMCOST_HOME"]
        xdg = tmp_path / "xdg"
        xdg.mkdir()
        home.rename(xdg / "teamcost")
        env |= {"XDG_DATA_HOME": str(xdg), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, input=json.dumps({"session_id": "s"}))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("team $0.00 · today $0.00 · session $0.00"), proc.stdout
    new = out.read_text().split()
    assert "teamcost.agent.statusline" in new
    assert not [m for m in new if m in ("pathlib", "typing", "platformdirs")
                or m.startswith(("typing.", "platformdirs."))], new
