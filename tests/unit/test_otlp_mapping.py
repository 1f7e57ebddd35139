"""OTLP -> call records (teamcost.capture.otlp): hand-built export requests, in protobuf and
in OTLP/JSON written out by hand, map to records whose tokens and costs are worked out here
from per-million prices written here; hostile bodies and items become reasons, never
exceptions; the dedupe ids are the ones the transcript importer and the SDK hooks give."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from teamcost.capture.logs.claude_code import claude_code_call_id, claude_code_record
from teamcost.capture.otlp import (
    MAX_REASONS,
    claude_code_otel_call_id,
    decode_logs,
    decode_traces,
    wire_format,
)
from teamcost.capture.sdk import anthropic as anthropic_hook
from teamcost.capture.sdk import openai as openai_hook
from teamcost.capture.sdk.common import Call
from teamcost.config import load_config
from teamcost.errors import LedgerError
from teamcost.tracker import Tracker

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PB, JS = "application/x-protobuf", "application/json"

# USD per million tokens: input, output, cache read, cache write
PRICES = {"claude-sonnet-4-5": (3, 15, 0.3, 3.75), "gpt-4o-2024-08-06": (2.5, 10, 1.25, None),
          "claude-haiku-4-5": (1, 5, 0.1, 1.25)}
CONFIG = 'team = "core"\n' + "".join(
    f'[[price_overrides]]\npattern = "^{m}$"\ninput = {i}\noutput = {o}\ncache_read = {cr}\n'
    + (f"cache_write = {cw}\n" if cw is not None else "")
    for m, (i, o, cr, cw) in PRICES.items())


def cost_nanos(model: str, inp: int, out: int, cr: int = 0, cw: int = 0) -> int:
    """$/Mtok x tokens: $1 per million tokens is 1,000 nanos a token (exact here)."""
    p_in, p_out, p_cr, p_cw = PRICES[model]
    total = inp * p_in + out * p_out + cr * p_cr + cw * (p_in if p_cw is None else p_cw)
    assert abs(total * 1000 - round(total * 1000)) < 1e-6
    return round(total * 1000)


def nanos_of(ts: datetime, extra_ns: int = 0) -> int:
    delta = ts - EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000 + extra_ns


T1 = datetime(2026, 11, 20, 10, 0, 1, 123456, tzinfo=UTC)
T2 = datetime(2026, 11, 20, 10, 5, 0, tzinfo=UTC)


@pytest.fixture
def tracker(teamcost_home: Path) -> Tracker:
    (teamcost_home / "config.toml").write_text(CONFIG)
    t = Tracker(load_config())
    yield t
    t.close()


# -- building requests by hand: protobuf --

def kv(key: str, value: Any) -> KeyValue:
    v = AnyValue()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, list):
        v.array_value.values.extend(AnyValue(string_value=str(x)) for x in value)
    else:
        v.string_value = value
    return KeyValue(key=key, value=v)


def logs_pb(events: list[tuple[int, str, dict[str, Any]]], service: str = "claude-code",
            scope: str = "com.anthropic.claude_code.events") -> bytes:
    """(time ns, body, attributes) log records under one resource and scope."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", service))
    sl = rl.scope_logs.add()
    sl.scope.name = scope
    for when, body, attrs in events:
        lr = sl.log_records.add(time_unix_nano=when, observed_time_unix_nano=when)
        lr.body.string_value = body
        lr.attributes.extend(kv(k, v) for k, v in attrs.items())
    return req.SerializeToString()


def spans_pb(spans: list[dict[str, Any]], service: str = "shop-api") -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.openai_v2"
    for s in spans:
        span = ss.spans.add(trace_id=bytes.fromhex(s["trace"]), span_id=bytes.fromhex(s["span"]),
                            name=s["name"], kind=3, start_time_unix_nano=s["start"],
                            end_time_unix_nano=s["end"])
        span.attributes.extend(kv(k, v) for k, v in s["attrs"].items())
        if s.get("error"):
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = s["error"]
    return req.SerializeToString()


