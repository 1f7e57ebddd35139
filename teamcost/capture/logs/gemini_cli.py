"""Google Gemini CLI chat sessions: one call per model response with token counts.

What a default install writes: Gemini CLI records every chat (chat recording is on by
default; its OpenTelemetry outfile is off unless configured, so it is not read here) under
``~/.gemini/tmp/<project>/chats/`` (``GEMINI_CLI_HOME`` replaces the home directory).
``<project>`` is a short name with a ``.project_root`` file holding the project's path
(older versions: a SHA-256 of the path); sub-agents write
``chats/<parent session id>/<session id>.jsonl``.

Two formats, both read:

- since April 2026 (``MODE = "lines"``): ``session-<time>-<id8>.jsonl``, appended to: a
  first line with ``sessionId``/``projectHash``/``startTime``, then message records (a
  message is written again whenever it changes: first without tokens, then with its
  ``tokens``, again with tool calls), ``{"$set": {...}}`` metadata updates (which may
  carry a whole ``messages`` list) and ``{"$rewindTo": id}``.
- before (``file_mode(path) == "whole"``): ``session-<time>-<id8>.json``, one
  ``ConversationRecord`` (sessionId, messages) rewritten in place after every change;
  read whole by ``read_whole``. Resuming such a session copies it into a new ``.jsonl``.

Each ``gemini`` message with ``tokens`` is one API response: ``input`` (prompt tokens,
cached ones included), ``cached``, ``output`` (candidates), ``thoughts``, ``tool`` (tool-use
prompt tokens), ``total``. The record's input is ``input - cached + tool`` (tool-use
prompt tokens are billed as input and are not part of the prompt count), cache reads are
``cached``, and output is ``output + thoughts``: Google bills thinking tokens as output.
The thinking tokens are also written as the tag ``thoughts_tokens`` (a string).

``call_id`` = ``gemini-<session id>-<digest of the message id>``: the same message written
again, checkpointed in a ``$set``, copied into a resumed ``.jsonl`` or read from both a
``.json`` and its ``.jsonl`` counts once. A rewind removes messages from the
conversation, not from the bill: rewound responses are counted. Calls Gemini CLI makes
outside the chat (routing, compression, next-speaker checks) are not in these files.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from teamcost.capture.logs.base import ImportResult, Progress
from teamcost.capture.logs.base import why_bad as why
from teamcost.capture.logs.importing import import_tree
from teamcost.capture.logs.parsing import (
    BadLine,
    call_id,
    count,
    json_object,
    project_of,
    timestamp,
)
from teamcost.config import Config
from teamcost.errors import InvalidValue, TeamcostError
from teamcost.ledger import Ledger
from teamcost.models import CallRecord

SOURCE = "gemini-cli"
# lines that can hold a call or the session id (base.needs_decoding); others are skipped
# as bytes
NEEDLES = (b'"tokens"', b'"$set"', b'"sessionId"')
MODE = "lines"
PROVIDER = "google"
UNKNOWN_MODEL = "unknown"
ACCEPTED = ("a Gemini CLI directory (~/.gemini, its tmp/<project>/chats) or one chat "
            "session file (.jsonl or .json)")
MARKER = ".project_root"


def default_roots() -> list[Path]:
    """``$GEMINI_CLI_HOME/.gemini`` (default ``~/.gemini``); it may not exist."""
    home = os.environ.get("GEMINI_CLI_HOME")
    return [(Path(home).expanduser() if home else Path.home()) / ".gemini"]


def list_files(root: Path) -> list[Path]:
    """Chat session files (``*.jsonl``, legacy ``*.json``) in ``chats`` directories under
    ``root`` (or ``root`` itself when it is one), sorted by path; ``[root]`` for a file."""
    if root.is_file():
        return [root]
    inside = root.name == "chats" or root.parent.name == "chats"
    return sorted(p for p in root.rglob("*")
                  if p.suffix in (".jsonl", ".json") and p.is_file()
                  and (inside or "chats" in p.relative_to(root).parts[:-1]))


def file_mode(path: Path) -> str:
    """``whole`` for a legacy ``.json`` session (rewritten in place), else ``lines``."""
    return "whole" if path.suffix == ".json" else "lines"


def project_for(path: Path) -> str | None:
    """The project of a session file: the path in its project directory's
    ``.project_root``, else that directory's name."""
    for parent in path.parents:
        if parent.name == "chats":
            proj = parent.parent
            try:
                with (proj / MARKER).open("rb") as fh:
                    named = project_of(fh.read(4096).decode("utf-8", "replace").strip())
            except OSError:
                named = None
            return named or project_of(proj.name)
    return None


def root_for(path: Path) -> str | None:
    """The project's path as its ``.project_root`` names it (for the repo tag), or None."""
    for parent in path.parents:
        if parent.name == "chats":
            try:
                with (parent.parent / MARKER).open("rb") as fh:
                    text = fh.read(4096).decode("utf-8", "replace").strip()
            except OSError:
                return None
            return text or None
    return None


