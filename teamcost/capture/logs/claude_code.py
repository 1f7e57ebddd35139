"""``teamcost import claude-code``: Claude Code session transcripts
(``~/.claude/projects/**/*.jsonl``), one call per assistant message."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from teamcost.capture.logs.base import (
    SQLITE_MAGIC,
    ImportResult,
    Progress,
    importing,
    json_object,
    ticker,
)
from teamcost.capture.logs.tail import Reader, TailStats, scan_files
from teamcost.config import Config
from teamcost.errors import InvalidValue
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


_PLAIN_ID = re.compile(r"[\w.-]+")   # \w is str.isalnum() or "_": one regex, not a loop a line


def claude_code_call_id(message_id: str, request_id: str | None) -> str:
    """Deterministic: the same message (repeated lines, resumed sessions) gives the same id."""
    raw = f"cc-{message_id}-{request_id}" if request_id else f"cc-{message_id}"
    if len(raw) <= 128 and _PLAIN_ID.fullmatch(raw):
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


def _usage_int(usage: dict[str, Any], key: str, where: str = "message.usage") -> int:
    v = usage.get(key)
    if v is None:
        return 0
    if type(v) is not int or v < 0:
        raise InvalidValue(f"{where}.{key}", v, "a non-negative integer")
    return v


def _usage_part(usage: dict[str, Any], key: str) -> dict[str, Any]:
    part = usage.get(key)
    if part is None:
        return {}
    if not isinstance(part, dict):
        raise InvalidValue(f"message.usage.{key}", part, "an object of token counts")
    return part


def claude_code_call(data: dict[str, Any], project: str) -> dict[str, Any] | None:
    """The arguments of ``Tracker.build`` for the call in one transcript line, or None when
    the line is not an API call.

    Usage as the Messages API reports it: ``input_tokens`` already excludes cache reads and
    writes, as the ledger does. ``cache_creation_input_tokens`` is every cache write;
    ``cache_creation.ephemeral_1h_input_tokens`` the part written with a one-hour TTL (2x
    base input, against 1.25x for five minutes), passed on as ``cache_write_1h_tokens``;
    should the breakdown add up to more than the total, the breakdown's sum is taken.
    ``server_tool_use.web_search_requests`` is billed per search (``web_search_requests``).
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
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValue("timestamp", ts, "an ISO-8601 timestamp") from None
    session = data.get("sessionId")
    ttl = _usage_part(usage, "cache_creation")
    w1h = _usage_int(ttl, "ephemeral_1h_input_tokens", "message.usage.cache_creation")
    w5m = _usage_int(ttl, "ephemeral_5m_input_tokens", "message.usage.cache_creation")
    searches = _usage_int(_usage_part(usage, "server_tool_use"), "web_search_requests",
                          "message.usage.server_tool_use")
    return {
        "model": model, "input_tokens": _usage_int(usage, "input_tokens"),
        "output_tokens": _usage_int(usage, "output_tokens"), "provider": "anthropic",
        "cache_read_tokens": _usage_int(usage, "cache_read_input_tokens"),
        "cache_write_tokens": max(_usage_int(usage, "cache_creation_input_tokens"), w5m + w1h),
        "cache_write_1h_tokens": w1h, "web_search_requests": searches,
        "call_id": claude_code_call_id(mid, req if isinstance(req, str) and req else None),
        "ts": when,
        "session_id": session if isinstance(session, str) and session else None,
        "tags": {"project": project[:256], "source": "claude-code"}}


def _size(call: dict[str, Any]) -> tuple[int, ...]:
    """How far a streaming snapshot got: the final line has the most output (and, where
    they grow too, the most searches and input)."""
    return (call["output_tokens"], call["web_search_requests"], call["input_tokens"],
            call["cache_read_tokens"], call["cache_write_tokens"])


def claude_code_record(build: Any, data: dict[str, Any], project: str) -> CallRecord | None:
    """The call in one transcript line, or None when the line is not an API call."""
    call = claude_code_call(data, project)
    return None if call is None else build(**call)


