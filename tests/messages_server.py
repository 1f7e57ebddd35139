"""A fake Anthropic Messages API for driving the real Claude Code CLI offline.

Written from Anthropic's streaming documentation: ``POST /v1/messages`` with
``"stream": true`` answers ``text/event-stream`` with ``message_start`` (the message, its
input-side usage and ``output_tokens: 1``), per content block ``content_block_start`` /
``content_block_delta`` (``text_delta`` or ``input_json_delta``) / ``content_block_stop``,
then ``message_delta`` (``stop_reason`` and the final usage) and ``message_stop``; every
response carries a ``request-id`` header. ``/v1/messages/count_tokens`` and ``/v1/models``
answer too (the CLI may ask).

Replies are scripted from the request itself, so the CLI's own conversation drives them:

- a request without tools whose system prompt or messages speak of a *title* (the session
  title Claude Code asks for) gets a one-line JSON title;
- the last user turn's text decides otherwise: ``RUN_BASH`` -> a ``Bash`` tool_use,
  ``RUN_READ <path>`` -> a ``Read`` tool_use, ``RUN_AGENT`` -> a subagent call (``Task``
  or ``Agent``, whichever tool the CLI offers) whose prompt says ``RUN_READ``; a user turn
  that is a tool_result -> a closing text (``end_turn``); ``STALL`` -> the stream stops
  before ``message_delta`` and hangs until the client goes away; anything else -> text.

Every request is billed: usage is a deterministic function of the request's sequence
number with every token kind non-zero (input, output, cache writes split 5m / 1h, cache
reads), and ``billed`` keeps one entry per request with its ``request-id``, message id,
model, usage, whether it completed, and a ``kind`` (title / subagent / main / ...) for
the tests to join on. A stalled request is billed as what the server had sent when the
client went away (``message_start``'s usage: ``output_tokens: 1``), flagged ``complete:
False``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Billed:
    request_id: str
    message_id: str
    model: str
    kind: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    complete: bool = True
    at: float = field(default_factory=time.time)

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens


def usage_for(n: int) -> dict[str, int]:
    """Request n's usage: every kind non-zero and different per request."""
    return {"input_tokens": 11 + n, "output_tokens": 40 + 3 * n,
            "cache_read_input_tokens": 2000 + 17 * n,
            "ephemeral_5m_input_tokens": 300 + 5 * n, "ephemeral_1h_input_tokens": 70 + n}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content
                         if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _system_text(body: dict[str, Any]) -> str:
    system = body.get("system")
    return system if isinstance(system, str) else _text_of(system)


def _tool_names(body: dict[str, Any]) -> list[str]:
    return [t.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]


def classify(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(kind, content blocks) of the reply to one request."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content")
    turn = []                          # the user turn: every message since the last reply
    for m in reversed(messages):
        if m.get("role") == "assistant":
            break
        turn.append(_text_of(m.get("content")))
    text = "\n".join(reversed(turn))
    tools = _tool_names(body)
    system = _system_text(body)
    if not tools and ("title" in system.lower() or "title" in text.lower()[:400]):
        return "title", [{"type": "text", "text": json.dumps({"title": "Fake session title"})}]
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result"
                                         for b in content) and "STALL" not in text:
        return "after-tool", [{"type": "text", "text": "All done with the tool."}]
    first = _text_of(messages[0].get("content")) if messages else ""
    kind = "subagent" if "SUBAGENT" in first else "main"
    if "STALL" in text:
        return "stall", [{"type": "text", "text": "Thinking slowly about this"}]
    if "RUN_AGENT" in text:
        agent = "Agent" if "Agent" in tools else "Task"
        return kind, [{"type": "text", "text": "Delegating."},
                      {"type": "tool_use", "name": agent, "input": {
                          "description": "read a file", "subagent_type": "general-purpose",
                          "prompt": "SUBAGENT: RUN_READ /etc/hostname"}}]
    if "RUN_READ" in text:
        path = text.split("RUN_READ", 1)[1].split()[0] if text.split("RUN_READ", 1)[1].split() \
            else "/etc/hostname"
        return kind, [{"type": "tool_use", "name": "Read", "input": {"file_path": path}}]
    if "RUN_BASH" in text:
        return kind, [{"type": "text", "text": "Running it."},
                      {"type": "tool_use", "name": "Bash", "input": {
                          "command": "echo fake-bash-ran", "description": "echo"}}]
    if not tools:
        return "no-tools", [{"type": "text", "text": "ok"}]
    return kind, [{"type": "text", "text": "Hello from the fake server."}]


