"""The OTLP/HTTP receiver with the real OpenTelemetry SDK exporters sending to it.

Spans with GenAI attributes go through ``opentelemetry-exporter-otlp-proto-http``'s span
exporter (protobuf, plain and gzipped), and log records shaped like Claude Code's
``claude_code.api_request`` events through its log exporter. The Python SDK has no OTLP/JSON
exporter, so JSON is what the SDK exporter encodes (its own ``encode_logs`` /
``encode_spans``) written out with ``json_format.MessageToDict`` and turned into OTLP/JSON
here (hex ids, integer enums), posted as ``application/json``. Every call lands in a real
ledger; tokens and costs are worked out here from per-million prices written here.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from google.protobuf import json_format
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

import teamcost
from teamcost.capture.otlp_http import OtlpReceiver, is_loopback
from teamcost.config import load_config
from teamcost.errors import InvalidValue, LedgerError
from teamcost.models import CallRecord
from teamcost.tracker import Tracker
from tests.llm_server import LLMServer, server  # noqa: F401 - the fixture

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PB, JS = "application/x-protobuf", "application/json"
T0 = datetime(2026, 11, 20, 9, 30, 0, 250000, tzinfo=UTC)

# USD per million tokens: input, output, cache read, cache write
PRICES = {"claude-sonnet-4-5": (3, 15, 0.3, 3.75), "gpt-4o-2024-08-06": (2.5, 10, 1.25, 2.5)}
CONFIG = 'team = "core"\n' + "".join(
    f'[[price_overrides]]\npattern = "^{m}$"\ninput = {i}\noutput = {o}\n'
    f"cache_read = {cr}\ncache_write = {cw}\n" for m, (i, o, cr, cw) in PRICES.items())


def nanos(model: str, inp: int, out: int, cr: int = 0, cw: int = 0) -> int:
    p = PRICES[model]
    return round((inp * p[0] + out * p[1] + cr * p[2] + cw * p[3]) * 1000)


def ns(ts: datetime) -> int:
    d = ts - EPOCH
    return (d.days * 86400 + d.seconds) * 10**9 + d.microseconds * 1000


class Sink:
    """The agent's part: record what arrives; a call id already present is already there
    (the same call by another path), not a conflict. ``fail`` makes the next calls raise."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.batches: list[list[CallRecord]] = []
        self.fail = 0
        self.lock = threading.Lock()

    def __call__(self, records: list[CallRecord]) -> None:
        with self.lock:
            self.batches.append(list(records))
            if self.fail:
                self.fail -= 1
                raise OSError("disk full")
            for rec in records:
                if self.tracker.ledger.get(rec.call_id) is None:
                    self.tracker.record_call(rec)

    def rows(self) -> dict[str, CallRecord]:
        return {r.call_id: r for r in self.tracker.ledger.calls()}


@pytest.fixture
def tracker(teamcost_home: Path) -> Iterator[Tracker]:
    (teamcost_home / "config.toml").write_text(CONFIG)
    t = Tracker(load_config())
    yield t
    t.close()


@pytest.fixture
def sink(tracker: Tracker) -> Sink:
    return Sink(tracker)


def receiver_threads() -> list[threading.Thread]:
    """The receiver's threads: its server loop and one per open connection."""
    return [t for t in threading.enumerate() if t.name.startswith("teamcost-otlp")]


@pytest.fixture
def receiver(tracker: Tracker, sink: Sink) -> Iterator[OtlpReceiver]:
    assert receiver_threads() == []
    rx = OtlpReceiver(port=0, on_records=sink, max_body=1024 * 1024, build=tracker.build,
                      retry_after_s=1, timeout_s=30)
    rx.start()
    assert rx.port != 0
    yield rx
    rx.stop()
    assert receiver_threads() == []


# -- what the SDK makes --

