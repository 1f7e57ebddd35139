"""Transcripts in the shape older Claude Code 2.1.x versions wrote (anthropics/claude-code
#27361, #22671): every assistant line says ``"stop_reason": null``, one line per content
block as it streamed, the output count growing; only the uuid / parentUuid chain tells
when a message is over. Generated relative to a given instant, with each message's
expected (final) usage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

MODEL = "claude-sonnet-4-5-20250929"


@dataclass
class Expected:
    request_id: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


def _base(kind: str, uuid: str, parent: str | None, ts: datetime, sidechain: bool,
          session: str) -> dict[str, Any]:
    return {"parentUuid": parent, "isSidechain": sidechain, "userType": "external",
            "cwd": "/home/ana/src/shop", "sessionId": session, "version": "2.1.9",
            "gitBranch": "main", "type": kind, "uuid": uuid,
            "timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")}


def session_lines(t0: datetime, messages: int = 5, snapshots: int = 3,
                  session: str = "old-sess", sidechain_every: int = 2
                  ) -> tuple[list[str], list[Expected], list[int]]:
    """(lines, expected calls, for each message the index of the line that makes it final
    (the next line of its conversation that is not one of its snapshots), or -1 for the
    last, which only quiet ends). A sidechain conversation's lines are interleaved before
    every ``sidechain_every``-th message's follow-up: they must not end it."""
    lines: list[str] = []
    expected: list[Expected] = []
    ends: list[int] = []
    t = t0
    parent = "u-prompt"
    lines.append(json.dumps({**_base("user", parent, None, t, False, session),
                             "message": {"role": "user", "content": "go"}}))
    side_parent: str | None = None
    for m in range(messages):
        rid, mid = f"req_old{m:02d}", f"msg_old{m:02d}"
        usage = {"input_tokens": 10 + m, "cache_read_input_tokens": 1000 * (m + 1),
                 "cache_creation_input_tokens": 100 + m}
        for s in range(snapshots):
            t += timedelta(seconds=1)
            uuid = f"u-{mid}-{s}"
            d = {**_base("assistant", uuid, parent, t, False, session), "requestId": rid,
                 "message": {"id": mid, "type": "message", "role": "assistant",
                             "model": MODEL, "content": [{"type": "text", "text": f"b{s}"}],
                             "stop_reason": None, "stop_sequence": None,
                             "usage": {**usage, "output_tokens": 1 + 50 * s + m}}}
            lines.append(json.dumps(d))
            parent = uuid
        expected.append(Expected(rid, usage["input_tokens"], 1 + 50 * (snapshots - 1) + m,
                                 usage["cache_read_input_tokens"],
                                 usage["cache_creation_input_tokens"]))
        if m % sidechain_every == 0:      # another conversation's lines: not this one's end
            for k in range(2):
                t += timedelta(milliseconds=300)
                su = f"u-side{m}-{k}"
                lines.append(json.dumps({**_base("user", su, side_parent, t, True, session),
                                         "message": {"role": "user", "content": "side"}}))
                side_parent = su
        if m == messages - 1:
            ends.append(-1)
            break
        t += timedelta(seconds=1)
        tool = f"u-tool{m}"
        lines.append(json.dumps({**_base("user", tool, parent, t, False, session),
                                 "message": {"role": "user", "content": [
                                     {"type": "tool_result", "tool_use_id": f"t{m}",
                                      "content": "ok"}]}}))
        ends.append(len(lines) - 1)
        parent = tool
    return lines, expected, ends
