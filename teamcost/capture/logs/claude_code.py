"""``teamcost import claude-code``: Claude Code session transcripts
(``~/.claude/projects/**/*.jsonl``), one call per assistant message."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from teamcost.capture.logs.base import (
    ImportResult,
    Progress,
    importing,
    json_object,
    not_json_lines,
    ticker,
    why_bad,
)
from teamcost.capture.logs.tail import Reader, TailStats, scan_files
from teamcost.capture.witness import SOURCE_TRANSCRIPT, request_call_id, settle
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


_NEEDLES = (b'"usage"',)
INTERRUPTED = "[Request interrupted by user"
# while a message is held, a line without usage is still decoded when it may be the user's
# interrupt line (the marker's text, or \u-escapes that could spell it: a JSON writer may
# escape any character, and those of the marker are U+0020-U+007E); any other line only
# needs its parentUuid, read from its bytes (_leading_parent)
_HELD_NEEDLES = (*_NEEDLES, INTERRUPTED.encode(),
                 *(b"\\u00" + bytes([c]) for c in b"234567"))
_PARENT_KEY = b'"parentUuid":'
_LEADING = b"{" + _PARENT_KEY
_UNREAD = object()
_PLAIN_ID = re.compile(r"[\w.-]+")   # \w is str.isalnum() or "_": one regex, not a loop a line


def claude_code_call_id(message_id: str, request_id: str | None) -> str:
    """Deterministic: the same request (repeated lines, resumed sessions, its telemetry
    event) gives the same id: from the API request id (``witness.request_call_id``), or
    ``cc-<message id>`` for lines without one (early versions). Calls recorded before
    under ``cc-<message id>-<request id>`` are found by ``witness.recorded_before``."""
    if request_id:
        return request_call_id(request_id)
    raw = f"cc-{message_id}"
    if len(raw) <= 128 and _PLAIN_ID.fullmatch(raw):
        return raw
    return "cc-" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


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
    tags = {"project": project[:256], "source": SOURCE_TRANSCRIPT}
    if isinstance(req, str) and req:
        tags["request_id"] = req[:256]
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
        "tags": tags,
        # repo, branch, ticket (teamcost.attribution); subagent transcripts write them too
        "origin": {"cwd": data.get("cwd"), "branch": data.get("gitBranch")}}


def _size(call: dict[str, Any]) -> tuple[int, ...]:
    """How far a streaming snapshot got: the final line has the most output (and, where
    they grow too, the most searches and input)."""
    return (call["output_tokens"], call["web_search_requests"], call["input_tokens"],
            call["cache_read_tokens"], call["cache_write_tokens"])


def claude_code_record(build: Any, data: dict[str, Any], project: str) -> CallRecord | None:
    """The call in one transcript line, or None when the line is not an API call."""
    call = claude_code_call(data, project)
    return None if call is None else build(**call)


QUIET_S = 90.0   # a transcript quiet this long: what its held messages have is all there is


def _leading_parent(line: bytes) -> Any:
    """A line's top-level ``parentUuid`` read from its bytes when Claude Code's layout
    makes that exact: the object's first key (compact), the only ``"parentUuid":`` in the
    line (inside a string every quote is escaped, so any other is a key too: a nested or
    repeated one, and json keeps the last), its value ``null`` or a string without escapes
    or control characters. Else ``_UNREAD`` (the line is decoded)."""
    if not line.startswith(_LEADING) or line.count(_PARENT_KEY) != 1:
        return _UNREAD
    at = len(_LEADING)
    if line.startswith(b"null", at):
        return None if line[at + 4:at + 5] in (b",", b"}") else _UNREAD
    if line[at:at + 1] != b'"':
        return _UNREAD
    close = line.find(b'"', at + 1, at + 1024)
    if close < 0 or line[close + 1:close + 2] not in (b",", b"}"):
        return _UNREAD
    raw = line[at + 1:close]
    if b"\\" in raw or any(c < 0x20 for c in raw):
        return _UNREAD
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _UNREAD


# a call's token counts (CallRecord's order): what grows from one streaming snapshot of a
# message to the next
_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_SAME = frozenset((*_COUNTS, "ts"))


def _only_counts_differ(call: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two snapshots' calls differ in their token counts (and time) alone: the
    extras (one-hour cache writes, web searches) are tags of the record, so they must be
    the same too."""
    return call.keys() == other.keys() and all(
        v == other[k] for k, v in call.items() if k not in _SAME)


@dataclass
class _Held:
    """An assistant message not final yet: its best snapshot and where it started."""

    rec: CallRecord
    call: dict[str, Any]        # the best snapshot's call (``rec``'s)
    offset: int                 # its first line's offset (a restart reads from there)
    line: int                   # the line number before it
    size: tuple[int, ...]       # of the best snapshot
    message_id: str
    uuids: set[str] = field(default_factory=set)    # its lines' uuids
    snapshots: int = 0          # lines merged into it
    streaming: bool = False     # its last line said "stop_reason": null
    next_ends: bool = False     # no stop_reason key: final once another message follows
    interrupted: bool = False   # the user's Ctrl-C line follows it


