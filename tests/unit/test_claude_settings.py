"""`teamcost agent claude-code-setup`: merging telemetry and the status line into Claude Code's
settings.json without touching anything else, with one backup, idempotently."""

from __future__ import annotations

import copy
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from teamcost.agent import claude_settings as cs
from teamcost.errors import TeamcostError
from tests.cli_support import one_error_line, run

NOW = datetime(2026, 3, 2, 10, 15, 0, tzinfo=UTC)
CMD = "/opt/teamcost/bin/teamcost statusline"
OURS_ENV = {  # Claude Code's Monitoring docs, written out by hand
    "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
}
THEIRS: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm run test:*)"], "deny": ["Read(./.env)"]},
    "hooks": {"PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command",
                                                             "command": "fmt \"$FILE\""}]}]},
    "env": {"ANTHROPIC_MODEL": "claude-opus-4", "OTEL_LOG_USER_PROMPTS": "0"},
    "cleanupPeriodDays": 20,
    "nested": {"float": 1.5, "big": 12345678901234567890, "null": None, "uni": "caf\u00e9 \u2603"},
}


def setup(path: Path, **kw: Any) -> cs.SetupResult:
    return cs.claude_code_setup(path, cs.DEFAULT_OTLP_ENDPOINT, CMD, now=NOW, **kw)


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.teamcost-backup-*"))


def write(path: Path, data: Any) -> bytes:
    raw = json.dumps(data, indent=4).encode()
    path.write_bytes(raw)
    return raw


