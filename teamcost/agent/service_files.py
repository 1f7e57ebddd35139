"""Files that make the user's service manager run ``teamcost agent``: a systemd user unit
on Linux, a launchd agent on macOS.

Rendering is pure. ``install`` writes the file atomically and ``uninstall`` removes it, but
only a file that carries teamcost's marker: a unit or plist someone else wrote at that path
is never overwritten or deleted. Neither runs systemctl or launchctl; each returns the one
command the user runs next (a service manager is the user's to drive).

systemd quoting (systemd.syntax(7) "Quoting", systemd.service(5) "Command lines",
systemd.exec(5) ``Environment=``, systemd.unit(5) "Specifiers"): every value is written
double-quoted with C escapes for ``\\`` and ``"``; ``%`` becomes ``%%`` everywhere
(specifiers expand in ExecStart= and Environment= alike); ``$`` becomes ``$$`` in
ExecStart= arguments, where ``$VAR`` expands at start, but not in the executable itself
(systemd execs the first word as written) nor in Environment= (where ``$`` is literal).
Control characters cannot be expressed, so a path holding one is refused, and systemd
will not run an executable whose path holds a quote or a backslash (``systemd-analyze
verify``: "Executable name contains special characters"), so neither will install.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from teamcost.agent.files import teamcost_argv, write_atomic
from teamcost.errors import InvalidValue, TeamcostError

SERVICE_NAME = "teamcost-agent"
UNIT_FILE = f"{SERVICE_NAME}.service"
LAUNCHD_LABEL = "dev.teamcost.agent"
PLIST_FILE = f"{LAUNCHD_LABEL}.plist"
LOG_FILE = "agent.log"
SYSTEMD, LAUNCHD = "systemd", "launchd"
KINDS = (SYSTEMD, LAUNCHD)
# in every file teamcost writes (a comment in both formats); only such a file is replaced or removed
MARKER = "teamcost-managed: written by 'teamcost agent install', removed by 'teamcost agent uninstall'"
# set in the installing shell but not passed to the service, which reads TEAMCOST_HOME's config
_NOT_PASSED = ("TEAMCOST_TEAM", "TEAMCOST_MEMBER", "TEAMCOST_PROJECT", "TEAMCOST_LEDGER",
               "TEAMCOST_TZ", "TEAMCOST_FAIL_CLOSED", "FIRESTORE_EMULATOR_HOST",
               "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLAUDE_CONFIG_DIR")


def platform_kind(sys_platform: str | None = None) -> str:
    """systemd on Linux, launchd on macOS; anything else is an error naming the platform."""
    plat = sys.platform if sys_platform is None else sys_platform
    if plat.startswith("linux"):
        return SYSTEMD
    if plat == "darwin":
        return LAUNCHD
    raise TeamcostError(f"teamcost agent install knows systemd (Linux) and launchd (macOS), "
                        f"not {plat}; run 'teamcost agent' from your own service manager")


def agent_argv(argv0: str | None = None, python: str | None = None) -> list[str]:
    """The command line that starts the agent (see ``teamcost_argv``)."""
    return teamcost_argv("agent", argv0=argv0, python=python)


def _check_printable(value: str, what: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidValue(what, value, "a path without control characters (newlines, tabs)")


def systemd_quote(value: str, *, what: str, dollar: bool) -> str:
    """``value`` as one double-quoted word of a unit file; ``dollar`` doubles ``$`` (for
    ExecStart= arguments after the executable)."""
    _check_printable(value, what)
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if dollar:
        out = out.replace("$", "$$")
    return f'"{out}"'


def render_systemd_unit(home: Path, argv: Sequence[str]) -> str:
    """A systemd user unit running ``argv`` with TEAMCOST_HOME=home."""
    if not argv or not os.path.isabs(argv[0]):
        raise InvalidValue("command", list(argv), "an absolute path to the teamcost executable")
    if any(c in argv[0] for c in "\"'\\"):
        # systemd refuses such an executable ("contains special characters") however quoted
        raise InvalidValue("command", argv[0], "an executable path without quotes or backslashes "
                           "(systemd will not run one); install teamcost somewhere else")
    exec_start = " ".join([systemd_quote(argv[0], what="command", dollar=False)]
                          + [systemd_quote(a, what="command", dollar=True) for a in argv[1:]])
    env = systemd_quote(f"TEAMCOST_HOME={home}", what="home", dollar=False)
    return (f"# {MARKER}\n"
            "[Unit]\n"
            "Description=teamcost agent: capture LLM calls, sync the team ledger, watch the budget\n"
            "\n"
            "[Service]\n"
            "Type=simple\n"
            f"ExecStart={exec_start}\n"
            f"Environment={env}\n"
            "Restart=on-failure\n"
            "RestartSec=5\n"
            "KillSignal=SIGTERM\n"
            "TimeoutStopSec=10\n"
            "\n"
            "[Install]\n"
            "WantedBy=default.target\n")


def launchd_plist(home: Path, argv: Sequence[str]) -> dict[str, object]:
    """The launchd job as a dict (what ``render_launchd_plist`` serialises)."""
    log = str(home / LOG_FILE)
    return {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": list(argv),
        "EnvironmentVariables": {"TEAMCOST_HOME": str(home)},
        "RunAtLoad": True,
        # like systemd's Restart=on-failure: a clean exit (another agent holds the lock) stays down
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 5,
        "ExitTimeOut": 10,
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }


def render_launchd_plist(home: Path, argv: Sequence[str]) -> bytes:
    """The launchd agent plist (XML), with teamcost's marker as a comment."""
    for arg in argv:
        _check_printable(arg, "command")
    _check_printable(str(home), "home")
    data = plistlib.dumps(launchd_plist(home, argv), fmt=plistlib.FMT_XML, sort_keys=False)
    head, sep, rest = data.partition(b"<plist ")
    return head + f"<!-- {MARKER} -->\n".encode() + sep + rest