# -- the same by hand in OTLP/JSON: camelCase keys, int64 as strings, hex ids, int enums --

def js_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):   # proto3 JSON writes NaN and infinities as strings
        return {"doubleValue": value if math.isfinite(value) else str(value).replace("nan", "NaN")}
    if isinstance(value, list):
        return {"arrayValue": {"values": [{"stringValue": str(x)} for x in value]}}
    return {"stringValue": value}


def js_attrs(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": js_value(v)} for k, v in attrs.items()]


def logs_js(events: list[tuple[int, str, dict[str, Any]]], service: str = "claude-code",
            scope: str = "com.anthropic.claude_code.events") -> bytes:
    doc = {"resourceLogs": [{
        "resource": {"attributes": js_attrs({"service.name": service})},
        "scopeLogs": [{"scope": {"name": scope}, "logRecords": [
            {"timeUnixNano": str(when), "observedTimeUnixNano": str(when),
             "body": {"stringValue": body}, "attributes": js_attrs(attrs),
             "traceId": "", "spanId": ""}
            for when, body, attrs in events]}]}]}
    return json.dumps(doc).encode()


def spans_js(spans: list[dict[str, Any]], service: str = "shop-api") -> bytes:
    doc = {"resourceSpans": [{
        "resource": {"attributes": js_attrs({"service.name": service})},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai_v2"}, "spans": [
            {"traceId": s["trace"].upper(), "spanId": s["span"], "name": s["name"], "kind": 3,
             "startTimeUnixNano": str(s["start"]), "endTimeUnixNano": str(s["end"]),
             "attributes": js_attrs(s["attrs"]),
             "status": {"code": 2, "message": s["error"]} if s.get("error") else {}}
            for s in spans]}]}]}
    return json.dumps(doc).encode()


# -- Claude Code telemetry --

def cc_events() -> list[tuple[int, str, dict[str, Any]]]:
    """Shaped like Claude Code's own: 2.1 sends numbers, 2.0 sent decimal strings."""
    std = {"session.id": "5e1f-sess", "user.email": "ana@example.com",
           "user.account_uuid": "acc-1", "organization.id": "org-1", "terminal.type": "xterm"}
    return [
        (nanos_of(T1, 789), "claude_code.api_request", {
            **std, "event.name": "api_request", "event.timestamp": "2026-11-20T10:00:01.123Z",
            "event.sequence": 7, "prompt.id": "prompt-1", "model": "claude-sonnet-4-5",
            "input_tokens": 12, "output_tokens": 345, "cache_read_tokens": 10000,
            "cache_creation_tokens": 2000, "cost_usd": 0.0123, "cost_usd_micros": 12300,
            "duration_ms": 2345, "request_id": "req_011CVabc", "speed": "normal",
            "query_source": "repl_main_thread"}),
        (nanos_of(T1), "claude_code.user_prompt", {
            **std, "event.name": "user_prompt", "prompt_length": 42}),
        (nanos_of(T2), "claude_code.api_request", {      # Claude Code 2.0: all strings
            **std, "event.name": "api_request", "event.sequence": 9, "model": "claude-haiku-4-5",
            "input_tokens": "7", "output_tokens": "250", "cache_read_tokens": "900",
            "cache_creation_tokens": "93", "cost_usd": "0.0021", "duration_ms": "5000"}),
        (nanos_of(T2), "claude_code.api_error", {
            **std, "event.name": "api_error", "model": "claude-haiku-4-5", "error": "overloaded",
            "status_code": "529", "duration_ms": 300}),
    ]