def claude_code_logs() -> list[Any]:
    """Log records as Claude Code's logger emits them, through the real logs SDK."""
    mem = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code",
                                                        "service.version": "2.1.197"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(mem))
    logger = provider.get_logger("com.anthropic.claude_code.events", "2.1.197")
    std = {"user.id": "u-1", "session.id": "sess-42", "user.email": "ana@example.com",
           "organization.id": "org-1", "user.account_uuid": "acc-1", "terminal.type": "vscode"}
    logger.emit(timestamp=ns(T0), observed_timestamp=ns(T0), body="claude_code.user_prompt",
                attributes={**std, "event.name": "user_prompt", "event.sequence": 1,
                            "prompt_length": 17, "prompt.id": "p-1"})
    logger.emit(timestamp=ns(T0 + timedelta(seconds=4)), observed_timestamp=ns(T0),
                body="claude_code.api_request",
                attributes={**std, "event.name": "api_request", "event.sequence": 2,
                            "event.timestamp": "2026-11-20T09:30:04.250Z", "prompt.id": "p-1",
                            "model": "claude-sonnet-4-5", "input_tokens": 9,
                            "output_tokens": 7238, "cache_read_tokens": 0,
                            "cache_creation_tokens": 41530, "cost_usd": 0.4405575,
                            "cost_usd_micros": 440558, "duration_ms": 135933,
                            "request_id": "req_011CVz9", "speed": "normal",
                            "query_source": "repl_main_thread"})
    logger.emit(timestamp=ns(T0 + timedelta(seconds=9)), body="claude_code.api_request",
                attributes={**std, "event.name": "api_request", "event.sequence": 3,
                            "prompt.id": "p-1", "model": "claude-sonnet-4-5",
                            "input_tokens": 5, "output_tokens": -1,      # broken: rejected
                            "cost_usd": 0.01, "request_id": "req_011CVzA"})
    provider.shutdown()
    return list(mem.get_finished_logs())


def genai_spans() -> list[Any]:
    mem = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-api"}))
    provider.add_span_processor(SimpleSpanProcessor(mem))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2")
    with tracer.start_as_current_span("invoke_agent Planner", start_time=ns(T0),
                                      attributes={"gen_ai.operation.name": "invoke_agent",
                                                  "gen_ai.agent.name": "Planner",
                                                  "gen_ai.provider.name": "openai",
                                                  "gen_ai.usage.input_tokens": 1210,
                                                  "gen_ai.usage.output_tokens": 302},
                                      end_on_exit=False) as agent:
        chat = tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, start_time=ns(T0),
                                 attributes={"gen_ai.operation.name": "chat",
                                             "gen_ai.provider.name": "openai",
                                             "gen_ai.request.model": "gpt-4o",
                                             "gen_ai.response.model": "gpt-4o-2024-08-06",
                                             "gen_ai.response.id": "chatcmpl-abc123",
                                             "gen_ai.usage.input_tokens": 1200,
                                             "gen_ai.usage.output_tokens": 300,
                                             "gen_ai.usage.cache_read.input_tokens": 200,
                                             "gen_ai.agent.name": "Planner"})
        chat.end(end_time=ns(T0 + timedelta(milliseconds=1500)))
        fail = tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT,
                                 start_time=ns(T0 + timedelta(seconds=2)),
                                 attributes={"gen_ai.operation.name": "chat",
                                             "gen_ai.provider.name": "openai",
                                             "gen_ai.request.model": "gpt-4o-2024-08-06",
                                             "error.type": "RateLimitError"})
        fail.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
        fail.end(end_time=ns(T0 + timedelta(seconds=2, milliseconds=40)))
        agent.end(end_time=ns(T0 + timedelta(seconds=3)))
    provider.shutdown()
    return list(mem.get_finished_spans())


def to_otlp_json(msg: Any) -> bytes:
    """protobuf JSON -> OTLP/JSON: trace and span ids in hex, enums as integers."""
    doc = json_format.MessageToDict(msg, use_integers_for_enums=True)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in node:
                    node[key] = base64.b64decode(node[key]).hex()
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return json.dumps(doc).encode()


def check_cc(rows: dict[str, CallRecord]) -> None:
    rec = rows["cc-req-req_011CVz9"]
    assert rec.ts == T0 + timedelta(seconds=4)
    assert (rec.provider, rec.model, rec.member, rec.team) == (
        "anthropic", "claude-sonnet-4-5", "tester@example.com", "core")
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens,
            rec.cache_write_tokens) == (9, 7238, 0, 41530)
    # 9 x $3 + 7,238 x $15 + 41,530 x $3.75 per million = $0.264 (Claude Code said $0.4406)
    assert rec.cost_nanos == 27_000 + 108_570_000 + 155_737_500 == nanos(
        "claude-sonnet-4-5", 9, 7238, 0, 41530)
    assert (rec.duration_s, rec.session_id, rec.correlation_id, rec.success) == (
        135.933, "sess-42", "p-1", True)
    assert rec.tags == {"source": "claude-code-otel", "reported_cost_usd": "0.440557500",
                        "request_id": "req_011CVz9", "query_source": "repl_main_thread"}


