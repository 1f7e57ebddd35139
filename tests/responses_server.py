"""A fake OpenAI Responses API (``POST /v1/responses``, streamed) for driving the real
Codex CLI offline, written from OpenAI's streaming events reference: ``response.created``,
``response.in_progress``, per output item ``response.output_item.added`` / deltas /
``response.output_item.done``, then ``response.completed`` whose ``response.usage`` has
``input_tokens`` (cached included, ``input_tokens_details.cached_tokens``),
``output_tokens`` (reasoning included, ``output_tokens_details.reasoning_tokens``) and
``total_tokens``. Each request is billed in ``billed`` with its response id and an
``x-request-id`` header.

Scripted from the request: a user turn saying ``RUN_SHELL`` gets a function call to the
shell tool the CLI offers; a request whose last input item is a function call output gets
a closing text; anything else a text."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Billed:
    response_id: str
    model: str
    kind: str
    input_tokens: int          # as the API reports it: cached ones included
    cached_tokens: int
    output_tokens: int         # reasoning included
    reasoning_tokens: int


def usage_for(n: int) -> dict[str, int]:
    return {"input_tokens": 3000 + 101 * n, "cached_tokens": 1024 * (n % 3),
            "output_tokens": 60 + 7 * n, "reasoning_tokens": 10 + n}


def _tool(body: dict[str, Any]) -> dict[str, Any] | None:
    for t in body.get("tools") or []:
        if isinstance(t, dict) and t.get("name") in ("shell", "exec_command", "shell_command"):
            return t
    return None


class ResponsesServer:
    def __init__(self) -> None:
        self.billed: list[Billed] = []
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self._n = 0
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                srv.requests.append((self.path, dict(self.headers), None))
                data = json.dumps({"object": "list", "data": [], "models": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                srv.requests.append((self.path, dict(self.headers), body))
                if not self.path.split("?")[0].endswith("/responses") or not isinstance(body, dict):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with srv._lock:
                    srv._n += 1
                    n = srv._n
                self._stream(body, n)

            def _stream(self, body: dict[str, Any], n: int) -> None:
                rid = f"resp_fake{n:04d}"
                model = str(body.get("model") or "gpt-5-codex")
                items = body.get("input") or []
                last = items[-1] if items else {}
                text = json.dumps(items[-3:]) if items else ""
                tool = _tool(body)
                out: list[dict[str, Any]]
                if isinstance(last, dict) and last.get("type") == "function_call_output":
                    kind, out = "after-tool", [_msg(n, "Done with the shell.")]
                elif "RUN_SHELL" in text and tool is not None:
                    name = tool["name"]
                    args = ({"command": ["bash", "-lc", "echo fake-shell-ran"]} if name == "shell"
                            else {"cmd": "echo fake-shell-ran"} if name == "exec_command"
                            else {"command": "echo fake-shell-ran"})
                    kind, out = "tool", [{"type": "function_call", "id": f"fc_{n}",
                                          "call_id": f"call_{n}", "name": name,
                                          "arguments": json.dumps(args), "status": "completed"}]
                else:
                    kind, out = "text", [_msg(n, "Hello from the fake Responses API.")]
                u = usage_for(n)
                usage = {"input_tokens": u["input_tokens"],
                         "input_tokens_details": {"cached_tokens": u["cached_tokens"]},
                         "output_tokens": u["output_tokens"],
                         "output_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]},
                         "total_tokens": u["input_tokens"] + u["output_tokens"]}
                resp = {"id": rid, "object": "response", "created_at": 1796500000 + n,
                        "status": "in_progress", "model": model, "output": [], "usage": None}
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("x-request-id", f"req_oai_{n:04d}")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                seq = 0

                def send(data: dict[str, Any]) -> None:
                    nonlocal seq
                    data = dict(data, sequence_number=seq)
                    seq += 1
                    self.wfile.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"
                                     .encode())
                    self.wfile.flush()

                send({"type": "response.created", "response": resp})
                send({"type": "response.in_progress", "response": resp})
                for i, item in enumerate(out):
                    send({"type": "response.output_item.added", "output_index": i,
                          "item": dict(item, status="in_progress")})
                    if item["type"] == "message":
                        t = item["content"][0]["text"]
                        send({"type": "response.content_part.added", "item_id": item["id"],
                              "output_index": i, "content_index": 0,
                              "part": {"type": "output_text", "text": "", "annotations": []}})
                        send({"type": "response.output_text.delta", "item_id": item["id"],
                              "output_index": i, "content_index": 0, "delta": t})
                        send({"type": "response.output_text.done", "item_id": item["id"],
                              "output_index": i, "content_index": 0, "text": t})
                        send({"type": "response.content_part.done", "item_id": item["id"],
                              "output_index": i, "content_index": 0,
                              "part": item["content"][0]})
                    send({"type": "response.output_item.done", "output_index": i,
                          "item": item})
                with srv._lock:
                    srv.billed.append(Billed(rid, model, kind, u["input_tokens"],
                                             u["cached_tokens"], u["output_tokens"],
                                             u["reasoning_tokens"]))
                send({"type": "response.completed", "response": dict(
                    resp, status="completed", output=out, usage=usage)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _msg(n: int, text: str) -> dict[str, Any]:
    return {"type": "message", "id": f"msg_{n}", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}