def check_cc_records(recs: list, ignored: int) -> None:
    assert ignored == 2                      # the prompt and the error event
    a, b = recs
    assert a.call_id == "cc-req-req_011CVabc"
    assert a.ts == T1                        # microseconds; the 789 ns below them dropped
    assert (a.provider, a.model, a.team, a.member) == ("anthropic", "claude-sonnet-4-5",
                                                       "core", "tester@example.com")
    assert (a.input_tokens, a.output_tokens, a.cache_read_tokens, a.cache_write_tokens) == (
        12, 345, 10000, 2000)
    # 12 x $3 + 345 x $15 + 10,000 x $0.30 + 2,000 x $3.75 per million tokens
    assert a.cost_nanos == 36_000 + 5_175_000 + 3_000_000 + 7_500_000
    assert a.cost_nanos == cost_nanos("claude-sonnet-4-5", 12, 345, 10000, 2000)
    assert (a.priced, a.price_source) == (True, "override:^claude-sonnet-4-5$")
    assert (a.duration_s, a.success, a.session_id, a.correlation_id) == (
        2.345, True, "5e1f-sess", "prompt-1")
    assert a.tags == {"source": "claude-code-otel", "reported_cost_usd": "0.012300000",
                      "request_id": "req_011CVabc", "query_source": "repl_main_thread"}
    assert b.ts == T2 and b.correlation_id is None
    assert (b.input_tokens, b.output_tokens, b.cache_read_tokens, b.cache_write_tokens) == (
        7, 250, 900, 93)
    assert b.cost_nanos == cost_nanos("claude-haiku-4-5", 7, 250, 900, 93) == 1_463_250
    assert b.duration_s == 5.0
    assert b.tags == {"source": "claude-code-otel", "reported_cost_usd": "0.002100000"}
    # no request id: a hash of session + sequence, the same on every retry
    assert b.call_id.startswith("cc-otel-") and len(b.call_id) == 48


def test_claude_code_events_in_protobuf_and_json(tracker: Tracker) -> None:
    pb = decode_logs(logs_pb(cc_events()), PB, tracker.build)
    assert (pb.refused, pb.rejected, pb.reasons) == (None, 0, [])
    check_cc_records(pb.records, pb.ignored)
    js = decode_logs(logs_js(cc_events()), JS + "; charset=utf-8", tracker.build)
    assert (js.refused, js.rejected) == (None, 0)
    check_cc_records(js.records, js.ignored)
    assert js.records == pb.records            # one call, one record, whatever the encoding
    again = decode_logs(logs_pb(cc_events()), PB, tracker.build)   # an exporter's retry
    assert [r.call_id for r in again.records] == [r.call_id for r in pb.records]


def test_claude_code_events_are_recognised_by_name_scope_or_service(tracker: Tracker) -> None:
    ev = cc_events()[0]
    bare = (ev[0], "", ev[2])                # no body: only event.name = "api_request"
    assert len(decode_logs(logs_pb([bare]), PB, tracker.build).records) == 1
    other = decode_logs(logs_pb([bare], service="codex", scope="codex"), PB, tracker.build)
    assert (other.records, other.ignored) == ([], 1)   # "api_request" from another tool
    named = (ev[0], "claude_code.api_request", {**ev[2], "event.name": "x"})
    assert len(decode_logs(logs_pb([named], service="x", scope="x"), PB,
                           tracker.build).records) == 1
    # the LogRecord's own event_name field (OTLP 1.5) names it too
    req = ExportLogsServiceRequest.FromString(logs_pb([(ev[0], "", {})], "x", "x"))
    rec = req.resource_logs[0].scope_logs[0].log_records[0]
    rec.event_name = "claude_code.api_request"
    rec.attributes.extend(kv(k, v) for k, v in ev[2].items() if k != "event.name")
    got = decode_logs(req.SerializeToString(), PB, tracker.build)
    assert [r.call_id for r in got.records] == ["cc-req-req_011CVabc"]