def check_spans(rows: dict[str, CallRecord], trace_hex: str, fail_hex: str) -> None:
    chat = rows["openai:chatcmpl-abc123"]
    assert (chat.provider, chat.model, chat.agent) == ("openai", "gpt-4o-2024-08-06", "Planner")
    assert (chat.input_tokens, chat.output_tokens, chat.cache_read_tokens) == (1000, 300, 200)
    assert chat.cost_nanos == 2_500_000 + 3_000_000 + 250_000 == nanos(
        "gpt-4o-2024-08-06", 1000, 300, 200)
    assert (chat.ts, chat.duration_s) == (T0 + timedelta(milliseconds=1500), 1.5)
    assert chat.tags == {"source": "otel", "operation": "chat", "service": "shop-api"}
    failed = rows[f"otel-{trace_hex}-{fail_hex}"]
    assert (failed.success, failed.error, failed.cost_nanos, failed.duration_s) == (
        False, "429 Too Many Requests", 0, 0.04)


# -- the real exporters --

def test_sdk_exporters_protobuf_plain_and_gzip(receiver: OtlpReceiver, sink: Sink) -> None:
    logs = claude_code_logs()
    log_exp = OTLPLogExporter(endpoint=f"{receiver.url}/v1/logs", timeout=10)
    assert log_exp.export(logs) == LogRecordExportResult.SUCCESS     # partial success: no retry
    log_exp.shutdown()
    spans = genai_spans()
    span_exp = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=10,
                                compression=Compression.Gzip)
    assert span_exp.export(spans) == SpanExportResult.SUCCESS
    span_exp.shutdown()

    rows = sink.rows()
    assert len(rows) == 3                    # 1 Claude Code call, 2 spans; the rest is not calls
    check_cc(rows)
    fail = next(s for s in spans if s.status.status_code == StatusCode.ERROR)
    check_spans(rows, f"{fail.context.trace_id:032x}", f"{fail.context.span_id:016x}")
    assert [len(b) for b in sink.batches] == [1, 2]


def test_otlp_json_and_partial_success(receiver: OtlpReceiver, sink: Sink) -> None:
    logs, spans = claude_code_logs(), genai_spans()
    r = requests.post(f"{receiver.url}/v1/logs", data=to_otlp_json(encode_logs(logs)),
                      headers={"Content-Type": JS}, timeout=10)
    assert (r.status_code, r.headers["Content-Type"]) == (200, JS)
    body = r.json()
    assert body["partialSuccess"]["rejectedLogRecords"] == "1"     # int64: a decimal string
    assert "logRecords[2]: invalid output_tokens: -1" in body["partialSuccess"]["errorMessage"]
    r = requests.post(f"{receiver.url}/v1/traces", data=to_otlp_json(encode_spans(spans)),
                      headers={"Content-Type": JS}, timeout=10)
    assert (r.status_code, r.json()) == (200, {})                  # all accepted: empty
    rows = sink.rows()
    assert len(rows) == 3
    check_cc(rows)
    fail = next(s for s in spans if s.status.status_code == StatusCode.ERROR)
    check_spans(rows, f"{fail.context.trace_id:032x}", f"{fail.context.span_id:016x}")

    # the same calls again, now in protobuf: same ids, nothing new
    r = requests.post(f"{receiver.url}/v1/logs", data=encode_logs(logs).SerializeToString(),
                      headers={"Content-Type": PB}, timeout=10)
    resp = ExportLogsServiceResponse.FromString(r.content)
    assert (r.status_code, r.headers["Content-Type"]) == (200, PB)
    assert resp.partial_success.rejected_log_records == 1
    r = requests.post(f"{receiver.url}/v1/traces", data=encode_spans(spans).SerializeToString(),
                      headers={"Content-Type": PB}, timeout=10)
    assert ExportTraceServiceResponse.FromString(r.content) == ExportTraceServiceResponse()
    assert sink.rows() == rows


def test_a_call_hooked_and_traced_is_one_call(receiver: OtlpReceiver, sink: Sink,
                                              tracker: Tracker, server: LLMServer,  # noqa: F811
                                              ) -> None:
    """teamcost.instrument() and a GenAI span for the same response share its call id."""
    client = teamcost.instrument(openai.OpenAI(api_key="sk-test", base_url=server.url + "/v1",
                                               max_retries=0), tracker)
    resp = client.chat.completions.create(model="gpt-4o-2024-08-06",
                                          messages=[{"role": "user", "content": "hi"}])
    hooked = tracker.ledger.get(f"openai:{resp.id}")
    assert hooked is not None
    exp = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=10)
    assert exp.export(genai_spans()) == SpanExportResult.SUCCESS   # has chatcmpl-abc123 too
    exp.shutdown()
    rows = sink.rows()
    assert len(rows) == 2                                 # the hooked call, the failed span
    assert rows[hooked.call_id] == hooked                 # counted once, the first record kept


