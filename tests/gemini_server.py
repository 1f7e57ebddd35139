"""A local HTTP server speaking the Gemini API and Vertex AI generateContent wire format
(JSON and SSE), with fixed response ids and usage, for testing the Google GenAI SDK hook
against the real ``google.genai`` client.

Routes (any API version: the SDK sends ``v1`` or ``v1beta`` to the Gemini API and
``v1beta1`` to Vertex AI):

    POST /{version}/models/{model}:generateContent
    POST /{version}/models/{model}:streamGenerateContent?alt=sse
    POST /{version}/projects/{p}/locations/{l}/publishers/google/models/{model}:...

Models with a meaning:
- ``error-model``: 400 INVALID_ARGUMENT; ``quota-model``: 429 RESOURCE_EXHAUSTED (both
  with Google's error body);
- ``broken-model``: a stream that sends two chunks, then an error event (500 INTERNAL);
- ``no-usage-model``: answers without ``usageMetadata``;
- ``tool-model``: asks for a function call (``get_weather``) until the request carries
  its result, then answers (the SDK's automatic function calling sends two requests).
``broken-model`` and ``tool-model`` report themselves as ``gemini-2.5-flash``; any other
model is reported as requested and answers "Hello there!" with the usage below.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# What the Gemini API reports for one call: the prompt count includes the cached tokens,
# thoughts are counted apart from the candidates.
GEMINI_USAGE = {"promptTokenCount": 1200, "cachedContentTokenCount": 200,
                "candidatesTokenCount": 300, "thoughtsTokenCount": 100,
                "toolUsePromptTokenCount": 50, "totalTokenCount": 1650,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}],
                "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 200}]}
VERTEX_USAGE = {"promptTokenCount": 3000, "cachedContentTokenCount": 1000,
                "candidatesTokenCount": 500, "thoughtsTokenCount": 700,
                "totalTokenCount": 4200, "trafficType": "ON_DEMAND",
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3000}],
                "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 500}]}
TEXT = ["Hello", " there", "!"]
# tool-model: the request asking for the function call, then the one answering
TOOL_USAGE = [{"promptTokenCount": 400, "candidatesTokenCount": 40, "thoughtsTokenCount": 60,
               "totalTokenCount": 500},
              {"promptTokenCount": 520, "candidatesTokenCount": 25, "totalTokenCount": 545}]

ERRORS = {
    "error-model": (400, {"error": {
        "code": 400, "message": "* GenerateContentRequest.contents: contents is not specified\n",
        "status": "INVALID_ARGUMENT"}}),
    "quota-model": (429, {"error": {
        "code": 429, "message": "You exceeded your current quota, please check your plan "
                                "and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                     "retryDelay": "37s"}]}}),
}
MIDWAY_ERROR = {"error": {"code": 500, "message": "Internal error encountered.",
                          "status": "INTERNAL"}}

_ROUTE = re.compile(r"^/(?P<version>v1[a-z0-9]*)/(?:projects/(?P<project>[^/]+)/locations/"
                    r"(?P<location>[^/]+)/publishers/google/)?models/(?P<model>[^/:]+)"
                    r":(?P<method>generateContent|streamGenerateContent)(?:\?(?P<query>.*))?$")


def response_id(vertex: bool, stream: bool, model: str) -> str:
    """Fixed per route and model, so a test knows the id of every answer."""
    return f"{'vtx' if vertex else 'gem'}-{'stream' if stream else 'gen'}-{model}"


def usage_for(vertex: bool) -> dict[str, Any]:
    return VERTEX_USAGE if vertex else GEMINI_USAGE


def answer(model: str, vertex: bool, usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "".join(TEXT)}]},
                        "finishReason": "STOP", "index": 0, "avgLogprobs": -0.25}],
        "modelVersion": model, "responseId": response_id(vertex, False, model)}
    if usage:
        body["usageMetadata"] = usage_for(vertex)
    if vertex:
        body["createTime"] = "2026-11-20T10:00:00.123456Z"
    return body


def tool_answer(model: str, vertex: bool, body: Any) -> dict[str, Any]:
    last = (body.get("contents") or [{}])[-1]
    answered = any("functionResponse" in part for part in last.get("parts") or [])
    part: dict[str, Any] = ({"text": "It is sunny in Paris."} if answered else
                            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}})
    return {"candidates": [{"content": {"role": "model", "parts": [part]},
                            "finishReason": "STOP", "index": 0}],
            "modelVersion": "gemini-2.5-flash", "usageMetadata": TOOL_USAGE[answered],
            "responseId": f"{response_id(vertex, False, model)}-{1 + answered}"}


def chunks(model: str, vertex: bool, usage: bool = True,
           version: str | None = None) -> list[dict[str, Any]]:
    """A stream as the API sends it: every chunk carries the usage so far (the prompt and
    thoughts at once, the candidates growing); the last one carries the totals."""
    total = usage_for(vertex)
    out = []
    for n, piece in enumerate(TEXT, 1):
        last = n == len(TEXT)
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]},
                                "index": 0}
        if last:
            cand["finishReason"] = "STOP"
        chunk: dict[str, Any] = {"candidates": [cand], "modelVersion": version or model,
                                 "responseId": response_id(vertex, True, model)}
        if usage:
            so_far = total["candidatesTokenCount"] * n // len(TEXT)
            chunk["usageMetadata"] = dict(total, candidatesTokenCount=so_far,
                                          totalTokenCount=total["totalTokenCount"]
                                          - total["candidatesTokenCount"] + so_far)
        if vertex:
            chunk["createTime"] = "2026-11-20T10:00:00.123456Z"
        out.append(chunk)
    return out


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class GeminiServer:
    """Serves the Gemini API and Vertex AI generateContent routes; remembers each request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                # fixed: the SDK keeps the response headers in its result objects, and
                # tests compare results of two calls made a second apart
                return "Fri, 20 Nov 2026 10:00:00 GMT"

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, events: list[Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for ev in events:
                    self.wfile.write(f"data: {json.dumps(ev)}\r\n\r\n".encode())
                    self.wfile.flush()
                self.close_connection = True

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else None
                srv.requests.append(Received("POST", self.path, dict(self.headers.items()),
                                             body))
                m = _ROUTE.match(self.path)
                if m is None:
                    return self._json(404, {"error": {"code": 404, "status": "NOT_FOUND",
                                                      "message": f"no route {self.path}"}})
                model, vertex = m["model"], m["project"] is not None
                stream = m["method"] == "streamGenerateContent"
                if stream and m["query"] != "alt=sse":
                    return self._json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                      "message": "only alt=sse is served"}})
                if model in ERRORS:
                    return self._json(*ERRORS[model])
                usage = model != "no-usage-model"
                if model == "tool-model" and not stream:
                    return self._json(200, tool_answer(model, vertex, body))
                if stream and model == "broken-model":
                    return self._sse(chunks(model, vertex, version="gemini-2.5-flash")[:2]
                                     + [MIDWAY_ERROR])
                if stream:
                    return self._sse(chunks(model, vertex, usage))
                return self._json(200, answer(model, vertex, usage))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # a short poll: shutdown() waits for it at the end of every test
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="gemini_server")
def gemini_server_fixture() -> Iterator[GeminiServer]:
    """A GeminiServer for one test: import ``gemini_server_fixture`` into a test module,
    then ask for ``gemini_server``."""
    s = GeminiServer()
    yield s
    s.close()