def test_claude_code_telemetry_and_transcript_are_one_call(tracker: Tracker) -> None:
    """Both witnesses carry the API request id: one call id, whichever comes first."""
    line = {"type": "assistant", "sessionId": "5e1f-sess", "requestId": "req_011CVabc",
            "timestamp": "2026-11-20T10:00:01.100Z",
            "message": {"id": "msg_01XYZ", "model": "claude-sonnet-4-5", "stop_reason": "end_turn",
                        "usage": {"input_tokens": 12, "output_tokens": 345,
                                  "cache_read_input_tokens": 10000,
                                  "cache_creation_input_tokens": 2000}}}
    from_log = claude_code_record(tracker.build, line, "shop")
    assert from_log.call_id == claude_code_call_id("msg_01XYZ", "req_011CVabc") == \
        "cc-req-req_011CVabc"
    tele = decode_logs(logs_pb(cc_events()[:1]), PB, tracker.build).records[0]
    assert tele.call_id == claude_code_otel_call_id("req_011CVabc") == from_log.call_id
    assert (tele.tags["source"], from_log.tags["source"]) == ("claude-code-otel", "claude-code")
    # the same call, priced the same way from the same tokens, by either path
    assert tele.cost_nanos == from_log.cost_nanos
    assert tele.tags["request_id"] == line["requestId"]
    # where the agent tails the transcripts, the events are not calls
    off = decode_logs(logs_pb(cc_events()), PB, tracker.build, claude_code=False)
    assert (off.records, off.ignored, off.rejected) == ([], 4, 0)
    # an odd request id still gives a valid, deterministic id
    odd = claude_code_otel_call_id("req/with spaces" * 20)
    assert odd == claude_code_otel_call_id("req/with spaces" * 20)
    assert odd.startswith("cc-req-") and "/" not in odd and len(odd) <= 128


# -- GenAI spans --

TRACE = "5b8efff798038103d269b633813fc60c"


def genai_spans() -> list[dict[str, Any]]:
    start = nanos_of(T1)
    return [
        {"trace": TRACE, "span": "eee19b7ec3c1b174", "name": "chat gpt-4o", "start": start,
         "end": start + 1_250_000_000, "attrs": {
             "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
             "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
             "gen_ai.response.id": "chatcmpl-abc123", "gen_ai.usage.input_tokens": 1200,
             "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 200,
             "gen_ai.conversation.id": "conv-9", "gen_ai.agent.name": "Planner",
             "server.address": "api.openai.com"}},
        {"trace": TRACE, "span": "00f067aa0ba902b7", "name": "chat claude-sonnet-4-5",
         "start": start, "end": start + 3_000_000_001, "attrs": {
             "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
             "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.id": "msg_01ABC",
             # the conventions count cache reads and writes in the input: 500 uncached
             "gen_ai.usage.input_tokens": 1800, "gen_ai.usage.output_tokens": 80,
             "gen_ai.usage.cache_read.input_tokens": 1000,
             "gen_ai.usage.cache_creation.input_tokens": 300}},
        {"trace": TRACE, "span": "1111111111111111", "name": "chat", "start": start,
         "end": start + 500_000_000, "attrs": {     # older attributes, no response id
             "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-2024-08-06",
             "gen_ai.usage.prompt_tokens": 40, "gen_ai.usage.completion_tokens": 2}},
        {"trace": TRACE, "span": "2222222222222222", "name": "chat gpt-4o", "start": start,
         "end": start + 10_000_000, "error": "429 RateLimitError: slow down", "attrs": {
             "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
             "gen_ai.request.model": "gpt-4o-2024-08-06", "error.type": "RateLimitError"}},
        # not model calls
        {"trace": TRACE, "span": "3333333333333333", "name": "invoke_agent Planner",
         "start": start, "end": start + 9, "attrs": {
             "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
             "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1240,
             "gen_ai.usage.output_tokens": 302}},
        {"trace": TRACE, "span": "4444444444444444", "name": "execute_tool search",
         "start": start, "end": start + 9, "attrs": {"gen_ai.operation.name": "execute_tool",
                                                     "gen_ai.provider.name": "openai"}},
        {"trace": TRACE, "span": "5555555555555555", "name": "GET /orders", "start": start,
         "end": start + 9, "attrs": {"http.request.method": "GET"}},
        {"trace": TRACE, "span": "6666666666666666", "name": "claude_code.llm_request",
         "start": start, "end": start + 9, "attrs": {
             "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
             "gen_ai.response.id": "req_011CVabc", "input_tokens": 12}},
    ]