def test_merges_into_existing_settings_keeping_every_other_key(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    raw = write(path, THEIRS)
    r = setup(path)
    assert r.changed and not r.created
    after = json.loads(path.read_text())
    expected = copy.deepcopy(THEIRS)
    expected["env"].update(OURS_ENV)
    expected["statusLine"] = {"type": "command", "command": CMD}
    assert after == expected                                 # deep-equal: nothing else moved
    assert list(after) == [*THEIRS, "statusLine"]            # and in the same order
    assert list(after["env"]) == [*THEIRS["env"], *OURS_ENV]
    assert r.env_added == OURS_ENV and r.env_kept == {} and r.statusline == "added"
    assert backups(path) == [tmp_path / "settings.json.teamcost-backup-20260302T101500Z"]
    assert r.backup == backups(path)[0] and r.backup.read_bytes() == raw


def test_a_second_run_changes_nothing_and_makes_no_second_backup(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    write(path, THEIRS)
    setup(path)
    written = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    later = cs.claude_code_setup(path, cs.DEFAULT_OTLP_ENDPOINT, CMD,
                                 now=datetime(2026, 3, 3, tzinfo=UTC))
    assert not later.changed and later.backup is None
    assert later.env_added == {} and later.statusline == "present"
    assert path.read_bytes() == written and path.stat().st_mtime_ns == mtime
    assert len(backups(path)) == 1


def test_no_settings_file_yet(tmp_path: Path) -> None:
    path = tmp_path / "claude" / "settings.json"      # not even the directory
    r = setup(path)
    assert r.created and r.changed and r.backup is None
    assert json.loads(path.read_text()) == {"env": OURS_ENV,
                                            "statusLine": {"type": "command", "command": CMD}}
    assert backups(path) == []


def test_an_existing_status_line_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    theirs = {"type": "command", "command": "~/.claude/statusline.sh", "padding": 0}
    write(path, {"statusLine": theirs})
    r = setup(path)
    assert r.statusline == "kept" and r.their_statusline == theirs
    assert json.loads(path.read_text()) == {"statusLine": theirs, "env": OURS_ENV}
    assert setup(path).changed is False


def test_a_differing_value_of_theirs_is_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    write(path, {"env": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
                         "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}})
    r = setup(path)
    assert r.env_kept == {"OTEL_EXPORTER_OTLP_ENDPOINT": ("http://collector:4317",
                                                          "http://127.0.0.1:4318"),
                          "OTEL_EXPORTER_OTLP_PROTOCOL": ("grpc", "http/protobuf")}
    env = json.loads(path.read_text())["env"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4317"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"


@pytest.mark.parametrize("content, why", [
    (b'{"model": "opus",}', "not valid JSON"),
    (b'{"model": "opus"', "not valid JSON"),
    (b"// comment\n{}", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"env": ["A=1"]}', "env is list"),
    (b'{"a": 1, "a": 2}', "duplicate key"),
    (b'{"a": "\xff"}', "not UTF-8"),
])
def test_settings_that_cannot_be_merged_are_left_untouched(tmp_path: Path, content: bytes,
                                                           why: str) -> None:
    (tmp_path / "cc").mkdir()
    path = tmp_path / "cc" / "settings.json"
    path.write_bytes(content)
    with pytest.raises(TeamcostError, match=why) as err:
        setup(path)
    assert "\n" not in str(err.value)
    assert path.read_bytes() == content
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]   # no backup, no temp


def test_a_directory_where_the_file_belongs(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.mkdir()
    with pytest.raises(TeamcostError, match="is a directory"):
        setup(path)


def test_an_empty_file_is_an_empty_object_and_is_backed_up(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b"\n")
    r = setup(path)
    assert r.changed and r.backup is not None and r.backup.read_bytes() == b"\n"


def test_the_file_mode_is_kept_and_a_symlinked_file_stays_a_symlink(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "claude-settings.json"
    dotfiles.parent.mkdir()
    write(dotfiles, {"model": "opus"})
    dotfiles.chmod(0o600)                       # it may hold an API key in env
    link = tmp_path / "settings.json"
    link.symlink_to(dotfiles)
    r = setup(link)
    assert link.is_symlink() and os.readlink(link) == str(dotfiles)
    assert json.loads(dotfiles.read_text())["model"] == "opus"
    assert "statusLine" in json.loads(dotfiles.read_text())
    assert stat.S_IMODE(dotfiles.stat().st_mode) == 0o600
    assert r.backup is not None and r.backup.parent == tmp_path          # next to the link
    assert stat.S_IMODE(r.backup.stat().st_mode) == 0o600


def test_backups_never_overwrite_each_other(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    write(path, {"a": 1})
    setup(path)
    write(path, {"b": 2})                       # the user edits it back, same second
    setup(path)
    names = [p.name for p in backups(path)]
    assert names == ["settings.json.teamcost-backup-20260302T101500Z",
                     "settings.json.teamcost-backup-20260302T101500Z-2"]
    assert json.loads(backups(path)[1].read_text()) == {"b": 2}


def test_claude_config_dir_moves_the_settings(tmp_path: Path) -> None:
    assert cs.default_settings_path({"CLAUDE_CONFIG_DIR": str(tmp_path / "cc")}) == (
        tmp_path / "cc" / "settings.json")
    assert cs.claude_config_dir({}, user_home=tmp_path) == tmp_path / ".claude"


def test_the_status_line_command_is_shell_quoted(tmp_path: Path) -> None:
    exe = tmp_path / "my tools" / "teamcost"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert cs.statusline_command(str(exe)) == f"'{exe}' statusline"
    assert cs.statusline_command("/x/pytest", python="/v/bin/python") == (
        "/v/bin/python -m teamcost statusline")


def test_the_command_reports_what_it_did(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    write(path, {"statusLine": {"type": "command", "command": "mine.sh"},
                 "env": {"OTEL_LOGS_EXPORTER": "console"}})
    r = run("agent", "claude-code-setup", "--settings", str(path))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"updated: {path}"
    assert lines[1].startswith(f"backup of the old file: {path}.teamcost-backup-")
    assert "env: added CLAUDE_CODE_ENABLE_TELEMETRY=1" in lines
    assert any(line.startswith('env: kept your OTEL_LOGS_EXPORTER="console"') for line in lines)
    assert any(line.startswith('statusLine: kept yours ({"type": "command", "command": '
                               '"mine.sh"})') for line in lines)
    again = run("agent", "claude-code-setup", "--settings", str(path))
    assert again.exit_code == 0 and again.stdout.splitlines()[0] == f"nothing to change in {path}"


def test_the_command_turns_broken_json_into_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{oops")
    r = run("agent", "claude-code-setup", "--settings", str(path))
    assert r.exit_code == 1
    assert "is not valid JSON" in one_error_line(r) and "left untouched" in one_error_line(r)
    assert path.read_text() == "{oops"