def test_on_records_failing_means_503_and_the_exporter_retries(receiver: OtlpReceiver,
                                                               sink: Sink) -> None:
    sink.fail = 1
    exp = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=20)
    started = time.monotonic()
    assert exp.export(genai_spans()) == SpanExportResult.SUCCESS
    exp.shutdown()
    assert time.monotonic() - started >= 1.0             # it waited the Retry-After
    assert [len(b) for b in sink.batches] == [2, 2]       # refused once, then recorded
    assert len(sink.rows()) == 2
    sink.fail = 1
    r = requests.post(f"{receiver.url}/v1/traces", data=encode_spans(genai_spans())
                      .SerializeToString(), headers={"Content-Type": PB}, timeout=10)
    assert (r.status_code, r.headers["Retry-After"]) == (503, "1")
    assert "OSError: disk full" in RpcStatus.FromString(r.content).message


def test_a_ledger_that_cannot_be_opened_means_503_not_a_refusal(tracker: Tracker,
                                                                sink: Sink) -> None:
    broken = {"left": 1}

    def build(*args: Any, **kwargs: Any) -> CallRecord:
        if broken["left"]:
            broken["left"] -= 1
            raise LedgerError("cannot open ledger: database is locked")
        return tracker.build(*args, **kwargs)

    with OtlpReceiver(port=0, on_records=sink, build=build, retry_after_s=1) as rx:
        body = encode_spans(genai_spans()).SerializeToString()
        r = requests.post(f"{rx.url}/v1/traces", data=body, headers={"Content-Type": PB},
                          timeout=10)
        assert (r.status_code, r.headers["Retry-After"]) == (503, "1")
        assert "LedgerError: cannot open ledger" in message(r.content)
        r = requests.post(f"{rx.url}/v1/traces", data=body, headers={"Content-Type": PB},
                          timeout=10)                      # the exporter's retry
        assert r.status_code == 200 and len(sink.rows()) == 2
    assert receiver_threads() == []


# -- refusals --

def raw(rx: OtlpReceiver, head: bytes, body: bytes = b"", shut: bool = False) -> tuple[int, bytes]:
    """Send bytes as they are and read the answer (status, body)."""
    with socket.create_connection(("127.0.0.1", rx.port), timeout=10) as s:
        s.sendall(head + body)
        if shut:
            s.shutdown(socket.SHUT_WR)
        resp = http.client.HTTPResponse(s)
        resp.begin()
        return resp.status, resp.read()


def post_head(path: str, length: int | None, ctype: str = PB, extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n{size}{extra}"
            "\r\n").encode()


def message(content: bytes) -> str:
    return RpcStatus.FromString(content).message