def check_span_records(recs: list, ignored: int, tracker: Tracker) -> None:
    assert ignored == 4
    chat, claude, old, failed = recs
    # the ids the SDK hooks give these responses (run through the hooks' own code)
    call = Call("openai", "gpt-4o", tracker)
    openai_hook._chat_result(call, {"id": "chatcmpl-abc123", "model": "gpt-4o-2024-08-06",
                                    "usage": {"prompt_tokens": 1200, "completion_tokens": 300,
                                              "prompt_tokens_details": {"cached_tokens": 200}}})
    assert chat.call_id == call.call_id == "openai:chatcmpl-abc123"
    assert (chat.input_tokens, chat.cache_read_tokens, chat.output_tokens) == (
        call.usage.input_tokens, call.usage.cache_read_tokens, call.usage.output_tokens)
    assert (chat.provider, chat.model) == ("openai", "gpt-4o-2024-08-06")
    assert (chat.input_tokens, chat.output_tokens, chat.cache_read_tokens,
            chat.cache_write_tokens) == (1000, 300, 200, 0)
    # 1000 x $2.50 + 300 x $10 + 200 x $1.25 per million
    assert chat.cost_nanos == 2_500_000 + 3_000_000 + 250_000 == cost_nanos(
        "gpt-4o-2024-08-06", 1000, 300, 200)
    assert chat.ts == T1 + timedelta(seconds=1.25) and chat.duration_s == 1.25
    assert (chat.session_id, chat.agent, chat.success, chat.error) == (
        "conv-9", "Planner", True, None)
    assert chat.tags == {"source": "otel", "operation": "chat", "service": "shop-api"}

    acall = Call("anthropic", "claude-sonnet-4-5", tracker)
    anthropic_hook._result(acall, {"id": "msg_01ABC", "model": "claude-sonnet-4-5",
                                   "usage": {"input_tokens": 500, "output_tokens": 80,
                                             "cache_read_input_tokens": 1000,
                                             "cache_creation_input_tokens": 300}})
    assert claude.call_id == acall.call_id == "anthropic:msg_01ABC"
    assert (claude.input_tokens, claude.output_tokens, claude.cache_read_tokens,
            claude.cache_write_tokens) == (500, 80, 1000, 300) == (
        acall.usage.input_tokens, acall.usage.output_tokens, acall.usage.cache_read_tokens,
        acall.usage.cache_write_tokens)
    assert claude.cost_nanos == cost_nanos("claude-sonnet-4-5", 500, 80, 1000, 300)
    assert claude.ts == T1 + timedelta(seconds=3) and claude.duration_s == 3.000000001

    assert old.call_id == f"otel-{TRACE}-1111111111111111"
    assert (old.provider, old.input_tokens, old.output_tokens) == ("openai", 40, 2)
    assert old.cost_nanos == cost_nanos("gpt-4o-2024-08-06", 40, 2) and "operation" not in old.tags

    assert failed.call_id == f"otel-{TRACE}-2222222222222222"
    assert (failed.success, failed.error, failed.input_tokens, failed.output_tokens,
            failed.cost_nanos) == (False, "429 RateLimitError: slow down", 0, 0, 0)


