"""The OTLP/HTTP receiver the agent runs: ``POST /v1/logs`` and ``POST /v1/traces`` on
loopback, decoded by ``teamcost.capture.otlp`` and handed to the agent's ``on_records``.

Stdlib only, on ``teamcost.capture.http_server.BoundedHTTPServer``: a listen backlog of 1024
for exporters' bursts, at most ``max_connections`` served at once (the rest wait in the
backlog). What it answers, per the OTLP/HTTP spec:

- 200 with an empty ``Export*ServiceResponse`` in the request's encoding (protobuf or
  JSON); when some items looked like calls but could not be recorded, a partial success
  (``partial_success.rejected_log_records`` / ``rejected_spans`` and a message naming
  where and why). Items that are not LLM calls are accepted and dropped.
- 400 a body that does not decode (or a broken gzip stream or chunked body), or whose length
  is ambiguous (two ``Content-Length`` headers, or one with ``Transfer-Encoding``), 404 any
  other path, 405 another method, 411 no length, 413 a body over ``max_body`` before or
  after gunzip (read no further than the limit: a gzip bomb stops there; a body the client
  sends anyway is read and dropped, up to 256 MiB, so it reads the 413), 415 a content
  type other than protobuf / JSON or an encoding other than gzip.
- 503 with ``Retry-After`` when ``on_records`` raises (the ledger is busy, the disk is
  full): the exporter sends the same request again later, and the records' call ids make
  the retry count once.

Error bodies are a ``google.rpc.Status`` with the reason in ``message``. Every response
closes its connection, so no idle keep-alive connection holds a thread; ``stop()`` ends
the in-flight ones and joins every thread it started.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import threading
import zlib
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from teamcost.capture.http_server import (
    DRAIN_MAX,
    MAX_CONNECTIONS,
    BoundedHTTPServer,
    drain,
    framing_error,
)
from teamcost.capture.otlp import (
    Build,
    Decoded,
    WireFormat,
    decode_logs,
    decode_traces,
    wire_format,
)
from teamcost.errors import InvalidValue, TeamcostError
from teamcost.models import CallRecord

log = logging.getLogger("teamcost.capture.otlp")

MiB = 1024 * 1024
DEFAULT_PORT = 4318
MAX_MESSAGE = 4096          # partial-success and error messages stay this short
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,8}")

OnRecords = Callable[[list[CallRecord]], Any]


class _Reply(Exception):
    """Stop handling the request and answer ``status`` with ``message``."""

    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OtlpReceiver:
    """Receives OTLP/HTTP exports and passes the calls in them to ``on_records``.

    ``port=0`` picks a free port (``.port`` says which, after ``start()``). A host that is
    not loopback is refused unless ``allow_remote=True``: the receiver has no
    authentication, and anyone who can reach it can add calls to the ledger.
    ``on_records(records)`` runs on the request's thread, one call per request with at
    least one record; if it raises, the exporter is told to retry (503). ``build`` prices
    and validates a call (default: the default tracker's ``build``); ``claude_code=False``
    ignores Claude Code's events (see ``teamcost.capture.otlp``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 on_records: OnRecords, max_body: int = 4 * MiB, build: Build | None = None,
                 claude_code: bool = True, allow_remote: bool = False,
                 retry_after_s: int = 5, timeout_s: float = 10.0,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        if not isinstance(host, str) or not host:
            raise InvalidValue("host", host, "a host name or IP address such as 127.0.0.1")
        if not allow_remote and not is_loopback(host):
            raise InvalidValue("host", host, "a loopback address (127.0.0.1, ::1, localhost); "
                                             "another needs allow_remote=True")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidValue("port", port, "a TCP port from 0 (any free port) to 65535")
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise InvalidValue("max_body", max_body, "a positive number of bytes")
        if (isinstance(max_connections, bool) or not isinstance(max_connections, int)
                or max_connections < 1):
            raise InvalidValue("max_connections", max_connections, "a positive number")
        if not callable(on_records):
            raise InvalidValue("on_records", on_records, "a function taking a list of records")
        self.host = host
        self._port = port
        self.on_records = on_records
        self.max_body = max_body
        self.build = build
        self.claude_code = claude_code
        self.retry_after_s = retry_after_s
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server is not None else self._port

    @property
    def url(self) -> str:
        host = self.host.strip("[]")
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> OtlpReceiver:
        """Bind and serve in a background thread; a second start() does nothing."""
        with self._lock:
            if self._server is not None:
                return self
            if self.build is None:
                from teamcost.tracker import default_tracker
                self.build = default_tracker().build
            cls = _Server6 if ":" in self.host else _Server
            try:
                server = cls((self.host.strip("[]"), self._port), _Handler, self)
            except OSError as exc:
                raise InvalidValue("port", self._port, f"a free TCP port on {self.host} "
                                                       f"({exc.strerror or exc})") from None
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name=f"teamcost-otlp-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and join every thread; safe to repeat.
        Not from inside ``on_records`` (it would wait for itself)."""
        with self._lock:
            server, thread = self._server, self._thread
            if server is None:
                return
            server.shutdown()
            server.close_connections()
            server.server_close()            # joins the request threads
            if thread is not None:
                thread.join()
            self._port = server.server_address[1]
            self._server = self._thread = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request --

    def handle(self, path: str, content_type: str | None, body: bytes) -> tuple[Decoded, bytes]:
        """Decode ``body`` and hand its records to ``on_records``; the response body."""
        assert self.build is not None
        wire = wire_format(content_type)
        retry = [("Retry-After", str(self.retry_after_s))]
        try:
            if path == "/v1/logs":
                decoded = decode_logs(body, content_type, self.build,
                                      claude_code=self.claude_code)
                response: Message = ExportLogsServiceResponse()
            else:
                decoded = decode_traces(body, content_type, self.build)
                response = ExportTraceServiceResponse()
        except Exception as exc:  # noqa: BLE001 - not the body's fault (decode never blames it)
            log.exception("could not price the calls in an OTLP request")
            raise _Reply(503, f"could not price the calls ({type(exc).__name__}: {exc}); "
                              "retry later", retry) from None
        if decoded.refused is not None or wire is None:
            raise _Reply(400, decoded.refused or "unsupported content type")
        if decoded.records:
            try:
                self.on_records(decoded.records)
            except Exception as exc:  # noqa: BLE001 - any failure: let the exporter retry
                if not isinstance(exc, TeamcostError):   # a bug: its traceback; else one line
                    log.exception("could not record %d calls from OTLP", len(decoded.records))
                raise _Reply(503, f"could not record the calls ({type(exc).__name__}: "
                                  f"{exc}); retry later", retry) from None
        if decoded.rejected:
            more = decoded.rejected - len(decoded.reasons)
            text = "; ".join(decoded.reasons) + (f"; and {more} more" if more > 0 else "")
            partial = response.partial_success
            if path == "/v1/logs":
                partial.rejected_log_records = decoded.rejected
            else:
                partial.rejected_spans = decoded.rejected
            partial.error_message = _clip(f"{decoded.rejected} not recorded: {text}")
        return decoded, encode(response, wire)


def encode(msg: Message, wire: WireFormat) -> bytes:
    if wire == "json":
        return json.dumps(json_format.MessageToDict(msg), separators=(",", ":")).encode()
    return msg.SerializeToString()


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


class _Server(BoundedHTTPServer):
    """The bounded server (teamcost.capture.http_server) that knows its receiver."""

    thread_name = "teamcost-otlp-conn"

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 receiver: OtlpReceiver) -> None:
        self.receiver = receiver
        super().__init__(address, handler, receiver.max_connections)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"     # for Expect: 100-continue; every response closes
    server_version = "teamcost-otlp"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # a client that stops sending mid-request does not hold its thread for long
        self.connection.settimeout(self.server.receiver.timeout_s)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def handle_expect_100(self) -> bool:
        try:
            self._check_length()
        except _Reply as reply:
            self._answer(reply.status, reply.message, reply.headers)
            return False
        return super().handle_expect_100()

    def do_POST(self) -> None:
        receiver = self.server.receiver
        try:
            self._check_framing()
            path = self._path()
            ctype = self.headers.get("Content-Type")
            if wire_format(ctype) is None:
                self._discard()
                raise _Reply(415, f"unsupported content type {ctype!r}; expected "
                                  "application/x-protobuf or application/json")
            coding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
            if coding not in ("identity", "gzip"):
                self._discard()
                raise _Reply(415, f"unsupported content encoding {coding!r}; expected gzip "
                                  "or none")
            body = self._body()
            if coding == "gzip":
                body = gunzip(body, receiver.max_body)
            decoded, payload = receiver.handle(path, ctype, body)
        except _Reply as reply:
            self._answer(reply.status, reply.message, reply.headers)
            return
        except Exception as exc:  # noqa: BLE001 - a bug here must not kill the thread silently
            log.exception("OTLP request failed")
            self._answer(500, f"internal error ({type(exc).__name__})")
            return
        if decoded.rejected:
            log.warning("OTLP %s: %d items not recorded: %s", path, decoded.rejected,
                        "; ".join(decoded.reasons[:3]))
        self._send(200, payload, ctype)

    def _not_post(self) -> None:
        try:
            self._check_framing()
            self._path()
            self._discard()
            raise _Reply(405, "only POST is accepted here", [("Allow", "POST")])
        except _Reply as reply:
            self._answer(reply.status, reply.message, reply.headers)

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_post

    def _check_framing(self) -> None:
        why = framing_error(self.headers)
        if why is not None:
            self._unread = True
            raise _Reply(400, f"ambiguous body length: {why}")

    def _path(self) -> str:
        path = urlsplit(self.path).path
        if path not in ("/v1/logs", "/v1/traces"):
            self._discard()
            raise _Reply(404, f"no such endpoint {path[:200]!r}; OTLP/HTTP here is "
                              "POST /v1/logs and POST /v1/traces")
        return path

    # -- the body --

    def _check_length(self) -> int | None:
        why = framing_error(self.headers)
        if why is not None:
            raise _Reply(400, f"ambiguous body length: {why}")
        raw = self.headers.get("Content-Length")
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        if raw is None:
            if chunked:
                return None
            raise _Reply(411, "a Content-Length (or chunked transfer encoding) is required")
        if not raw.strip().isdigit():
            raise _Reply(400, f"invalid Content-Length {raw[:40]!r}")
        n = int(raw)
        if n > self.server.receiver.max_body:
            raise _Reply(413, f"the body is {n:,} bytes; at most "
                              f"{self.server.receiver.max_body:,} are accepted")
        return n

    def _body(self) -> bytes:
        n = self._check_length()
        try:
            if n is None:
                return self._chunked(self.server.receiver.max_body)
            data = self.rfile.read(n)
        except TimeoutError:
            raise _Reply(400, "the body did not arrive in time") from None
        except OSError as exc:
            raise _Reply(400, f"the body could not be read ({exc})") from None
        if len(data) < n:
            raise _Reply(400, f"the body ended after {len(data):,} of {n:,} bytes")
        return data

    def _chunked(self, limit: int) -> bytes:
        buf = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
                raise _Reply(400, "invalid chunked body (a bad chunk size line)")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(buf) + size > limit:
                raise _Reply(413, f"the body is over the {limit:,} bytes accepted")
            data = self.rfile.read(size)
            if len(data) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Reply(400, "invalid chunked body (a chunk ended early)")
            buf += data
        for _ in range(64):                  # trailer lines, up to the empty one
            if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                break
        return bytes(buf)

    def _discard(self) -> None:
        """Read (and drop) a small body before answering early, so closing the connection
        does not reset it under the client before it reads the answer."""
        if getattr(self, "_discarded", False):
            return
        self._discarded = True
        raw = self.headers.get("Content-Length") or ""
        if raw.strip().isdigit() and int(raw) <= self.server.receiver.max_body:
            try:
                self.rfile.read(int(raw))
            except OSError:
                pass

    # -- answers --

    def _answer(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        ctype = self.headers.get("Content-Type") if self.headers else None
        wire = wire_format(ctype) or "protobuf"
        if status >= 500:
            log.warning("OTLP request answered %d: %s", status, message)
        else:
            log.info("OTLP request refused (%d): %s", status, message)
        self._send(status, encode(Status(message=_clip(message)), wire),
                   "application/json" if wire == "json" else "application/x-protobuf", headers)
        if status == 413 or getattr(self, "_unread", False):
            # the body was not (wholly) read: read and drop it, so the client that sends it
            # all before reading sees this answer instead of a reset connection
            drain(self.connection, DRAIN_MAX)

    def _send(self, status: int, payload: bytes, ctype: str | None,
              headers: Sequence[tuple[str, str]] = ()) -> None:
        wire = wire_format(ctype) or "protobuf"
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if wire == "json"
                             else "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:   # the client went away: nothing to tell it
            pass


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip (members one after another, as gzip allows), refusing to produce
    more than ``limit`` bytes: a small body that inflates past it is a 413, unexpanded."""
    out = bytearray()
    rest = data
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += d.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise _Reply(400, f"the gzip body does not decompress ({exc})") from None
        if len(out) > limit:
            raise _Reply(413, f"the body inflates past the {limit:,} bytes accepted")
        if not d.eof:
            raise _Reply(400, "the gzip body is truncated")
        rest = d.unused_data
        if not rest:
            return bytes(out)