@dataclass(frozen=True)
class ServiceFile:
    kind: str            # "systemd" or "launchd"
    path: Path           # where it goes
    home: Path           # the TEAMCOST_HOME it runs with
    content: bytes


def service_path(kind: str, user_home: Path | None = None,
                 env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user/teamcost-agent.service`` (default ``~/.config``) or
    ``~/Library/LaunchAgents/dev.teamcost.agent.plist``."""
    env = os.environ if env is None else env
    user_home = Path.home() if user_home is None else user_home
    if kind == SYSTEMD:
        xdg = env.get("XDG_CONFIG_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else user_home / ".config"  # relative: ignored (XDG)
        return base / "systemd" / "user" / UNIT_FILE
    if kind == LAUNCHD:
        return user_home / "Library" / "LaunchAgents" / PLIST_FILE
    raise InvalidValue("platform", kind, " or ".join(KINDS))


def service_file(kind: str, home: Path, argv: Sequence[str] | None = None,
                 user_home: Path | None = None, env: Mapping[str, str] | None = None
                 ) -> ServiceFile:
    """The file for ``kind`` that runs the agent on ``home`` (made absolute)."""
    home = Path(os.path.abspath(Path(home).expanduser()))
    argv = agent_argv() if argv is None else list(argv)
    path = service_path(kind, user_home, env)
    content = (render_systemd_unit(home, argv).encode() if kind == SYSTEMD
               else render_launchd_plist(home, argv))
    return ServiceFile(kind, path, home, content)


def _is_ours(path: Path) -> bool:
    """True: a file teamcost wrote is there; False: nothing is there. Raises when something
    else is (a file without the marker, a symlink, a directory)."""
    if not path.exists() and not path.is_symlink():
        return False
    if path.is_symlink() or not path.is_file():
        what = "a symlink" if path.is_symlink() else "not a regular file"
        raise TeamcostError(f"{path} is {what} that teamcost did not write; left as it is "
                            "(move it away, then run the command again)")
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise TeamcostError(f"cannot read {path}: {exc.strerror or exc}") from None
    if MARKER.encode() not in head:
        raise TeamcostError(f"{path} exists and was not written by teamcost; left as it is "
                            "(move it away, then run the command again)")
    return True


def _enabled_link(path: Path) -> Path:
    """Where ``systemctl --user enable`` puts its symlink for our unit."""
    return path.parent / "default.target.wants" / UNIT_FILE


@dataclass(frozen=True)
class InstallResult:
    path: Path
    changed: bool               # False: the very same file was already there
    command: str                # the one command the user runs next
    notes: tuple[str, ...] = field(default_factory=tuple)


def install(sf: ServiceFile, env: Mapping[str, str] | None = None) -> InstallResult:
    """Write ``sf`` unless a file teamcost did not write is in its place; create the home
    (the agent's log lives there). Never starts anything: returns the command that does."""
    env = os.environ if env is None else env
    existed = _is_ours(sf.path)
    changed = not (existed and sf.path.read_bytes() == sf.content)
    try:
        sf.home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TeamcostError(f"cannot create TEAMCOST_HOME {sf.home}: {exc.strerror or exc}") from None
    if changed:
        write_atomic(sf.path, sf.content)
    path = shlex.quote(str(sf.path))
    if sf.kind == SYSTEMD:
        enabled = existed and changed and _enabled_link(sf.path).is_symlink()
        command = ("systemctl --user daemon-reload && "
                   + (f"systemctl --user restart {SERVICE_NAME}" if enabled
                      else f"systemctl --user enable --now {SERVICE_NAME}"))
    else:
        command = (f"launchctl unload {path}; launchctl load -w {path}" if existed and changed
                   else f"launchctl load -w {path}")
    notes = tuple(f"{name} is set in this shell but not passed to the service (it reads "
                  f"{sf.home}/config.toml)" for name in _NOT_PASSED if env.get(name))
    return InstallResult(sf.path, changed, command, notes)


@dataclass(frozen=True)
class UninstallResult:
    path: Path
    removed: bool               # False: there was no file
    command: str | None         # what to run next so the service manager forgets it


def uninstall(kind: str, user_home: Path | None = None,
              env: Mapping[str, str] | None = None) -> UninstallResult:
    """Remove the service file teamcost wrote (never another one). A systemd unit that is
    still enabled stays until it is disabled: removing it first would leave systemd a
    dangling link and a service it can no longer stop by name."""
    path = service_path(kind, user_home, env)
    if not _is_ours(path):
        return UninstallResult(path, False, None)
    if kind == SYSTEMD and _enabled_link(path).is_symlink():
        raise TeamcostError(f"{SERVICE_NAME} is still enabled; run 'systemctl --user disable "
                            f"--now {SERVICE_NAME}' first, then 'teamcost agent uninstall' again")
    try:
        path.unlink()
    except OSError as exc:
        raise TeamcostError(f"cannot remove {path}: {exc.strerror or exc}") from None
    command = ("systemctl --user daemon-reload" if kind == SYSTEMD
               else f"launchctl remove {LAUNCHD_LABEL}")
    return UninstallResult(path, True, command)
