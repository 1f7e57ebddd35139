"""The bounds every teamcost HTTP listener keeps: a listen backlog fit for bursts, a cap on
connections served at once, one unambiguous body framing, and a refused body read (up to a
limit) before the connection closes, so the client reads the answer instead of a reset.

``BoundedHTTPServer`` is the stdlib server the OTLP receiver runs on; ``LISTEN_BACKLOG`` is
also what ``teamcost serve`` listens with (uvicorn brings its own limits for the rest).

- ``LISTEN_BACKLOG`` (1024, the kernel caps it at ``net.core.somaxconn``): exporters (Claude
  Code, the OpenTelemetry SDKs) flush in bursts, and with the stdlib's default of 5 a burst
  of 200 connections lost ~70 to resets.
- ``max_connections`` (default 64) connections are served at once; the next ones wait in the
  backlog until a slot frees (the accept loop pauses), never refused.
- ``framing_error``: two ``Content-Length`` headers, or one with ``Transfer-Encoding``, or
  two ``Transfer-Encoding`` headers, are refused (400): a proxy in front could read the body
  differently from us (request smuggling), so no guess is made.
- ``drain``: after answering a request whose body was not read (413 too large, 400), read
  and drop up to ``DRAIN_MAX`` bytes for at most ``DRAIN_S`` seconds: a client that sends the
  whole body before reading (``requests``, most exporters) then sees the answer. Beyond
  that the connection is closed under it.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LISTEN_BACKLOG = 1024
MAX_CONNECTIONS = 64
DRAIN_MAX = 256 * 1024 * 1024     # a refused body is read and dropped up to this size...
DRAIN_S = 15.0                    # ...for at most this long


def framing_error(headers: Message) -> str | None:
    """Why this request's body length is ambiguous, or None."""
    lengths = headers.get_all("Content-Length") or []
    codings = headers.get_all("Transfer-Encoding") or []
    if len(lengths) > 1:
        return "more than one Content-Length header"
    if len(codings) > 1:
        return "more than one Transfer-Encoding header"
    if lengths and codings:
        return "both Content-Length and Transfer-Encoding"
    return None


def drain(conn: socket.socket, limit: int = DRAIN_MAX, seconds: float = DRAIN_S) -> None:
    """Stop writing, then read and drop what the client still sends (at most ``limit``
    bytes, ``seconds``), so it can finish sending and read the answer already sent."""
    deadline = time.monotonic() + seconds
    try:
        conn.shutdown(socket.SHUT_WR)
        left = limit
        while left > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            conn.settimeout(min(1.0, remaining))
            data = conn.recv(min(1 << 20, left))
            if not data:
                break
            left -= len(data)
    except OSError:
        pass


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once (the rest wait in the
    listen backlog); tracks its open connections so ``close_connections()`` can end them;
    ``server_close()`` joins every request thread."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = False       # server_close() joins non-daemon request threads
    block_on_close = True
    thread_name = "teamcost-http-conn"

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closing = False
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's name (getfqdn): slow, and unused
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        # a free slot first: while every slot is busy the accept loop waits here, and new
        # connections wait in the kernel's backlog (not refused)
        while not self._slots.acquire(timeout=0.1):
            if self._closing:
                self.shutdown_request(request)
                return
        with self._conns_lock:
            self._conns.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        threading.current_thread().name = f"{self.thread_name}-{self.server_address[1]}"
        super().process_request_thread(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            held = request in self._conns
            self._conns.discard(request)
        if held:
            self._slots.release()
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every open connection (after ``shutdown()``: their threads then finish)."""
        self._closing = True
        with self._conns_lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class BoundedHTTPServer6(BoundedHTTPServer):
    address_family = socket.AF_INET6
