"""OpenAI Codex CLI session logs ("rollouts"): one call per model request.

Where: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl`` and
``$CODEX_HOME/archived_sessions/`` (``CODEX_HOME`` defaults to ``~/.codex``). Codex writes
each rollout append-only, one JSON object a line: ``{"timestamp", "type", "payload"}``
(codex-rs ``RolloutLine``). This reader uses three kinds of line (``MODE = "lines"``):

- ``session_meta``: the session id, its start time, cwd and ``model_provider`` (and a
  ``model``, where a build wrote one);
- ``turn_context``: written at the start of every turn, with the ``model`` (a ``/model``
  change mid-session shows up in the next turn's context) and cwd;
- ``event_msg`` whose payload is ``token_count``: ``info.total_token_usage`` (cumulative
  for the session) and ``info.last_token_usage`` (the request just made), each with
  ``input_tokens``, ``cached_input_tokens``, ``output_tokens``, ``reasoning_output_tokens``,
  ``total_tokens``. ``info`` is null in the events that only carry rate limits.

Token counts follow OpenAI's Responses API: ``input_tokens`` includes the cached ones, so
the record's input is ``input - cached`` (and ``- cache_write_input_tokens`` where newer
logs report cache writes, recorded as cache writes); ``output_tokens`` already includes
the reasoning tokens, which OpenAI bills as output: they stay inside ``output_tokens``
and are also written as the tag ``reasoning_tokens`` (a string) for people to see.

What real logs do, and what this reader does about it:

- The same usage is logged again: every rate-limit update re-sends the last
  ``token_count`` unchanged, and compaction writes an estimate into
  ``last_token_usage`` with an unchanged total. An event whose cumulative total equals
  the previous one is not a request and is skipped.
- The cumulative total restarts (older Codex versions resumed a session at zero in the
  same file; a context-window overflow rewrites the total to the window size). A total
  that went down in any count starts a new counting epoch, never a negative delta.
- The request's usage is ``last_token_usage`` when it fits within what the total grew
  by; otherwise (absent, or claiming more than the total grew) the growth of the total.
- Forked and sub-agent sessions begin by copying their parent's rollout lines, its own
  ``session_meta`` included, restamped with the fork's time. A request's identity is
  therefore the session that made it plus its cumulative total (and epoch), not the file
  or line it is found in: the copied history gets the parent's call ids and counts once.
  A copied segment ends at the first ``turn_context`` whose ``turn_id`` (a UUIDv7) is
  newer than the session below it on the stack was created; logs without time-bearing
  turn ids keep later requests under the copied session's id: still counted exactly
  once, under that session. Copies found where the parent's own log is gone are
  recorded with the time they were copied.
- Requests before any ``turn_context`` (some September 2025 builds) get the model
  ``unknown``, so they are counted and reported as unpriced, not guessed.
- ``codex exec --json`` output saved by hand is not a rollout and is not read.

``call_id`` = ``codex-<session id>-<digest of epoch and cumulative total>``.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from teamcost.capture.logs.base import ImportResult, Progress
from teamcost.capture.logs.importing import import_tree
from teamcost.capture.logs.parsing import call_id, count, json_object, project_of, timestamp
from teamcost.config import Config
from teamcost.errors import InvalidValue
from teamcost.ledger import Ledger
from teamcost.models import CallRecord

SOURCE = "codex"
# the only line kinds the reader decodes (base.needs_decoding); the rest, tool output
# and reasoning included, are skipped as bytes
NEEDLES = (b'"session_meta"', b'"turn_context"', b'"token_count"')
MODE = "lines"
PROVIDER = "openai"
UNKNOWN_MODEL = "unknown"
ACCEPTED = "a Codex home, sessions directory or rollout .jsonl file"

_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens",
           "total_tokens", "cache_write_input_tokens")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
Usage = tuple[int, int, int, int, int, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def default_roots() -> list[Path]:
    """``$CODEX_HOME`` (default ``~/.codex``); it may not exist."""
    home = os.environ.get("CODEX_HOME")
    return [Path(home).expanduser() if home else Path.home() / ".codex"]


def list_files(root: Path) -> list[Path]:
    """Rollouts under a Codex home (its ``sessions`` and ``archived_sessions``), or every
    ``*.jsonl`` under any other directory; ``[root]`` for a file. Sorted by path."""
    if root.is_file():
        return [root]
    dirs = [d for d in (root / "sessions", root / "archived_sessions") if d.is_dir()] or [root]
    return sorted(p for d in dirs for p in d.rglob("*.jsonl") if p.is_file())


def _usage(value: Any, field: str) -> Usage | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidValue(field, value, "an object of token counts")
    u = tuple(count(value, k, f"{field}.{k}") for k in _FIELDS)
    return u  # type: ignore[return-value]


def _uuid7_ms(value: Any) -> int | None:
    """Milliseconds since the epoch in a UUIDv7 (Codex's thread and turn ids), else None."""
    if not isinstance(value, str):
        return None
    try:
        u = uuid.UUID(value)
    except ValueError:
        return None
    return u.int >> 80 if u.version == 7 else None


def _created_ms(meta: dict[str, Any]) -> int | None:
    """When a session was created: its meta's timestamp, else its UUIDv7 id."""
    ts = meta.get("timestamp")
    if isinstance(ts, str):
        try:
            when = timestamp(ts, "session_meta.timestamp")
        except InvalidValue:
            pass
        else:
            return (when - _EPOCH) // timedelta(milliseconds=1)   # exact, no float
    return _uuid7_ms(meta.get("id"))


def _session_from_name(path: Path) -> str:
    found = _UUID.findall(path.name)
    return found[-1].lower() if found else path.stem


class Reader:
    """Turns one rollout's lines into calls; resumable from ``state()``.

    State: the file's own session, the stack of sessions whose copied history is being
    read (``[id, created ms, provider]``), the current model/cwd/provider, and per session
    ``[epoch, last cumulative total]``.
    """

    def __init__(self, path: Path, root: Path, build: Callable[..., CallRecord],
                 state: dict[str, Any] | None = None) -> None:
        self.path = path
        self.root = root
        self.build = build
        s = state or {}
        self._own: str | None = s.get("own")
        self._own_created: int | None = s.get("own_created")
        self._stack: list[list[Any]] = [list(e) for e in s.get("stack", [])]
        self._model: str | None = s.get("model")
        self._cwd: str | None = s.get("cwd")
        self._provider: str | None = s.get("provider")
        # session_meta.git (codex-rs GitInfo): {commit_hash, branch, repository_url}
        self._git: dict[str, str] = dict(s.get("git") or {})
        self._counters: dict[str, list[Any]] = {k: [v[0], list(v[1])]
                                                for k, v in s.get("counters", {}).items()}

    def state(self) -> dict[str, Any]:
        return {"own": self._own, "own_created": self._own_created,
                "stack": [list(e) for e in self._stack], "model": self._model,
                "cwd": self._cwd, "provider": self._provider, "git": self._git,
                "counters": {k: [v[0], list(v[1])] for k, v in self._counters.items()}}

    def feed(self, line: bytes, lineno: int) -> list[CallRecord]:
        """The calls in one line (usually none). ValueError / TeamcostError for a bad line,
        which leaves the state as it was."""
        data = json_object(line)
        kind = data.get("type")
        payload = data.get("payload")
        if kind == "session_meta" and isinstance(payload, dict):
            self._session_meta(payload)
        elif kind == "turn_context" and isinstance(payload, dict):
            self._turn_context(payload)
        elif (kind == "event_msg" and isinstance(payload, dict)
              and payload.get("type") == "token_count"):
            rec = self._token_count(data, payload)
            return [rec] if rec is not None else []
        return []

    # -- line kinds --

    def _session_meta(self, meta: dict[str, Any]) -> None:
        sid = meta.get("id")
        if not isinstance(sid, str) or not sid.strip():
            raise InvalidValue("session_meta.payload.id", sid, "the session id")
        provider = meta.get("model_provider")
        provider = provider if isinstance(provider, str) and provider.strip() else None
        cwd = meta.get("cwd")
        if isinstance(cwd, str) and cwd.strip():
            self._cwd = cwd
        git = meta.get("git")
        if isinstance(git, dict):
            self._git = {k: v for k in ("branch", "repository_url")
                         if isinstance(v := git.get(k), str) and v}
        model = meta.get("model")       # not written by current Codex; some builds did
        if isinstance(model, str) and model.strip():
            self._model = model
        if self._own is None:
            self._own, self._own_created, self._provider = sid, _created_ms(meta), provider
        elif sid == self._own:
            self._stack = []
        else:   # another session's history, copied in by a fork, begins here
            self._stack.append([sid, _created_ms(meta), provider])

    def _turn_context(self, ctx: dict[str, Any]) -> None:
        model = ctx.get("model")
        if isinstance(model, str) and model.strip():
            self._model = model
        cwd = ctx.get("cwd")
        if isinstance(cwd, str) and cwd.strip():
            self._cwd = cwd
        started = _uuid7_ms(ctx.get("turn_id"))
        if started is None:
            return
        # a turn run after the session below the top was created belongs to that session
        # (or a later one): the copied history of the top has ended
        while self._stack:
            below = self._stack[-2][1] if len(self._stack) > 1 else self._own_created
            if below is None or started < below:
                break
            self._stack.pop()

    def _token_count(self, data: dict[str, Any], payload: dict[str, Any]) -> CallRecord | None:
        info = payload.get("info")
        if info is None:
            return None            # a rate-limit update only
        if not isinstance(info, dict):
            raise InvalidValue("payload.info", info, "an object with token usage, or null")
        total = _usage(info.get("total_token_usage"), "info.total_token_usage")
        last = _usage(info.get("last_token_usage"), "info.last_token_usage")
        if total is None and last is None:
            return None
        when = timestamp(data.get("timestamp"), "timestamp")
        origin = self._origin()
        epoch, prev = self._counters.get(origin, [0, None])
        prev_t: Usage | None = tuple(prev) if prev is not None else None
        if total is not None:
            if prev_t is not None and total == prev_t:
                return None        # the same usage sent again
            reset = prev_t is not None and any(t < p for t, p in zip(total, prev_t, strict=True))
            if reset:
                epoch += 1
            if prev_t is None or reset:
                used = last if last is not None else total
            else:
                grown: Usage = tuple(t - p for t, p in zip(total, prev_t, strict=True))  # type: ignore[assignment]
                fits = last is not None and all(a <= b for a, b in zip(last, grown, strict=True))
                used = last if fits and last is not None else grown
            identity: tuple[object, ...] = (epoch, *total)
        else:
            assert last is not None
            used, identity = last, ("last", data.get("timestamp"), *last)
        model = self._reported_model(payload, info)
        rec = self._record(used, origin, identity, when, model)
        if total is not None:      # state changes only once the line is known good
            self._counters[origin] = [epoch, list(total)]
        return rec

    # -- helpers --

    def _origin(self) -> str:
        if self._stack:
            return str(self._stack[-1][0])
        if self._own is None:      # no session_meta (a truncated copy): the file name's id
            self._own = _session_from_name(self.path)
        return self._own

    def _reported_model(self, payload: dict[str, Any], info: dict[str, Any]) -> str:
        for where in (info, payload):   # some builds name the model in the event itself
            m = where.get("model")
            if isinstance(m, str) and m.strip():
                return m
        return self._model or UNKNOWN_MODEL

    def _record(self, used: Usage, origin: str, identity: tuple[object, ...],
                when: datetime, model: str) -> CallRecord | None:
        inp, cached, out, reasoning, _total, cache_write = used
        if inp == 0 and cached == 0 and out == 0 and cache_write == 0:
            return None            # nothing billed: no request
        cached = min(cached, inp)
        cache_write = min(cache_write, inp - cached)
        tags = {"source": SOURCE}
        project = project_of(self._cwd)
        if project:
            tags["project"] = project
        if reasoning:
            tags["reasoning_tokens"] = str(reasoning)
        provider = (self._stack[-1][2] if self._stack else self._provider) or PROVIDER
        return self.build(model, inp - cached - cache_write, out, provider=provider,
                          cache_read_tokens=cached, cache_write_tokens=cache_write,
                          call_id=call_id("codex", origin, *identity),
                          ts=when.astimezone(UTC), session_id=origin, tags=tags,
                          origin={"cwd": self._cwd, "branch": self._git.get("branch"),
                                  "repo_url": self._git.get("repository_url")})


def check_file(path: Path, head: dict[str, Any]) -> str | None:
    """Why one file named on the command line is not a rollout (None if it may be);
    ``head`` is its first line."""
    if "type" not in head or "payload" not in head:
        return "its first line is not a Codex rollout line (type and payload)"
    return None


def import_codex(path: Path | str | None, config: Config, ledger: Ledger | None = None,
                 progress: Progress | None = None) -> ImportResult:
    """Import every model request in Codex CLI rollouts (default ``$CODEX_HOME``);
    re-importing adds nothing."""
    return import_tree(sys.modules[__name__], path, config, ledger, progress)
