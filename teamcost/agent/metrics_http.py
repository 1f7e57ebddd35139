"""The agent's ``GET /metrics`` (``teamcost agent --metrics-port``): Prometheus metrics of
the team's spend, the budget and the agent's own health, on a port of its own.

The dashboard's access rules (teamcost/web/security.py): without a token it listens on
loopback only and answers only requests addressed to a loopback name (the Host header: no
DNS rebinding); with a token (``--metrics-token`` or ``TEAMCOST_SERVE_TOKEN``) every
request carries ``Authorization: Bearer <token>`` (Prometheus: ``authorization:
credentials``), compared in constant time. Stdlib HTTP server, one thread per scrape.
"""

from __future__ import annotations

import hmac
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from teamcost.capture.otlp_http import is_loopback
from teamcost.errors import InvalidValue

MIN_TOKEN_LEN = 16


def check_exposure(host: str, token: str | None) -> None:
    """The dashboard's rule: a non-loopback address needs a token, and a token must be
    long enough not to be guessed."""
    if token is not None and len(token) < MIN_TOKEN_LEN:
        raise InvalidValue("--metrics-token", f"<{len(token)} characters>",
                           f"at least {MIN_TOKEN_LEN} characters")
    if token is None and not is_loopback(host):
        raise InvalidValue("--metrics-host", host, "a loopback address (127.0.0.1, ::1, "
                           "localhost), or also a --metrics-token (or TEAMCOST_SERVE_TOKEN)")


def _host_of(header: str) -> str:
    header = header.strip()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class MetricsServer:
    """Serves ``render(accept) -> (body, content type)`` at ``/metrics``."""

    def __init__(self, host: str, port: int, render: Callable[[str | None], tuple[bytes, str]],
                 token: str | None = None) -> None:
        check_exposure(host, token)
        self.render = render
        self.token = token
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                if server.token is None:
                    if not is_loopback(_host_of(self.headers.get("Host", ""))):
                        return self._reply(403, b"metrics answer only on this machine\n")
                else:
                    auth = self.headers.get("Authorization", "")
                    given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
                    if not hmac.compare_digest(given.encode(), server.token.encode()):
                        return self._reply(401, b"metrics need the token: "
                                                b"Authorization: Bearer ...\n",
                                           [("WWW-Authenticate", 'Bearer realm="teamcost"')])
                if urlsplit(self.path).path != "/metrics":
                    return self._reply(404, b"the agent serves GET /metrics here\n")
                try:
                    body, ctype = server.render(self.headers.get("Accept"))
                except Exception as exc:   # a scrape that fails says why, the agent goes on
                    return self._reply(500, f"metrics failed: {exc}\n".encode()[:2000])
                self._reply(200, body, [("Content-Type", ctype)])

            def _reply(self, status: int, body: bytes,
                       headers: list[tuple[str, str]] | None = None) -> None:
                self.send_response(status)
                if not any(k == "Content-Type" for k, _ in headers or []):
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                for k, v in headers or []:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self._server = Server((host.strip("[]"), port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="teamcost-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