def test_bad_requests_are_refused_with_a_reason(receiver: OtlpReceiver, sink: Sink) -> None:
    url = receiver.url
    r = requests.post(f"{url}/v1/logs", data=b"\x0a\xff\xff\xff\xff\x0f",
                      headers={"Content-Type": PB}, timeout=10)
    assert r.status_code == 400 and "not an OTLP protobuf" in message(r.content)
    r = requests.post(f"{url}/v1/traces", data=b'{"resourceSpans": 7}',
                      headers={"Content-Type": JS}, timeout=10)
    assert (r.status_code, r.headers["Content-Type"]) == (400, JS)
    assert "not an OTLP/JSON ExportTraceServiceRequest" in r.json()["message"]
    r = requests.post(f"{url}/v1/logs", data=b"not gzip", timeout=10,
                      headers={"Content-Type": PB, "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "does not decompress" in message(r.content)
    r = requests.post(f"{url}/v1/logs", data=gzip.compress(b"x" * 100)[:-9], timeout=10,
                      headers={"Content-Type": PB, "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "truncated" in message(r.content)
    r = requests.post(f"{url}/v1/logs", data=b"{}", headers={"Content-Type": "text/plain"},
                      timeout=10)
    assert r.status_code == 415 and "unsupported content type 'text/plain'" in message(r.content)
    r = requests.post(f"{url}/v1/logs", data=b"{}", timeout=10,
                      headers={"Content-Type": JS, "Content-Encoding": "br"})
    assert r.status_code == 415 and "encoding 'br'" in r.json()["message"]
    for path in ("/v1/metrics", "/", "/v1/logs/../metrics"):
        r = requests.post(url + path, data=b"", headers={"Content-Type": PB}, timeout=10)
        assert r.status_code == 404 and "no such endpoint" in message(r.content)
    r = requests.get(f"{url}/v1/logs", timeout=10)
    assert (r.status_code, r.headers["Allow"]) == (405, "POST")
    # a body that stops short; no length at all
    status, body = raw(receiver, post_head("/v1/logs", 100), b"\x0a\x02", shut=True)
    assert status == 400 and "ended after 2 of 100 bytes" in message(body)
    status, body = raw(receiver, post_head("/v1/logs", None))
    assert status == 411
    assert sink.batches == [] and sink.rows() == {}


def test_size_limits_before_and_after_gzip(receiver: OtlpReceiver, sink: Sink) -> None:
    limit = receiver.max_body
    # announced too big: answered at once, before (and without) reading the body
    started = time.monotonic()
    status, body = raw(receiver, post_head("/v1/logs", 50 * limit))
    assert status == 413 and f"at most {limit:,}" in message(body)
    assert time.monotonic() - started < 5                # it did not wait for 50 MiB
    # a client that sends it anyway still reads the 413 (the receiver drops what follows)
    r = requests.post(f"{receiver.url}/v1/logs", data=b"\0" * (3 * limit),
                      headers={"Content-Type": PB}, timeout=10)
    assert r.status_code == 413
    # curl's Expect: 100-continue gets the 413 instead of the go-ahead
    status, body = raw(receiver, post_head("/v1/traces", limit + 1,
                                           extra="Expect: 100-continue\r\n"))
    assert status == 413
    # a gzip bomb: 64 KiB that would inflate to 64 MiB stops at the limit
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < limit
    r = requests.post(f"{receiver.url}/v1/logs", data=bomb, timeout=30,
                      headers={"Content-Type": PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "inflates past" in message(r.content)
    # a chunked body (Claude Code 2.1.191 to 2.1.211 sent these): fine under the limit...
    logs = encode_logs(claude_code_logs()).SerializeToString()
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    conn.request("POST", "/v1/logs", body=iter([logs[:100], logs[100:]]),
                 headers={"Content-Type": PB}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 200
    assert ExportLogsServiceResponse.FromString(resp.read()).partial_success \
        .rejected_log_records == 1
    conn.close()
    assert list(sink.rows()) == ["cc-req-req_011CVz9"]
    # ...and refused past it
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    conn.request("POST", "/v1/logs", body=iter([b"\0" * (limit // 2 + 1)] * 2),
                 headers={"Content-Type": PB}, encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()


# -- lifecycle --

def test_loopback_only_unless_asked(tracker: Tracker) -> None:
    for host in ("0.0.0.0", "192.168.1.20", "example.com", ""):
        with pytest.raises(InvalidValue, match="loopback|host name"):
            OtlpReceiver(host, 0, on_records=print, build=tracker.build)
    OtlpReceiver("0.0.0.0", 0, on_records=print, build=tracker.build, allow_remote=True)
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"))
    with pytest.raises(InvalidValue, match="port"):
        OtlpReceiver(port=70000, on_records=print)
    with pytest.raises(InvalidValue, match="on_records"):
        OtlpReceiver(port=0, on_records=None)  # type: ignore[arg-type]


def test_a_taken_port_is_a_clear_error(receiver: OtlpReceiver, tracker: Tracker) -> None:
    other = OtlpReceiver(port=receiver.port, on_records=print, build=tracker.build)
    with pytest.raises(InvalidValue, match=f"invalid port: {receiver.port}; expected a free"):
        other.start()


def test_stop_ends_idle_connections_and_joins_every_thread(tracker: Tracker, sink: Sink) -> None:
    assert receiver_threads() == []
    rx = OtlpReceiver(port=0, on_records=sink, build=tracker.build, timeout_s=60).start()
    assert rx.start() is rx                                   # a second start: no-op
    idle = socket.create_connection(("127.0.0.1", rx.port))    # connects, never sends
    half = socket.create_connection(("127.0.0.1", rx.port))
    half.sendall(post_head("/v1/logs", 1000) + b"\x0a")       # sends part of a body
    deadline = time.monotonic() + 10
    while len(receiver_threads()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)                                     # serving thread + 2 handlers
    assert sorted(t.name for t in receiver_threads()) == [
        f"teamcost-otlp-{rx.port}"] + [f"teamcost-otlp-conn-{rx.port}"] * 2
    started = time.monotonic()
    rx.stop()
    assert time.monotonic() - started < 5                     # not the 60 s socket timeout
    assert receiver_threads() == []
    rx.stop()                                                 # again: no-op
    idle.close()
    half.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", rx.port), timeout=2).close()