class MessagesServer:
    """``url`` is ANTHROPIC_BASE_URL; ``billed`` the billing log; ``requests`` every request
    as (method, path, headers, body)."""

    def __init__(self, model: str | None = None) -> None:
        self.model = model
        self.billed: list[Billed] = []
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.stalled = threading.Event()      # a STALL stream has sent its last event
        self._n = 0
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    return json.loads(raw) if raw else None
                except ValueError:
                    return raw.decode("utf-8", "replace")

            def _json(self, status: int, body: Any, rid: str) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", rid)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                srv.requests.append(("GET", self.path, dict(self.headers), None))
                rid = srv._rid()[0]
                if self.path.startswith("/v1/models"):
                    models = [{"type": "model", "id": m, "display_name": m,
                               "created_at": "2025-01-01T00:00:00Z"}
                              for m in ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")]
                    return self._json(200, {"data": models, "has_more": False,
                                            "first_id": models[0]["id"],
                                            "last_id": models[-1]["id"]}, rid)
                self._json(404, {"type": "error", "error": {"type": "not_found_error",
                                                            "message": self.path}}, rid)

            def do_HEAD(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                srv.requests.append(("POST", self.path, dict(self.headers), body))
                path = self.path.split("?", 1)[0]
                if path == "/v1/messages/count_tokens":
                    return self._json(200, {"input_tokens": 1234}, srv._rid()[0])
                if path != "/v1/messages" or not isinstance(body, dict):
                    return self._json(404, {"type": "error", "error": {
                        "type": "not_found_error", "message": self.path}}, srv._rid()[0])
                rid, n = srv._rid()
                kind, blocks = classify(body)
                model = srv.model or str(body.get("model") or "claude-sonnet-4-5-20250929")
                u = usage_for(n)
                mid = f"msg_fake{n:04d}"
                bill = Billed(rid, mid, model, kind, u["input_tokens"], u["output_tokens"],
                              u["cache_read_input_tokens"], u["ephemeral_5m_input_tokens"],
                              u["ephemeral_1h_input_tokens"], complete=kind != "stall")
                if not body.get("stream"):
                    with srv._lock:
                        srv.billed.append(bill)
                    return self._json(200, _message(mid, model, _blocks(blocks, n), u,
                                                    "tool_use" if _has_tool(blocks) else
                                                    "end_turn"), rid)
                self._stream(bill, blocks, u, n)

            def _stream(self, bill: Billed, blocks: list[dict[str, Any]], u: dict[str, int],
                         n: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("request-id", bill.request_id)
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

                def send(name: str, data: dict[str, Any]) -> None:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()

                start_usage = dict(_usage(u), output_tokens=1)
                try:
                    send("message_start", {"type": "message_start", "message": _message(
                        bill.message_id, bill.model, [], start_usage, None)})
                    send("ping", {"type": "ping"})
                    for i, block in enumerate(_blocks(blocks, n)):
                        if block["type"] == "text":
                            send("content_block_start", {"type": "content_block_start",
                                                         "index": i, "content_block": {
                                                             "type": "text", "text": ""}})
                            words = block["text"].split(" ")
                            for j, w in enumerate(words):
                                send("content_block_delta", {
                                    "type": "content_block_delta", "index": i, "delta": {
                                        "type": "text_delta",
                                        "text": w + (" " if j < len(words) - 1 else "")}})
                        else:
                            send("content_block_start", {"type": "content_block_start",
                                                         "index": i, "content_block": {
                                                             "type": "tool_use", "id": block["id"],
                                                             "name": block["name"], "input": {}}})
                            raw = json.dumps(block["input"])
                            for k in range(0, len(raw), 20):
                                send("content_block_delta", {
                                    "type": "content_block_delta", "index": i, "delta": {
                                        "type": "input_json_delta",
                                        "partial_json": raw[k:k + 20]}})
                        send("content_block_stop", {"type": "content_block_stop", "index": i})
                    if not bill.complete:
                        # billed as far as it got: what message_start reported
                        bill.output_tokens = 1
                        with srv._lock:
                            srv.billed.append(bill)
                        srv.stalled.set()
                        while True:           # until the client hangs up (or the test ends)
                            time.sleep(0.2)
                            send("ping", {"type": "ping"})
                    with srv._lock:
                        srv.billed.append(bill)
                    send("message_delta", {"type": "message_delta", "delta": {
                        "stop_reason": "tool_use" if _has_tool(blocks) else "end_turn",
                        "stop_sequence": None}, "usage": _usage(u)})
                    send("message_stop", {"type": "message_stop"})
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _rid(self) -> tuple[str, int]:
        with self._lock:
            self._n += 1
            return f"req_fake{self._n:04d}", self._n

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _has_tool(blocks: list[dict[str, Any]]) -> bool:
    return any(b["type"] == "tool_use" for b in blocks)


def _blocks(blocks: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    out = []
    for i, b in enumerate(blocks):
        if b["type"] == "tool_use":
            b = dict(b, id=f"toolu_fake{n:04d}_{i}")
        out.append(b)
    return out


def _usage(u: dict[str, int]) -> dict[str, Any]:
    return {"input_tokens": u["input_tokens"],
            "cache_creation_input_tokens": u["ephemeral_5m_input_tokens"]
            + u["ephemeral_1h_input_tokens"],
            "cache_read_input_tokens": u["cache_read_input_tokens"],
            "cache_creation": {"ephemeral_5m_input_tokens": u["ephemeral_5m_input_tokens"],
                               "ephemeral_1h_input_tokens": u["ephemeral_1h_input_tokens"]},
            "output_tokens": u["output_tokens"], "service_tier": "standard"}


def _message(mid: str, model: str, content: list[dict[str, Any]], usage: dict[str, Any],
             stop: str | None) -> dict[str, Any]:
    if "ephemeral_5m_input_tokens" in usage:
        usage = _usage(usage)
    return {"id": mid, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}
