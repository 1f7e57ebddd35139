"""Point Claude Code at the agent: telemetry to its OTLP receiver, teamcost's status line.

Claude Code reads ``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR/settings.json`` when
that is set); its ``env`` object is applied to every session, and ``statusLine``
``{"type": "command", "command": ...}`` names the command whose first line of output the
status bar shows. Telemetry (Claude Code's "Monitoring" docs): ``CLAUDE_CODE_ENABLE_TELEMETRY=1``
turns it on, ``OTEL_LOGS_EXPORTER`` / ``OTEL_METRICS_EXPORTER=otlp`` choose OTLP, and
``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`` with ``OTEL_EXPORTER_OTLP_ENDPOINT`` send it
over HTTP to ``<endpoint>/v1/logs`` and ``<endpoint>/v1/metrics``.

``claude_code_setup`` merges only those keys: everything else in the file is kept as it
is, a value the user set differently is kept and reported, an existing status line is
never replaced. The old file is backed up next to it first, the new one written
atomically (a write that fails removes that backup again); a second run finds nothing to
change and writes nothing. A file that is not strict JSON (``NaN``, ``Infinity``) is left
untouched; a symlink is written through only to an existing file named like Claude Code
settings (a dotfiles link), never to another file nor to a dangling link's target.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from teamcost.agent.files import teamcost_argv, write_atomic
from teamcost.errors import TeamcostError

DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"
SETTINGS_FILE = "settings.json"
BACKUP_INFIX = ".teamcost-backup-"


def claude_config_dir(env: Mapping[str, str] | None = None, user_home: Path | None = None) -> Path:
    """``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    env = os.environ if env is None else env
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"]).expanduser()
    return (Path.home() if user_home is None else user_home) / ".claude"


def default_settings_path(env: Mapping[str, str] | None = None) -> Path:
    return claude_config_dir(env) / SETTINGS_FILE


def telemetry_env(otlp_endpoint: str = DEFAULT_OTLP_ENDPOINT) -> dict[str, str]:
    """The ``env`` entries that send Claude Code's telemetry to the agent."""
    return {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
    }


