"""A fake Gemini API (``generateContent``, ``streamGenerateContent?alt=sse``,
``countTokens``) for driving the real Gemini CLI offline, billing every request.

Each ``generateContent`` / ``streamGenerateContent`` request is billed with usage that
differs per request (``promptTokenCount`` including ``cachedContentTokenCount``,
``candidatesTokenCount``, ``thoughtsTokenCount``) and a unique ``responseId``. A request
asking for JSON (``generationConfig.responseMimeType: application/json``: the CLI's model
router and its other utility calls) gets one JSON object answering each of them
(``model_choice``, ``next_speaker``...); anything else a short text, streamed in chunks
whose last one carries the final usage."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ROUTE = re.compile(r"^/(?P<version>v1[a-z0-9]*)/models/(?P<model>[^/:]+)"
                    r":(?P<method>generateContent|streamGenerateContent|countTokens)")


@dataclass
class Billed:
    response_id: str
    model: str
    kind: str               # "json" (router / utility) or "chat"
    prompt_tokens: int      # cached included, as the API reports it
    cached_tokens: int
    candidates_tokens: int
    thoughts_tokens: int


def usage_for(n: int) -> dict[str, int]:
    prompt = 2000 + 37 * n
    cached = 512 * (n % 2)
    cand, thoughts = 30 + 3 * n, 5 * (n % 3)
    return {"promptTokenCount": prompt, "cachedContentTokenCount": cached,
            "candidatesTokenCount": cand, "thoughtsTokenCount": thoughts,
            "totalTokenCount": prompt + cand + thoughts}


ROUTER_JSON = {"reasoning": "a simple request", "model_choice": "flash",
               "next_speaker": "user", "complexity_reasoning": "simple",
               "complexity_score": 10}


class GeminiApiServer:
    def __init__(self) -> None:
        self.billed: list[Billed] = []
        self.requests: list[tuple[str, Any]] = []
        self._n = 0
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                srv.requests.append((self.path, None))
                self._json(404, {"error": {"code": 404, "status": "NOT_FOUND",
                                           "message": self.path}})

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                srv.requests.append((self.path, body))
                m = _ROUTE.match(self.path)
                if m is None:
                    return self._json(404, {"error": {"code": 404, "status": "NOT_FOUND",
                                                      "message": self.path}})
                model = m["model"]
                if m["method"] == "countTokens":
                    return self._json(200, {"totalTokens": 1234})
                with srv._lock:
                    srv._n += 1
                    n = srv._n
                gen = (body.get("generationConfig") or {}) if isinstance(body, dict) else {}
                wants_json = gen.get("responseMimeType") == "application/json"
                kind = "json" if wants_json else "chat"
                text = json.dumps(ROUTER_JSON) if wants_json else "Hello from the fake Gemini API."
                u = usage_for(n)
                rid = f"gresp-fake{n:04d}"
                bill = Billed(rid, model, kind, u["promptTokenCount"],
                              u["cachedContentTokenCount"], u["candidatesTokenCount"],
                              u["thoughtsTokenCount"])
                final = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                         "finishReason": "STOP", "index": 0}],
                         "usageMetadata": u, "modelVersion": model, "responseId": rid}
                with srv._lock:
                    srv.billed.append(bill)
                if m["method"] == "generateContent":
                    return self._json(200, final)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                words = text.split(" ")
                for i, w in enumerate(words):
                    last = i == len(words) - 1
                    cand: dict[str, Any] = {"content": {"role": "model", "parts": [
                        {"text": w + ("" if last else " ")}]}, "index": 0}
                    chunk: dict[str, Any] = {"candidates": [cand], "modelVersion": model,
                                             "responseId": rid}
                    if last:
                        cand["finishReason"] = "STOP"
                        chunk["usageMetadata"] = u
                    self.wfile.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
                    self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