class ClaudeCodeReader:
    """One transcript's lines -> calls, each emitted once with its final usage.

    Claude Code writes an assistant message several times while it streams (one line per
    content block, ``"stop_reason": null`` until the last), and messages of parallel tasks
    interleave. A message stays *open* until it is final: its line carries a stop reason, or
    (older logs without the field) a line of another message follows, or the file has been
    quiet for tail.ACTIVE_S (a crashed session: what it has is all there is). The biggest output
    seen wins, at the time of the message's *first* line (the request: a call streaming
    across midnight belongs to the day it started), priced at that time. ``checkpoint`` is
    the first line of the oldest open message, so a restart reads every snapshot of it
    again (its first line included).
    """

    def __init__(self, path: Path, root: Path, build: Any, state: dict[str, Any] | None = None,
                 start: int = 0, lineno: int = 0) -> None:
        self.path, self.root, self.build = path, root, build
        self.projects: dict[str, str] = dict((state or {}).get("projects", {}))
        # call id -> [best record, first offset, line before it, still streaming, final?,
        #             snapshot lines merged into it, size of the best snapshot]
        self.open: dict[str, list[Any]] = {}
        self.done: set[str] = set()
        self.end, self.lineno = start, lineno
        self.pending = 0
        self.merged = 0

    def feed(self, line: bytes, lineno: int, end: int) -> list[CallRecord]:
        self.end, self.lineno = end, lineno
        data = json_object(line)
        cwd = str(data.get("cwd") or "")
        if cwd not in self.projects:
            self.projects[cwd] = _project_of(self.path, self.root, data)
        call = claude_code_call(data, self.projects[cwd])
        if call is None:
            return []
        key = call["call_id"]
        held = self.open.get(key)
        if key not in self.done:
            # build (validate, price) before anything changes: a bad line changes nothing
            if held is None:
                rec = self.build(**call)
            elif _size(call) > held[6]:       # a later snapshot: its usage, the first time
                rec = self.build(**{**call, "ts": held[0].ts})
            else:
                rec = None
        out = [self._emit(k) for k, m in list(self.open.items()) if k != key and m[4]]
        msg = data.get("message")
        stop = msg.get("stop_reason", "absent") if isinstance(msg, dict) else "absent"
        if key in self.done:          # a line repeating a call this pass already emitted
            self.merged += 1
            return out
        if held is None:
            held = self.open[key] = [rec, end - len(line), lineno - 1, False, False, 0,
                                     _size(call)]
        else:
            held[5] += 1                          # a snapshot: counted when the call is
            if rec is not None:
                held[0], held[6] = rec, _size(call)
        held[3] = stop is None                    # explicitly mid-stream
        held[4] = stop is not None                # final once another message follows
        if stop not in (None, "absent"):          # an explicit stop reason: final now
            out.append(self._emit(key))
        return out

    # a line without a usage object is no call: tail skips it without decoding
    needles = (b'"usage"',)

    def advance(self, lineno: int, end: int) -> None:
        self.end, self.lineno = end, lineno

    def skipped(self, line: bytes, lineno: int, end: int) -> None:
        self.end, self.lineno = end, lineno

    def _emit(self, key: str) -> CallRecord:
        self.done.add(key)
        held = self.open.pop(key)
        self.merged += held[5]
        return held[0]

    def finish(self, quiet: bool) -> list[CallRecord]:
        if quiet:
            return [self._emit(k) for k in list(self.open)]
        self.pending = sum(1 for m in self.open.values() if m[3])
        return []

    def checkpoint(self) -> tuple[int, int, dict[str, Any]]:
        state = {"projects": self.projects}
        if self.open:
            first = min(self.open.values(), key=lambda m: m[1])
            return first[1], first[2], state
        return self.end, self.lineno, state


def import_claude_code(path: Path | str | None, config: Config, ledger: Ledger | None = None,
                       progress: Progress | None = None) -> ImportResult:
    """Import every assistant message with usage from Claude Code session logs.

    Progress per file is kept in the ledger (teamcost.capture.logs.tail): importing an
    unchanged tree again reads nothing, a grown file only its new lines.
    """
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
        scan_claude_code(led, Tracker(config, led), root, files, result,
                         ticker(progress, sum(f.stat().st_size for f in files)))
    return result


def scan_claude_code(ledger: Ledger, tracker: Tracker, root: Path, files: list[Path],
                     result: ImportResult, tick: Any = lambda n: None) -> TailStats:
    """What is new in Claude Code transcripts under ``root`` into the ledger (import and agent)."""

    def reader(path: Path, state: dict[str, Any] | None, start: int, lineno: int) -> Reader:
        return ClaudeCodeReader(path, root, tracker.build, state, start, lineno)

    return scan_files(ledger, "claude-code", files, reader, result, tick=tick)