def test_genai_spans_in_protobuf_and_json(tracker: Tracker) -> None:
    pb = decode_traces(spans_pb(genai_spans()), PB, tracker.build)
    assert (pb.refused, pb.rejected, pb.reasons) == (None, 0, [])
    check_span_records(pb.records, pb.ignored, tracker)
    js = decode_traces(spans_js(genai_spans()), JS, tracker.build)
    assert (js.refused, js.rejected, js.reasons) == (None, 0, [])
    check_span_records(js.records, js.ignored, tracker)
    assert js.records == pb.records


def test_json_ids_may_also_be_base64(tracker: Tracker) -> None:
    doc = json.loads(spans_js(genai_spans()[2:3]))
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = base64.b64encode(bytes.fromhex(TRACE)).decode()
    span["spanId"] = base64.b64encode(bytes.fromhex("1111111111111111")).decode()
    got = decode_traces(json.dumps(doc).encode(), JS, tracker.build)
    assert [r.call_id for r in got.records] == [f"otel-{TRACE}-1111111111111111"]


def test_provider_names_map_to_prices_and_hook_prefixes(tracker: Tracker) -> None:
    span = genai_spans()[0]
    span["attrs"] = {**span["attrs"], "gen_ai.provider.name": "azure.ai.openai"}
    rec = decode_traces(spans_pb([span]), PB, tracker.build).records[0]
    # an Azure OpenAI client is the openai SDK: its hook would say openai:<id>
    assert (rec.provider, rec.call_id) == ("azure", "openai:chatcmpl-abc123")
    span["attrs"] = {**span["attrs"], "gen_ai.provider.name": "gcp.gemini",
                     "gen_ai.response.id": "resp-77"}
    rec = decode_traces(spans_pb([span]), PB, tracker.build).records[0]
    assert (rec.provider, rec.call_id) == ("google", "google:resp-77")


# -- hostile input --

def test_malformed_items_become_reasons_and_the_rest_is_kept(tracker: Tracker) -> None:
    good = cc_events()[0]
    base = {k: v for k, v in good[2].items() if k != "request_id"}
    bad = {
        "negative": {**base, "input_tokens": -5},
        "fraction": {**base, "output_tokens": 1.5},
        "words": {**base, "cache_read_tokens": "lots"},
        "digits": {**base, "input_tokens": "\u0661\u0662"},      # Arabic-Indic 12: not ASCII
        "listy": {**base, "output_tokens": [1, 2]},
        "cost": {**base, "cost_usd": "abc"},
        "nan": {**base, "cost_usd": math.nan},
        "negcost": {**base, "cost_usd": -0.5},
        "huge": {**base, "model": "m" * 1_000_000},
        "nomodel": {k: v for k, v in base.items() if k != "model"},
        "duration": {**base, "duration_ms": "soon"},
        "session": {**base, "session.id": 12},
    }
    events = [good] + [(good[0], good[1], {**attrs, "event.sequence": n})
                       for n, attrs in enumerate(bad.values())]
    events.append((0, "claude_code.api_request", base))         # no time at all
    bare_nan = logs_js(events).replace(b'"NaN"', b"NaN")    # not JSON, but JavaScript's
    for body, ctype in ((logs_pb(events), PB), (logs_js(events), JS), (bare_nan, JS)):
        got = decode_logs(body, ctype, tracker.build)
        assert [r.call_id for r in got.records] == ["cc-req-req_011CVabc"]
        assert got.rejected == len(bad) + 1 == len(got.reasons)
        where = "resourceLogs[0].scopeLogs[0].logRecords"
        why = dict(zip(list(bad) + ["notime"], got.reasons))
        assert all(r.startswith(f"{where}[{i + 1}]: ") for i, r in enumerate(got.reasons))
        assert "input_tokens: -5" in why["negative"]
        assert "output_tokens: 1.5" in why["fraction"]
        assert "cache_read_tokens: 'lots'" in why["words"]
        assert "input_tokens: '\u0661\u0662'" in why["digits"]
        assert "output_tokens: '<array_value>'" in why["listy"]
        assert "cost_usd: 'abc'" in why["cost"] and "cost_usd: nan" in why["nan"]
        assert "cost_usd: -0.5" in why["negcost"]
        assert "invalid model: 'mmmm" in why["huge"] and len(why["huge"]) < 300
        assert "invalid model: None" in why["nomodel"]
        assert "duration_ms: 'soon'" in why["duration"]
        assert "session.id: 12" in why["session"]
        assert "timeUnixNano" in why["notime"]

    spans = genai_spans()[:1]
    no_usage = {**spans[0], "span": "7777777777777777", "attrs": {
        k: v for k, v in spans[0]["attrs"].items() if not k.startswith("gen_ai.usage")}}
    backwards = {**spans[0], "span": "8888888888888888", "start": spans[0]["end"] + 1}
    no_ids = {**spans[0], "trace": "", "span": "", "attrs": {
        k: v for k, v in spans[0]["attrs"].items() if k != "gen_ai.response.id"}}
    short_ids = {**no_ids, "trace": "abcd", "span": "ef"}
    for body, ctype in ((spans_pb(spans + [no_usage, backwards, no_ids, short_ids]), PB),
                        (spans_js(spans + [no_usage, backwards, no_ids, short_ids]), JS)):
        got = decode_traces(body, ctype, tracker.build)
        assert len(got.records) == 1 and got.rejected == 4
        assert "gen_ai.usage.input_tokens: None" in got.reasons[0]
        assert "startTimeUnixNano" in got.reasons[1]
        assert "invalid traceId: ''" in got.reasons[2]
        assert "invalid traceId: '" in got.reasons[3] and "16-byte" in got.reasons[3]