def _fallback_session(path: Path) -> str:
    return path.stem


def _message(m: Any, session: str, project: str | None,
             build: Callable[..., CallRecord], root: str | None = None) -> CallRecord | None:
    if not isinstance(m, dict) or m.get("type") != "gemini":
        return None
    tokens = m.get("tokens")
    if tokens is None:
        return None                # not yet: the message is written again with them
    if not isinstance(tokens, dict):
        raise InvalidValue("tokens", tokens, "an object of token counts, or null")
    mid = m.get("id")
    if not isinstance(mid, str) or not mid.strip():
        raise InvalidValue("id", mid, "the message id")
    when = timestamp(m.get("timestamp"), "timestamp")
    inp, out, cached, thoughts, tool = (count(tokens, k, f"tokens.{k}")
                                        for k in ("input", "output", "cached", "thoughts", "tool"))
    if not (inp or out or thoughts or tool):
        return None
    cached = min(cached, inp)
    model = m.get("model")
    tags = {"source": SOURCE}
    if project:
        tags["project"] = project
    if thoughts:
        tags["thoughts_tokens"] = str(thoughts)
    return build(model if isinstance(model, str) and model.strip() else UNKNOWN_MODEL,
                 inp - cached + tool, out + thoughts, provider=PROVIDER,
                 cache_read_tokens=cached, call_id=call_id("gemini", session, mid), ts=when,
                 session_id=session, tags=tags, origin={"cwd": root} if root else None)


class Reader:
    """Turns one ``.jsonl`` session's lines into calls; resumable from ``state()``
    (which holds only the session id the file declared)."""

    def __init__(self, path: Path, root: Path, build: Callable[..., CallRecord],
                 state: dict[str, Any] | None = None) -> None:
        self.path = path
        self.root = root
        self.build = build
        self.project = project_for(path)
        self.project_root = root_for(path)
        self._session: str | None = (state or {}).get("session")

    def state(self) -> dict[str, Any]:
        return {"session": self._session}

    def feed(self, line: bytes, lineno: int) -> list[CallRecord]:
        """The calls in one line. ValueError / TeamcostError for a bad line."""
        data = json_object(line)
        session = self._session
        if "$rewindTo" in data:
            return []              # rewound responses were still billed
        if "$set" in data:
            upd = data["$set"]
            if not isinstance(upd, dict):
                raise InvalidValue("$set", upd, "an object of session fields")
            messages = upd.get("messages")
            session = _session_id(upd.get("sessionId")) or session
        elif isinstance(data.get("sessionId"), str) and "projectHash" in data:
            messages = data.get("messages")        # the first line (a whole legacy record)
            session = _session_id(data["sessionId"]) or session
        elif "id" in data:
            messages = [data]
        else:
            return []
        if messages is None:
            messages = []
        if not isinstance(messages, list):
            raise InvalidValue("messages", messages, "a list of messages")
        sid = session or _fallback_session(self.path)
        recs = [r for m in messages if (r := _message(m, sid, self.project, self.build,
                                                          self.project_root))]
        self._session = session
        return recs


def _session_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def read_whole(path: Path, root: Path,
               build: Callable[..., CallRecord]) -> Iterator[CallRecord | BadLine]:
    """The calls in a legacy ``.json`` session (one document); bad parts as BadLine.
    OSError (the file vanished) propagates."""
    raw = path.read_bytes()
    try:
        data = json_object(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        yield BadLine(str(path), why(exc))
        return
    messages = data.get("messages")
    if not isinstance(messages, list):
        yield BadLine(str(path), "not a Gemini CLI session (no messages list)")
        return
    session = _session_id(data.get("sessionId")) or _fallback_session(path)
    project = project_for(path)
    for i, m in enumerate(messages):
        try:
            rec = _message(m, session, project, build, root_for(path))
        except (ValueError, TypeError, TeamcostError, RecursionError) as exc:
            yield BadLine(f"{path}:messages[{i}]", why(exc))
            continue
        if rec is not None:
            yield rec


def check_file(path: Path, head: dict[str, Any]) -> str | None:
    """Why one file named on the command line is not a chat session (None if it may be);
    ``head`` is its first line (``.jsonl``) or the whole document (``.json``)."""
    if file_mode(path) == "whole":
        if not isinstance(head.get("messages"), list):
            return "it is not a Gemini CLI session (no messages list)"
        return None
    if not ({"sessionId", "$set", "id"} & set(head)):
        return "its first line is not a Gemini CLI session line (sessionId)"
    return None


def import_gemini_cli(path: Path | str | None, config: Config, ledger: Ledger | None = None,
                      progress: Progress | None = None) -> ImportResult:
    """Import every model response with token counts in Gemini CLI chat sessions (default
    ``~/.gemini``); re-importing adds nothing."""
    return import_tree(sys.modules[__name__], path, config, ledger, progress)


__all__ = ["SOURCE", "MODE", "default_roots", "list_files", "file_mode", "Reader",
           "read_whole", "import_gemini_cli"]