def _interrupt_marker(data: dict[str, Any]) -> bool:
    """The line Claude Code writes when the user interrupts a streaming reply."""
    if data.get("type") != "user":
        return False
    msg = data.get("message")
    content = msg.get("content") if isinstance(msg, dict) else None
    if isinstance(content, str):
        return content.startswith(INTERRUPTED)
    return isinstance(content, list) and any(
        isinstance(b, dict) and isinstance(b.get("text"), str)
        and b["text"].startswith(INTERRUPTED) for b in content)


class ClaudeCodeReader:
    """One transcript's lines -> calls, each emitted once with its final usage.

    Claude Code writes an assistant message once per content block, each line repeating
    the message id, ``requestId`` and the usage so far; messages of parallel tasks
    interleave. A message stays *held* until it is final:

    - a line of it carries a stop reason (current versions write a message's lines only
      once the stream's ``message_delta`` arrived, all with the final stop reason);
    - the next line of its conversation that is not one of its snapshots arrives: a line
      whose ``parentUuid`` is one of its lines (the tool_result, the next prompt, another
      assistant message, a system line). Older 2.1.x versions wrote every line with
      ``"stop_reason": null``; this is how their messages become final;
    - hand-written logs without the stop_reason key: a line of another message follows;
    - the file has been quiet for QUIET_S (the session's last message, or a crash).

    The biggest snapshot wins, at the time of the message's *first* line (the request),
    priced at that time. A message that ends without its stream ending (its last line says
    ``stop_reason: null`` in a file whose other messages carry stop reasons, or the user's
    interrupt line follows it) is recorded ``estimated``: its output count is what the CLI
    had when the stream stopped. ``checkpoint`` is the first line of the oldest held
    message, so a restart reads every snapshot of it again.

    ``witness`` (the ledger's second-witness check, capture/witness.py) is asked about every
    call made final: one already recorded (by telemetry, or under a pre-join id) is not
    emitted again; a disagreement with the recorded numbers is reported in ``result``; a
    snapshot bigger than the recorded one (an older-shape message recorded after quiet whose
    stream went on) is emitted as the correction ``<call id>-more-<output>``.
    """

    quiet_s = QUIET_S

    def __init__(self, path: Path, root: Path, build: Any, state: dict[str, Any] | None = None,
                 start: int = 0, lineno: int = 0,
                 witness: Callable[[CallRecord, str],
                                   tuple[bool, str | None, CallRecord | None]] | None = None,
                 result: ImportResult | None = None,
                 check: Callable[..., Any] | None = None) -> None:
        self.path, self.root, self.build = path, root, build
        # Tracker.check_numbers: a bigger snapshot that differs from the held record's only
        # in its token counts is priced and checked as build would, and the record copied
        # with those counts and that cost (without it: built again)
        self.check = check
        self.projects: dict[str, str] = dict((state or {}).get("projects", {}))
        self.modern = bool((state or {}).get("modern"))   # stop reasons seen in this file
        self.open: dict[str, _Held] = {}
        self.done: set[str] = set()
        self.end, self.lineno = start, lineno
        self.pending = 0
        self.merged = 0
        self.witness, self.result = witness, result

    def feed(self, line: bytes, lineno: int, end: int) -> list[CallRecord]:
        self.end, self.lineno = end, lineno
        data = json_object(line)
        cwd = str(data.get("cwd") or "")
        if cwd not in self.projects:
            self.projects[cwd] = _project_of(self.path, self.root, data)
        call = claude_code_call(data, self.projects[cwd])
        key = call["call_id"] if call is not None else None
        held = self.open.get(key) if key is not None else None
        rec = None
        if call is not None and key not in self.done:
            # build (validate, price) before anything changes: a bad line changes nothing
            if held is None:
                rec = self.build(**call)
            elif _size(call) > held.size:       # a later snapshot: its usage, the first time
                rec = self._bigger(call, held)
        parent = data.get("parentUuid")
        ends = [k for k, m in self.open.items() if k != key and (
            (isinstance(parent, str) and parent in m.uuids)
            or (call is not None and m.next_ends))]
        if ends and _interrupt_marker(data):
            for k in ends:
                self.open[k].interrupted = True
        out = [r for r in (self._emit(k) for k in ends) if r is not None]
        if call is None or key is None:
            return out
        msg = data.get("message")
        stop = msg.get("stop_reason", "absent") if isinstance(msg, dict) else "absent"
        if stop not in (None, "absent"):
            self.modern = True
        if key in self.done:          # a line repeating a call this pass already emitted
            self.merged += 1
            return out
        if held is None:
            assert rec is not None
            held = self.open[key] = _Held(rec, call, end - len(line), lineno - 1,
                                          _size(call),
                                          str(msg.get("id")) if isinstance(msg, dict) else "")
        else:
            held.snapshots += 1                   # a snapshot: counted when the call is
            if rec is not None:
                held.rec, held.call, held.size = rec, call, _size(call)
        uuid = data.get("uuid")
        if isinstance(uuid, str):
            held.uuids.add(uuid)
        held.streaming = stop is None
        held.next_ends = stop == "absent"
        if stop not in (None, "absent"):          # an explicit stop reason: final now
            got = self._emit(key)
            if got is not None:
                out.append(got)
        return out

    def _bigger(self, call: dict[str, Any], held: _Held) -> CallRecord:
        """The record of a bigger snapshot of a held message (at its first line's time):
        the held record with the new counts and price when nothing else differs (same
        price source), else built anew."""
        old = held.rec
        if self.check is not None and _only_counts_differ(call, held.call):
            price = self.check(**{k: call[k] for k in ("model", "provider", *_COUNTS,
                                                        "cache_write_1h_tokens",
                                                        "web_search_requests")}, ts=old.ts)
            if (price.priced, price.source) == (old.priced, old.price_source):
                return old.with_counts([call[k] for k in _COUNTS], price.cost_nanos)
        return self.build(**{**call, "ts": old.ts})

    # a line without a usage object is no call: tail skips it without decoding. While a
    # message is held (older shape, or mid-stream) any line of its conversation may end it
    # (by its parentUuid, or as the interrupt marker): marker-like lines are decoded, the
    # others' parentUuid is read from their bytes (``skipped``)
    @property
    def needles(self) -> tuple[bytes, ...] | None:
        return _HELD_NEEDLES if self.open else _NEEDLES

    def advance(self, lineno: int, end: int) -> None:
        self.end, self.lineno = end, lineno

    def skipped(self, line: bytes, lineno: int, end: int) -> list[CallRecord]:
        """A line without usage: nothing when no message is held; else the messages its
        parentUuid ends (a line whose parentUuid its bytes do not tell exactly is decoded,
        and reported like any other when it is bad)."""
        if not self.open:
            self.end, self.lineno = end, lineno
            return []
        parent = _leading_parent(line)
        if parent is _UNREAD:
            try:
                return self.feed(line, lineno, end)
            except (ValueError, TypeError, TeamcostError, RecursionError) as exc:
                if self.result is None:
                    raise
                self.result.add_bad(f"{self.path}:{lineno}", why_bad(exc))
                self.advance(lineno, end)
                return []
        self.end, self.lineno = end, lineno
        if parent is None:
            return []
        ends = [k for k, m in self.open.items() if parent in m.uuids]
        return [r for r in (self._emit(k) for k in ends) if r is not None]

    def _emit(self, key: str) -> CallRecord | None:
        self.done.add(key)
        held = self.open.pop(key)
        self.merged += held.snapshots
        rec = held.rec
        if held.streaming and (self.modern or held.interrupted):
            rec = rec.replace(estimated=True)     # its stream never ended: not exact
            if self.result is not None:
                self.result.estimated += 1
        if self.witness is not None:
            already, differs, more = self.witness(rec, held.message_id)
            if differs and self.result is not None:
                self.result.disagree(differs)
            if already:
                self.merged += 1
                return more       # a later, bigger snapshot: what the call was missing
        return rec

    def finish(self, quiet: bool) -> list[CallRecord]:
        if quiet:
            return [r for r in (self._emit(k) for k in list(self.open)) if r is not None]
        self.pending = len(self.open)
        if self.open and self.result is not None:
            try:
                until = self.path.stat().st_mtime + self.quiet_s
            except OSError:
                until = time.time() + self.quiet_s
            self.result.hold(until, HELD_WHY)
        return []

    def checkpoint(self) -> tuple[int, int, dict[str, Any]]:
        state: dict[str, Any] = {"projects": self.projects}
        if self.modern:
            state["modern"] = True
        if self.open:
            first = min(self.open.values(), key=lambda m: m.offset)
            return first.offset, first.line, state
        return self.end, self.lineno, state


