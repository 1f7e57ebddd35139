"""A local HTTP server speaking the OpenAI and Anthropic wire formats (JSON and SSE),
with fixed ids and usage, for testing the SDK hooks against the real SDK clients."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

CHAT_USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
              "prompt_tokens_details": {"cached_tokens": 200, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}
RESP_USAGE = {"input_tokens": 900, "input_tokens_details": {"cached_tokens": 100},
              "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 0},
              "total_tokens": 950}
MSG_USAGE = {"input_tokens": 500, "output_tokens": 80, "cache_read_input_tokens": 1000,
             "cache_creation_input_tokens": 300}


def chat_completion(model: str, usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1795400000,
        "model": model, "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "Hello there, friend!",
                                 "refusal": None}}]}
    if usage:
        body["usage"] = CHAT_USAGE
    return body


def chat_chunks(model: str, include_usage: bool) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-stream1", "object": "chat.completion.chunk", "created": 1795400000,
            "model": model, "system_fingerprint": "fp_1"}
    chunks = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "finish_reason": None}]),
              dict(base, choices=[{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]),
              dict(base, choices=[{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]),
              dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])]
    if include_usage:
        for c in chunks:
            c["usage"] = None
        chunks.append(dict(base, choices=[], usage=CHAT_USAGE))
    return chunks


def response_obj(model: str, status: str = "completed") -> dict[str, Any]:
    return {"id": "resp_123", "object": "response", "created_at": 1795400000, "status": status,
            "model": model, "output": [{"type": "message", "id": "msg_r1", "status": "completed",
                                        "role": "assistant", "content": [
                                            {"type": "output_text", "text": "Hi!",
                                             "annotations": []}]}],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": RESP_USAGE if status == "completed" else None, "error": None,
            "incomplete_details": None, "instructions": None, "metadata": {},
            "temperature": 1.0, "top_p": 1.0, "text": {"format": {"type": "text"}}}


def response_events(model: str) -> list[tuple[str, dict[str, Any]]]:
    """The Responses API's stream for one text answer, event by event as the API sends it."""
    r = response_obj(model)
    item = r["output"][0]
    part = item["content"][0]
    created = dict(r, status="in_progress", usage=None, output=[])
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": created},
        {"type": "response.in_progress", "response": created},
        {"type": "response.output_item.added", "output_index": 0,
         "item": dict(item, status="in_progress", content=[])},
        {"type": "response.content_part.added", "item_id": item["id"], "output_index": 0,
         "content_index": 0, "part": dict(part, text="")},
        {"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
         "content_index": 0, "delta": "Hi!", "logprobs": []},
        {"type": "response.output_text.done", "item_id": item["id"], "output_index": 0,
         "content_index": 0, "text": "Hi!", "logprobs": []},
        {"type": "response.content_part.done", "item_id": item["id"], "output_index": 0,
         "content_index": 0, "part": part},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": r}]
    return [(e["type"], dict(e, sequence_number=n)) for n, e in enumerate(events)]


def message(model: str, usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "msg_01abc", "type": "message", "role": "assistant",
                            "model": model, "stop_reason": "end_turn", "stop_sequence": None,
                            "content": [{"type": "text", "text": "Bonjour!"}]}
    body["usage"] = MSG_USAGE if usage else None
    return body


def message_events(model: str) -> list[tuple[str, dict[str, Any]]]:
    start = message(model)
    start["content"] = []
    start["stop_reason"] = None
    start["usage"] = dict(MSG_USAGE, output_tokens=1)
    return [("message_start", {"type": "message_start", "message": start}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "Bon"}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "jour!"}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": 80}}),
            ("message_stop", {"type": "message_stop"})]


class LLMServer:
    """Serves /v1/chat/completions, /v1/responses, /v1/messages. A model named
    ``error-model`` gets an API error; ``no-usage-model`` a response without usage;
    ``overloaded-model`` an Anthropic stream that fails midway with an error event."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, events: list[tuple[str | None, Any]], done: bool = False) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for name, data in events:
                    head = f"event: {name}\n" if name else ""
                    self.wfile.write(f"{head}data: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()
                if done:
                    self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                srv.requests.append((self.path, body))
                model = body.get("model", "")
                stream = bool(body.get("stream"))
                if model == "error-model":
                    if self.path.endswith("/messages"):
                        return self._json(400, {"type": "error", "error": {
                            "type": "invalid_request_error", "message": "max_tokens: required"}},
                            {"request-id": "req_ant_err1"})
                    return self._json(429, {"error": {"message": "Rate limit reached",
                                                      "type": "rate_limit_error", "param": None,
                                                      "code": "rate_limit_exceeded"}},
                                      {"x-request-id": "req_oai_err1"})
                usage = model != "no-usage-model"
                if self.path == "/v1/chat/completions":
                    if stream:
                        inc = bool((body.get("stream_options") or {}).get("include_usage"))
                        return self._sse([(None, c) for c in chat_chunks(model, inc and usage)],
                                         done=True)
                    return self._json(200, chat_completion(model, usage))
                if self.path == "/v1/responses":
                    if stream:
                        return self._sse(response_events(model))
                    return self._json(200, response_obj(model))
                if self.path == "/v1/messages":
                    if stream and model == "overloaded-model":   # fails mid-stream
                        return self._sse(message_events(model)[:4] + [("error", {
                            "type": "error", "error": {"type": "overloaded_error",
                                                      "message": "Overloaded"}})])
                    if stream:
                        return self._sse(message_events(model))
                    return self._json(200, message(model, usage))
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[LLMServer]:
    """An LLMServer for one test (import this fixture into a test module to use it)."""
    s = LLMServer()
    yield s
    s.close()