def test_a_build_that_fails_for_its_own_reasons_is_not_the_items_fault(tracker: Tracker) -> None:
    """The ledger cannot be opened: that propagates (the receiver asks for a retry) rather
    than rejecting good calls for good."""
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise LedgerError("cannot open ledger /nope/ledger.db: directory /nope does not exist")

    with pytest.raises(LedgerError):
        decode_logs(logs_pb(cc_events()), PB, broken)
    with pytest.raises(LedgerError):
        decode_traces(spans_pb(genai_spans()), PB, broken)


def test_reasons_are_capped_but_every_rejection_counted(tracker: Tracker) -> None:
    ev = cc_events()[0]
    events = [(ev[0], ev[1], {**ev[2], "input_tokens": -n - 1}) for n in range(MAX_REASONS + 15)]
    got = decode_logs(logs_pb(events), PB, tracker.build)
    assert (got.rejected, len(got.reasons), got.records) == (MAX_REASONS + 15, MAX_REASONS, [])


@pytest.mark.parametrize(("body", "ctype", "why"), [
    (b"{}", "text/plain", "unsupported content type 'text/plain'"),
    (b"{}", None, "unsupported content type None"),
    (b"\x0a\xff\xff\xff\xff\x0f", PB, "not an OTLP protobuf ExportLogsServiceRequest"),
    (b"\xff\xfe{}", JS, "not UTF-8"),
    (b"{", JS, "invalid JSON at line 1 column 2"),
    (b"[]", JS, "not a JSON object"),
    (b"[" * 200_000 + b"]" * 200_000, JS, "nested too deeply"),
    (b'{"resourceLogs": 5}', JS, "not an OTLP/JSON ExportLogsServiceRequest"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "not base64!"}]}]}]}', JS,
     "not an OTLP/JSON ExportLogsServiceRequest"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "-1"}]}]}]}', JS,
     "not an OTLP/JSON ExportLogsServiceRequest"),
])
def test_bodies_that_do_not_decode_are_refused(tracker: Tracker, body: bytes, ctype: str | None,
                                               why: str) -> None:
    got = decode_logs(body, ctype, tracker.build)
    assert got.refused is not None and why in got.refused
    assert (got.records, got.ignored, got.rejected) == ([], 0, 0)


