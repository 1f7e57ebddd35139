"""``teamcost import claude-code``: Claude Code session transcripts
(``~/.claude/projects/**/*.jsonl``), one call per assistant message."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from teamcost.capture.logs.base import (
    SQLITE_MAGIC,
    ImportResult,
    Progress,
    Sink,
    importing,
    json_object,
    read_lines,
    ticker,
    why_bad,
)
from teamcost.config import Config
from teamcost.errors import InvalidValue, TeamcostError
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.tracker import Tracker


def default_claude_code_path() -> Path:
    """Where Claude Code keeps session logs (CLAUDE_CONFIG_DIR moves it)."""
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base) if base else Path.home() / ".claude") / "projects"


def claude_code_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.jsonl") if p.is_file())


def claude_code_call_id(message_id: str, request_id: str | None) -> str:
    """Deterministic: the same message (repeated lines, resumed sessions) gives the same id."""
    raw = f"cc-{message_id}-{request_id}" if request_id else f"cc-{message_id}"
    if len(raw) <= 128 and all(c.isalnum() or c in "-_." for c in raw):
        return raw
    return "cc-" + hashlib.sha256(f"{message_id}\x00{request_id}".encode()).hexdigest()[:40]


def _project_of(file: Path, root: Path, data: dict[str, Any]) -> str:
    cwd = data.get("cwd")
    if isinstance(cwd, str) and cwd.strip():
        return Path(cwd).name or cwd
    try:  # projects/<escaped cwd>/<session>.jsonl
        return file.relative_to(root).parts[0] if file != root else file.parent.name
    except ValueError:
        return file.parent.name


def _usage_int(usage: dict[str, Any], key: str) -> int:
    v = usage.get(key)
    if v is None:
        return 0
    if type(v) is not int or v < 0:
        raise InvalidValue(f"message.usage.{key}", v, "a non-negative integer")
    return v


ACTIVE_S = 600   # a session log written this recently may still be streaming its last message


def _still_streaming(data: dict[str, Any]) -> bool:
    """An explicit ``"stop_reason": null``: Claude Code wrote this line mid-stream."""
    msg = data.get("message")
    return isinstance(msg, dict) and "stop_reason" in msg and msg["stop_reason"] is None


def claude_code_record(tracker: Tracker, data: dict[str, Any], project: str) -> CallRecord | None:
    """The call in one transcript line, or None when the line is not an API call.

    Anthropic's ``input_tokens`` already excludes cache reads and writes, as the ledger does.
    """
    if data.get("type") != "assistant":
        return None
    msg = data.get("message")
    if not isinstance(msg, dict) or not isinstance(msg.get("usage"), dict):
        return None
    model = msg.get("model")
    if model == "<synthetic>":  # Claude Code's own placeholder messages: no API call
        return None
    usage = msg["usage"]
    mid = msg.get("id")
    if not isinstance(mid, str) or not mid:
        raise InvalidValue("message.id", mid, "the API message id (msg_...)")
    if not isinstance(model, str) or not model:
        raise InvalidValue("message.model", model, "a model name")
    req = data.get("requestId")
    ts = data.get("timestamp")
    if not isinstance(ts, str):
        raise InvalidValue("timestamp", ts, "an ISO-8601 timestamp")
    session = data.get("sessionId")
    return tracker.build(
        model, _usage_int(usage, "input_tokens"), _usage_int(usage, "output_tokens"),
        provider="anthropic",
        cache_read_tokens=_usage_int(usage, "cache_read_input_tokens"),
        cache_write_tokens=_usage_int(usage, "cache_creation_input_tokens"),
        call_id=claude_code_call_id(mid, req if isinstance(req, str) and req else None),
        ts=datetime.fromisoformat(ts.replace("Z", "+00:00")),
        session_id=session if isinstance(session, str) and session else None,
        tags={"project": project[:256], "source": "claude-code"})


def import_claude_code(path: Path | str | None, config: Config, ledger: Ledger | None = None,
                       progress: Progress | None = None) -> ImportResult:
    """Import every assistant message with usage from Claude Code session logs."""
    root = Path(path).expanduser() if path is not None else default_claude_code_path()
    accepted = "a Claude Code projects directory (or one session .jsonl file)"
    if not root.exists():
        raise InvalidValue("PATH", str(root), f"{accepted} (no such file or directory)")
    files = claude_code_files(root)
    if not files:
        raise InvalidValue("PATH", str(root), f"{accepted}; it holds no *.jsonl session logs")
    if root.is_file():
        with root.open("rb") as fh:
            if fh.read(16) == SQLITE_MAGIC:
                raise InvalidValue("PATH", str(root), f"{accepted}; this is a SQLite database "
                                                      "(use 'teamcost import sqlite')")
    result = ImportResult("claude-code", str(root), files=len(files))
    with importing(config, ledger, result) as led:
        tracker = Tracker(config, led)
        sink = Sink(led, result, lenient=True)
        tick = ticker(progress, sum(f.stat().st_size for f in files))
        for file in files:
            projects: dict[str, str] = {}   # cwd -> project name (the log's own cwd wins)
            last: tuple[str, bool] | None = None   # the file's last call: (id, mid-stream)
            try:
                active = time.time() - file.stat().st_mtime < ACTIVE_S
                for no, line in read_lines(file, result, tick):
                    where = f"{file}:{no}"
                    try:
                        data = json_object(line)
                        cwd = str(data.get("cwd") or "")
                        if cwd not in projects:
                            projects[cwd] = _project_of(file, root, data)
                        rec = claude_code_record(tracker, data, projects[cwd])
                    except (ValueError, TypeError, TeamcostError) as exc:
                        result.add_bad(where, why_bad(exc))
                        continue
                    if rec is not None:
                        sink.add(rec, where)
                        last = (rec.call_id, _still_streaming(data))
            except OSError as exc:  # a file vanished or became unreadable mid-import
                result.add_bad(str(file), f"cannot read it ({exc.strerror or exc})")
                continue
            # the ledger is append-only: a message caught mid-stream in a live session
            # would keep its partial output for good, so it waits for the next import
            if last is not None and last[1] and active and sink.withdraw(last[0]):
                result.pending += 1
        sink.flush()
    return result