def telemetry_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether Claude Code sessions here send telemetry events over OTLP: turned on in its
    settings' ``env`` (what ``claude_code_setup`` writes) or in this process's environment.
    An unreadable settings file counts as off."""
    env = os.environ if env is None else env
    try:
        data, _ = _read_settings(default_settings_path(env))
    except TeamcostError:
        data = {}
    merged = {**env, **{k: str(v) for k, v in (data.get("env") or {}).items()}}
    return (merged.get("CLAUDE_CODE_ENABLE_TELEMETRY", "") not in ("", "0", "false")
            and "otlp" in merged.get("OTEL_LOGS_EXPORTER", ""))


def statusline_command(argv0: str | None = None, python: str | None = None) -> str:
    """The shell command Claude Code runs for the status line (Claude Code runs it in a shell)."""
    return shlex.join(teamcost_argv("statusline", argv0=argv0, python=python))


@dataclass(frozen=True)
class SetupResult:
    path: Path
    changed: bool                        # False: everything was already in place; nothing written
    created: bool                        # there was no settings file before
    backup: Path | None                  # the copy of the old file, when one was made
    env_added: dict[str, str] = field(default_factory=dict)
    env_kept: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (theirs, ours)
    statusline: str = "added"            # "added", "present" (ours already) or "kept" (theirs)
    their_statusline: Any = None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    # Python's json reads NaN / Infinity, which JSON (and Claude Code's parser) refuses
    raise ValueError(f"{name} is not JSON")


def _target(path: Path) -> Path:
    """The file to write: ``path``, or what its symlink points to when that is an existing
    file named like Claude Code settings (``*.json`` naming claude or settings, e.g. a
    dotfiles repo's ``claude-settings.json``: the link stays a link). Refused, with the file
    untouched: a dangling link (teamcost would create a file somewhere else) and a link to
    a file of another name (another program's file)."""
    if not path.is_symlink():
        return path
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise TeamcostError(f"Claude Code settings {path} is a symlink to "
                            f"{os.readlink(path)!r}, which does not exist; left untouched "
                            "(create that file, or pass --settings FILE)") from None
    name = target.name.lower()
    if (not target.is_file() or not name.endswith(".json")
            or not ("settings" in name or "claude" in name)):
        raise TeamcostError(f"Claude Code settings {path} is a symlink to {target}, which is "
                            "not named like a Claude Code settings file; left untouched (pass --settings {target} to "
                            "edit that file)")
    return target


def _read_settings(path: Path) -> tuple[dict[str, Any], bytes | None]:
    """(settings, the file's bytes) or ({}, None) when there is no file."""
    if path.is_dir():
        raise TeamcostError(f"Claude Code settings {path} is a directory, expected a JSON file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        raise TeamcostError(f"cannot read Claude Code settings {path}: "
                            f"{exc.strerror or exc}") from None
    if not raw.strip():
        return {}, raw
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates,
                          parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise TeamcostError(f"Claude Code settings {path} is not UTF-8 text; left untouched") from None
    except json.JSONDecodeError as exc:
        raise TeamcostError(f"Claude Code settings {path} is not valid JSON ({exc.msg} at line "
                            f"{exc.lineno} column {exc.colno}); left untouched") from None
    except (ValueError, RecursionError) as exc:
        raise TeamcostError(f"Claude Code settings {path} cannot be merged safely ({exc}); "
                            "left untouched") from None
    if not isinstance(data, dict):
        raise TeamcostError(f"Claude Code settings {path} is not a JSON object; left untouched")
    if "env" in data and not isinstance(data["env"], dict):
        raise TeamcostError(f"Claude Code settings {path}: env is {type(data['env']).__name__}, "
                            "expected an object; left untouched")
    return data, raw


def _backup(path: Path, raw: bytes, mode: int, now: datetime) -> Path:
    """A byte-for-byte copy next to ``path``, never over an earlier backup."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        backup = path.with_name(f"{path.name}{BACKUP_INFIX}{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise TeamcostError(f"cannot back up {path} to {backup}: "
                                f"{exc.strerror or exc}; nothing changed") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        return backup
    raise TeamcostError(f"cannot back up {path}: too many backups named {path.name}"
                        f"{BACKUP_INFIX}{stamp}*; nothing changed")


def claude_code_setup(settings_path: Path, otlp_endpoint: str = DEFAULT_OTLP_ENDPOINT,
                      statusline_cmd: str | None = None, *, now: datetime | None = None
                      ) -> SetupResult:
    """Merge telemetry ``env`` entries and teamcost's ``statusLine`` into Claude Code's
    settings file (see the module docstring for what is kept). Raises TeamcostError, with
    the file untouched, when it cannot be read or is not a JSON object."""
    path = Path(settings_path).expanduser()
    target = _target(path)
    data, raw = _read_settings(path)
    statusline_cmd = statusline_cmd or statusline_command()

    new = dict(data)
    env = dict(data.get("env") or {})
    added: dict[str, str] = {}
    kept: dict[str, tuple[Any, str]] = {}
    for name, value in telemetry_env(otlp_endpoint).items():
        if name not in env:
            env[name] = added[name] = value
        elif env[name] != value:
            kept[name] = (env[name], value)
    if added:
        new["env"] = env

    ours = {"type": "command", "command": statusline_cmd}
    theirs = data.get("statusLine")
    if "statusLine" not in data:
        new["statusLine"] = ours
        status = "added"
    else:
        status = "present" if theirs == ours else "kept"

    changed = new != data
    backup = None
    if changed:
        mode = stat.S_IMODE(target.stat().st_mode) if raw is not None else 0o644
        if raw is not None:
            backup = _backup(path, raw, mode, now or datetime.now(UTC))
        text = json.dumps(new, indent=2, ensure_ascii=False) + "\n"
        try:
            write_atomic(target, text.encode("utf-8"), mode)
        except TeamcostError:
            if backup is not None:      # nothing changed: no backup of it either
                backup.unlink(missing_ok=True)
            raise
    return SetupResult(path, changed, raw is None, backup, added, kept, status,
                       theirs if status == "kept" else None)