def test_empty_requests_and_unknown_fields_are_fine(tracker: Tracker) -> None:
    for body, ctype in ((b"", PB), (b"{}", JS), (b'{"resourceLogs": [], "future": {"x": 1}}', JS)):
        got = decode_logs(body, ctype, tracker.build)
        assert (got.refused, got.records, got.ignored, got.rejected) == (None, [], 0, 0)


def test_wire_formats() -> None:
    assert wire_format("application/x-protobuf") == "protobuf"
    assert wire_format("Application/JSON; charset=utf-8") == "json"
    assert wire_format("application/protobuf") == "protobuf"
    for other in (None, "", "text/json", "application/jsonl", "multipart/form-data"):
        assert wire_format(other) is None


# -- Gemini CLI utility calls --

def gemini_events(status: Any = "200") -> list[tuple[int, str, dict[str, Any]]]:
    """As Gemini CLI 0.61 sends them: a router call's response and details events, and a
    main reply's response event (its chat file counts that one)."""
    base = {"session.id": "594b-sess", "installation.id": "inst", "interactive": "False"}
    stamp = "2026-11-20T10:00:14.659Z"
    router = {**base, "event.name": "gemini_cli.api_response", "event.timestamp": stamp,
              "model": "gemini-2.5-flash-lite", "duration_ms": "40",
              "input_token_count": "2037", "output_token_count": "33",
              "cached_content_token_count": "512", "thoughts_token_count": "5",
              "tool_token_count": "7", "total_token_count": "2075", "prompt_id": "p1",
              "status_code": status, "role": "utility_router"}
    details = {**base, "event.name": "gen_ai.client.inference.operation.details",
               "event.timestamp": stamp, "gen_ai.response.id": "gresp-1",
               "gen_ai.request.model": "gemini-2.5-flash-lite",
               "gen_ai.response.model": "gemini-2.5-flash-lite",
               "gen_ai.usage.input_tokens": "2037", "gen_ai.usage.output_tokens": "33"}
    main = {**router, "role": "main", "model": "gemini-2.5-pro",
            "event.timestamp": "2026-11-20T10:00:15.209Z"}
    return [(nanos_of(T1, 0), "API response from gemini-2.5-flash-lite.", router),
            (nanos_of(T1, 0), "GenAI operation details", details),
            (nanos_of(T2, 0), "API response from gemini-2.5-pro.", main)]


def test_gemini_cli_utility_calls_are_calls_and_its_main_replies_are_not(
        tracker: Tracker) -> None:
    for status in ("200", 200):              # a string or an int, by version and encoding
        events = gemini_events(status)
        pb = decode_logs(logs_pb(events, "gemini-cli", "gemini-cli"), PB, tracker.build)
        js = decode_logs(logs_js(events, "gemini-cli", "gemini-cli"), JS, tracker.build)
        assert (pb.rejected, pb.ignored, js.rejected) == (0, 2, 0), pb.reasons
        (rec,) = pb.records
        assert js.records == pb.records
        # input 2037 includes the 512 cached; tool-use prompt tokens are input; thoughts
        # are billed as output
        assert (rec.model, rec.provider, rec.input_tokens, rec.cache_read_tokens,
                rec.output_tokens) == ("gemini-2.5-flash-lite", "google", 2037 - 512 + 7, 512,
                                       33 + 5)
        assert rec.tags == {"source": "gemini-cli-otel", "role": "utility_router",
                            "thoughts_tokens": "5", "response_id": "gresp-1"}
        assert rec.ts == datetime(2026, 11, 20, 10, 0, 14, 659000, tzinfo=UTC)
        assert (rec.session_id, rec.correlation_id, rec.success) == ("594b-sess", "p1", True)
        assert rec.call_id.startswith("gemini-otel-")
        # a resent export without the details event: the same call
        alone = decode_logs(logs_pb(events[:1], "gemini-cli", "gemini-cli"), PB, tracker.build)
        assert alone.records[0].call_id == rec.call_id
