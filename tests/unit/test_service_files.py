"""Service files for `teamcost agent`: a systemd user unit and a launchd plist, read back the
way systemd and launchd read them, and install/uninstall that never touch a foreign file.

The unit is parsed by tests/systemd_syntax.py, a second and independent reading of the
systemd manual pages; tests/system/test_agent_files.py also has systemd-analyze check it.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import stat
from pathlib import Path

import pytest

from teamcost.agent import service_files as sf
from teamcost.errors import InvalidValue, TeamcostError
from tests.cli_support import one_error_line, run
from tests.systemd_syntax import (
    environment,
    exec_argv,
    expand_specifiers,
    parse_sections,
    unquote_words,
)

# a home with every character that means something to systemd: space, %, $, quotes, backslash
WEIRD = 'my home 100% $USER "q" \\back \'s\' ;'
def test_the_unit_reads_back_exactly_for_a_home_full_of_special_characters(tmp_path: Path) -> None:
    home = tmp_path / WEIRD
    exe = str(tmp_path / "bin 50%" / "te$t;" / "teamcost")
    text = sf.render_systemd_unit(home, [exe, "agent", "--tag", "x$y %z"])
    assert text.startswith(f"# {sf.MARKER}\n")
    sections = parse_sections(text)
    assert set(sections) == {"Unit", "Service", "Install"}
    service = sections["Service"]
    assert set(service) == {"Type", "ExecStart", "Environment", "Restart", "RestartSec",
                            "KillSignal", "TimeoutStopSec"}
    assert all(len(v) == 1 for v in service.values())
    assert exec_argv(service["ExecStart"][0]) == [exe, "agent", "--tag", "x$y %z"]
    assert environment(service["Environment"]) == {"TEAMCOST_HOME": str(home)}
    assert {k: v[0] for k, v in service.items() if k not in ("ExecStart", "Environment")} == {
        "Type": "simple", "Restart": "on-failure", "RestartSec": "5", "KillSignal": "SIGTERM",
        "TimeoutStopSec": "10"}
    assert sections["Install"] == {"WantedBy": ["default.target"]}
    assert set(sections["Unit"]) == {"Description"}
    # written out by hand: what the escaping rules give for this home
    assert service["Environment"][0] == (
        '"TEAMCOST_HOME=' + str(tmp_path) + '/my home 100%% $USER \\"q\\" \\\\back \'s\' ;"')


def test_the_parser_here_is_strict_enough_to_catch_a_missing_escape() -> None:
    with pytest.raises(AssertionError):
        expand_specifiers('"a 100% b"')
    with pytest.raises(AssertionError):
        unquote_words('"a "b" c"')          # a quote inside a quoted word, unescaped


@pytest.mark.parametrize("bad", ["line\nbreak", "tab\there", "bell\x07"])
def test_control_characters_in_the_home_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidValue) as err:
        sf.render_systemd_unit(tmp_path / bad, ["/usr/bin/teamcost", "agent"])
    assert err.value.field == "home"
    with pytest.raises(InvalidValue):
        sf.render_launchd_plist(tmp_path / bad, ["/usr/bin/teamcost", "agent"])


def test_a_relative_executable_is_refused() -> None:
    with pytest.raises(InvalidValue):
        sf.render_systemd_unit(Path("/h"), ["teamcost", "agent"])


@pytest.mark.parametrize("exe", ['/opt/"x"/teamcost', "/opt/it's/teamcost", "/opt/a\\b/teamcost"])
def test_an_executable_systemd_will_not_run_is_refused(exe: str) -> None:
    # systemd-analyze verify: "Executable name contains special characters" (quotes, backslash)
    with pytest.raises(InvalidValue, match="without quotes or backslashes"):
        sf.render_systemd_unit(Path("/h"), [exe, "agent"])


def test_the_plist_round_trips_through_plistlib(tmp_path: Path) -> None:
    home = tmp_path / WEIRD
    exe = "/opt/tc & co/bin/teamcost"
    data = sf.render_launchd_plist(home, [exe, "agent"])
    assert sf.MARKER.encode() in data
    assert plistlib.loads(data) == {
        "Label": "dev.teamcost.agent",
        "ProgramArguments": [exe, "agent"],
        "EnvironmentVariables": {"TEAMCOST_HOME": str(home)},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 5,
        "ExitTimeOut": 10,
        "StandardOutPath": str(home / "agent.log"),
        "StandardErrorPath": str(home / "agent.log"),
    }


def test_the_agent_command_is_this_teamcost_else_this_python(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "bin" / "teamcost"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    link = tmp_path / "teamcost"
    link.symlink_to(exe)
    assert sf.agent_argv(str(exe)) == [str(exe), "agent"]
    assert sf.agent_argv(str(link)) == [str(link), "agent"]     # the link, not its target
    monkeypatch.chdir(tmp_path)
    assert sf.agent_argv("bin/teamcost") == [str(exe), "agent"]  # made absolute
    assert sf.agent_argv("/usr/lib/python3/pytest", python="/venv/bin/python") == [
        "/venv/bin/python", "-m", "teamcost", "agent"]


def test_platforms() -> None:
    assert sf.platform_kind("linux") == "systemd"
    assert sf.platform_kind("darwin") == "launchd"
    with pytest.raises(TeamcostError, match="win32"):
        sf.platform_kind("win32")


def test_where_the_files_go(tmp_path: Path) -> None:
    assert sf.service_path("systemd", tmp_path, env={}) == (
        tmp_path / ".config/systemd/user/teamcost-agent.service")
    assert sf.service_path("systemd", tmp_path, env={"XDG_CONFIG_HOME": "/xdg"}) == Path(
        "/xdg/systemd/user/teamcost-agent.service")
    assert sf.service_path("systemd", tmp_path, env={"XDG_CONFIG_HOME": "rel"}) == (
        tmp_path / ".config/systemd/user/teamcost-agent.service")   # relative: ignored (XDG)
    assert sf.service_path("launchd", tmp_path, env={}) == (
        tmp_path / "Library/LaunchAgents/dev.teamcost.agent.plist")


def _unit(tmp_path: Path, kind: str = "systemd", exe: str = "/usr/bin/teamcost") -> sf.ServiceFile:
    return sf.service_file(kind, tmp_path / "tc-home", [exe, "agent"], user_home=tmp_path,
                           env={})


def test_install_writes_the_file_and_says_the_one_command(tmp_path: Path) -> None:
    unit = _unit(tmp_path)
    r = sf.install(unit, env={})
    assert r.changed and r.path.read_bytes() == unit.content
    assert stat.S_IMODE(r.path.stat().st_mode) == 0o644
    assert r.command == ("systemctl --user daemon-reload && systemctl --user enable --now "
                         "teamcost-agent")
    assert (tmp_path / "tc-home").is_dir()
    assert [p.name for p in r.path.parent.iterdir()] == ["teamcost-agent.service"]  # no temp left
    again = sf.install(unit, env={})
    assert not again.changed and again.path.read_bytes() == unit.content


def test_reinstalling_a_changed_enabled_unit_says_restart(tmp_path: Path) -> None:
    first = sf.install(_unit(tmp_path), env={})
    wants = first.path.parent / "default.target.wants"
    wants.mkdir()
    (wants / "teamcost-agent.service").symlink_to(first.path)   # what `systemctl enable` makes
    r = sf.install(_unit(tmp_path, exe="/opt/new/teamcost"), env={})
    assert r.changed
    assert r.command == ("systemctl --user daemon-reload && systemctl --user restart "
                         "teamcost-agent")


def test_launchd_install_and_update_commands(tmp_path: Path) -> None:
    r = sf.install(_unit(tmp_path, "launchd"), env={})
    assert r.command == f"launchctl load -w {r.path}"
    r = sf.install(_unit(tmp_path, "launchd", exe="/opt/new/teamcost"), env={})
    assert r.command == f"launchctl unload {r.path}; launchctl load -w {r.path}"
    weird = tmp_path / "it's here"
    r = sf.install(sf.service_file("launchd", tmp_path, ["/t", "agent"], user_home=weird, env={}),
                   env={})
    assert shlex.split(r.command) == ["launchctl", "load", "-w", str(r.path)]
    assert "it's here" in str(r.path)


@pytest.mark.parametrize("kind", ["systemd", "launchd"])
def test_install_refuses_a_file_teamcost_did_not_write(tmp_path: Path, kind: str) -> None:
    unit = _unit(tmp_path, kind)
    unit.path.parent.mkdir(parents=True)
    theirs = b"[Service]\nExecStart=/usr/bin/my-own-agent\n"
    unit.path.write_bytes(theirs)
    os.utime(unit.path, (1_000_000, 1_000_000))
    with pytest.raises(TeamcostError, match="was not written by teamcost"):
        sf.install(unit, env={})
    assert unit.path.read_bytes() == theirs
    assert unit.path.stat().st_mtime == 1_000_000
    with pytest.raises(TeamcostError, match="was not written by teamcost"):
        sf.uninstall(kind, tmp_path, env={})
    assert unit.path.read_bytes() == theirs


def test_install_refuses_a_symlink_or_a_directory(tmp_path: Path) -> None:
    unit = _unit(tmp_path)
    unit.path.parent.mkdir(parents=True)
    target = tmp_path / "mine.service"
    target.write_text(f"# {sf.MARKER}\n")      # even a marked target: the link is not ours
    unit.path.symlink_to(target)
    with pytest.raises(TeamcostError, match="symlink"):
        sf.install(unit, env={})
    assert unit.path.is_symlink() and target.read_text() == f"# {sf.MARKER}\n"
    unit.path.unlink()
    unit.path.mkdir()
    with pytest.raises(TeamcostError, match="not a regular file"):
        sf.install(unit, env={})
    assert unit.path.is_dir()


def test_uninstall_removes_only_ours(tmp_path: Path) -> None:
    assert sf.uninstall("systemd", tmp_path, env={}).removed is False     # nothing there
    r = sf.install(_unit(tmp_path), env={})
    other = r.path.parent / "someone-else.service"
    other.write_text("[Service]\n")
    u = sf.uninstall("systemd", tmp_path, env={})
    assert u.removed and not r.path.exists()
    assert u.command == "systemctl --user daemon-reload"
    assert other.read_text() == "[Service]\n"


def test_uninstall_keeps_an_enabled_unit_until_it_is_disabled(tmp_path: Path) -> None:
    r = sf.install(_unit(tmp_path), env={})
    wants = r.path.parent / "default.target.wants"
    wants.mkdir()
    (wants / "teamcost-agent.service").symlink_to(r.path)
    with pytest.raises(TeamcostError, match="systemctl --user disable --now teamcost-agent"):
        sf.uninstall("systemd", tmp_path, env={})
    assert r.path.read_bytes() == _unit(tmp_path).content
    (wants / "teamcost-agent.service").unlink()
    assert sf.uninstall("systemd", tmp_path, env={}).removed


def test_launchd_uninstall_names_the_label(tmp_path: Path) -> None:
    sf.install(_unit(tmp_path, "launchd"), env={})
    u = sf.uninstall("launchd", tmp_path, env={})
    assert u.removed and u.command == "launchctl remove dev.teamcost.agent"


def test_install_notes_settings_the_service_will_not_see(tmp_path: Path) -> None:
    r = sf.install(_unit(tmp_path), env={"TEAMCOST_PROJECT": "p", "GOOGLE_APPLICATION_CREDENTIALS": "/k",
                                          "TEAMCOST_HOME": "/h", "PATH": "/bin"})
    assert [n.split()[0] for n in r.notes] == ["TEAMCOST_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"]


def test_the_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teamcost_home: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    unit = tmp_path / "xdg/systemd/user/teamcost-agent.service"

    printed = run("agent", "install", "--print", "--platform", "systemd")
    assert printed.exit_code == 0 and not unit.exists()
    assert environment(parse_sections(printed.stdout)["Service"]["Environment"]) == {
        "TEAMCOST_HOME": str(teamcost_home)}

    r = run("agent", "install", "--platform", "systemd")
    assert r.exit_code == 0, r.output
    assert unit.read_text() == printed.stdout
    assert r.stdout.splitlines() == [   # (the test fixture sets TEAMCOST_MEMBER)
        f"wrote: {unit}",
        "note: TEAMCOST_MEMBER is set in this shell but not passed to the service (it reads "
        f"{teamcost_home}/config.toml)",
        "to start it now and at every login, run:",
        "  systemctl --user daemon-reload && systemctl --user enable --now teamcost-agent"]
    assert run("agent", "install", "--platform", "systemd").stdout.startswith(
        f"already installed (unchanged): {unit}")

    r = run("agent", "uninstall", "--platform", "systemd")
    assert r.exit_code == 0 and not unit.exists()
    assert r.stdout.splitlines() == [f"removed: {unit}", "to make the service manager forget "
                                     "it, run:", "  systemctl --user daemon-reload"]
    assert run("agent", "uninstall", "--platform", "systemd").stdout == (
        f"nothing to remove: {unit} does not exist\n")

    unit.write_text("[Service]\nExecStart=/usr/bin/mine\n")
    for args in (("install",), ("uninstall",)):
        r = run("agent", *args, "--platform", "systemd")
        assert r.exit_code == 1
        assert one_error_line(r) == (f"teamcost: error: {unit} exists and was not written by "
                                     "teamcost; left as it is (move it away, then run the "
                                     "command again)")
    assert unit.read_text() == "[Service]\nExecStart=/usr/bin/mine\n"

    r = run("agent", "install", "--platform", "upstart")
    assert r.exit_code == 2 and "upstart" in one_error_line(r)