HELD_WHY = ("its last line is not final yet (no stop reason, and no later line of its "
            f"conversation); it is recorded then, or after {QUIET_S:.0f} s of quiet")


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
    why = not_json_lines(root) if root.is_file() else None
    if why is not None:
        raise InvalidValue("PATH", str(root), f"{accepted}; {why}")
    result = ImportResult("claude-code", str(root), files=len(files))
    with importing(config, ledger, result) as led:
        scan_claude_code(led, Tracker(config, led), root, files, result,
                         ticker(progress, sum(f.stat().st_size for f in files)))
    return result


def scan_claude_code(ledger: Ledger, tracker: Tracker, root: Path, files: list[Path],
                     result: ImportResult, tick: Any = lambda n: None) -> TailStats:
    """What is new in Claude Code transcripts under ``root`` into the ledger (import and agent)."""

    def witness(rec: CallRecord, message_id: str
                ) -> tuple[bool, str | None, CallRecord | None]:
        return settle(ledger, rec, message_id or None)

    def reader(path: Path, state: dict[str, Any] | None, start: int, lineno: int) -> Reader:
        return ClaudeCodeReader(path, root, tracker.build, state, start, lineno,
                                witness=witness, result=result, check=tracker.check_numbers)

    return scan_files(ledger, "claude-code", files, reader, result, tick=tick,
                      quiet_s=ClaudeCodeReader.quiet_s)
