"""OpenTelemetry -> call records: one OTLP/HTTP export request (``/v1/logs`` or
``/v1/traces``, binary protobuf or OTLP/JSON) in, validated ``CallRecord``s out.

Pure mapping, no I/O: ``otlp_http.OtlpReceiver`` does the HTTP, the agent records. Bodies
are parsed into ``opentelemetry-proto``'s generated messages; OTLP/JSON goes through
``json_format.ParseDict`` after its two deviations from the protobuf JSON mapping are
undone: ``traceId`` / ``spanId`` / ``parentSpanId`` are hex, not base64 (base64 is taken
too, as some exporters send it), and 64-bit integers may be strings or numbers (the
parser takes both). Unknown fields are ignored, as OTLP requires.

Two sources become calls; everything else in a request is counted as ``ignored``:

1. **Claude Code telemetry events**: log records whose body (or ``event_name``) is
   ``claude_code.api_request``, or whose ``event.name`` attribute is ``api_request`` from
   Claude Code's logger (scope ``com.anthropic.claude_code.events`` or resource
   ``service.name = claude-code``). Attributes as Claude Code sends them: ``model``,
   ``input_tokens``, ``output_tokens``, ``cache_read_tokens``, ``cache_creation_tokens``
   (Anthropic's counts: input already excludes cache tokens, as the ledger does),
   ``cost_usd``, ``duration_ms``, ``request_id`` (the API's ``request-id`` header, when
   it sent one), ``session.id``, ``prompt.id`` (-> ``correlation_id``, shared by the
   calls of one prompt), ``query_source`` (a tag). Numbers arrive as ints, doubles or, from
   Claude Code 2.0, decimal strings; all three are read. ``ts`` is the record's time
   (Claude Code stamps it when the response is complete). ``user.email`` and
   ``user.account_uuid`` are not used: the member is the configured teamcost member (the
   one ``firestore.rules`` lets this machine write as), and email addresses stay out of
   the team's documents. ``api_error`` events are ignored (the transcript importer has no
   failed calls either, so both sources count the same calls).

   *Cost*: priced from tokens by teamcost's pricer, like every other source, so one model
   costs the same whichever way its calls arrive; Claude Code's own estimate is kept in
   the tag ``reported_cost_usd`` (exact decimal dollars).

   *One call with the transcript* (capture/witness.py): the event's ``request_id`` is the
   transcript line's ``requestId``; both give the call id ``cc-req-<request id>``
   (``witness.request_call_id``), so whichever arrives first is recorded and the other
   is compared with it, never summed. The event's tags say it supplied the numbers
   (``source: claude-code-otel``) and keep ``request_id``. An event without a request id
   gets ``cc-otel-`` and a hash of ``session.id`` + ``event.sequence`` (or of the record).
   Cache writes arrive split (``cache_creation_5m_tokens`` / ``cache_creation_1h_tokens``):
   the one-hour part is priced as such. ``decode_logs(..., claude_code=False)`` still
   counts the events as ignored, for callers that want the transcript alone.

   Claude Code's own trace spans (``claude_code.*``, beta) are ignored: its
   ``claude_code.llm_request`` span describes the same request as the event and carries no
   ``gen_ai.usage.*``.

2. **Gemini CLI telemetry events** (its ``telemetry.enabled`` setting, OTLP to the agent):
   ``gemini_cli.api_response`` log records whose ``role`` is one of its utility roles
   (``utility_router``, ``utility_next_speaker``, ``utility_compressor``...: the calls it
   makes outside the chat, which never reach the chat files the importer reads). Replies
   with role ``main`` or ``subagent`` are in those chat files and are ignored here, so each
   is counted once; an event without a role (older versions) is ignored too. Tokens as in
   the chat files: ``input_token_count`` includes ``cached_content_token_count``;
   ``thoughts_token_count`` is billed as output; ``tool_token_count`` as input. The event
   carries no per-request id (``prompt_id`` is shared by a prompt's calls); the call id is
   ``gemini-otel-`` and a digest of ``session.id``, ``event.timestamp``, model, role,
   ``prompt_id`` and the counts (a resent export gives the same id). The response id,
   which only the companion ``gen_ai.client.inference.operation.details`` event carries, is
   kept in the tag ``response_id`` when that event is in the same export.

3. **OpenTelemetry GenAI spans**: spans with ``gen_ai.provider.name`` (or the older
   ``gen_ai.system``) or a ``gen_ai.request.model``, whose ``gen_ai.operation.name`` is a
   model call (``chat``, ``text_completion``, ``generate_content``, ``embeddings``) or
   absent; agent, tool and retrieval spans are ignored (an agent span may sum its
   children's tokens). Model: ``gen_ai.response.model``, else ``gen_ai.request.model``.
   Tokens: ``gen_ai.usage.input_tokens`` includes cache reads and writes by the
   conventions, so input = input - ``gen_ai.usage.cache_read.input_tokens`` -
   ``gen_ai.usage.cache_creation.input_tokens``; an input smaller than its cache tokens
   can only come from an instrumentation that already left them out, and is taken as it
   is. A span with status ERROR is a failed call; duration = end - start; ts = end time.
   ``gen_ai.conversation.id`` -> ``session_id``, ``gen_ai.agent.name`` -> ``agent``.

   *Dedupe with ``teamcost.instrument()``*: a span with ``gen_ai.response.id`` gets the
   call id the SDK hook gives that response (``openai:chatcmpl-...``,
   ``anthropic:msg_...``; other providers ``<provider>:<id>``), so a call both hooked and
   traced is one call id. Without a response id: ``otel-<trace id>-<span id>`` (hex).

The same call arriving twice gives the same record id, but not always the same content
(a span's duration is not the hook's), so whoever records these counts a call id already
in the ledger as already present, not as a conflict.

Hostile input never raises: a body that cannot be decoded is ``Decoded.refused``; an item
that looks like a call but cannot be one (negative tokens, a cost that is not a number, a
model name too long, no timestamp) is counted in ``rejected`` with a reason naming where
and why. Only a failure of ``build`` itself that is not about the item (its ledger cannot
be opened) propagates: the request is then worth retrying, not refusing.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from teamcost.capture.sdk.anthropic import PROVIDER as ANTHROPIC_HOOK
from teamcost.capture.sdk.common import call_id as hook_call_id
from teamcost.capture.sdk.openai import PROVIDER as OPENAI_HOOK
from teamcost.capture.witness import SOURCE_TELEMETRY, request_call_id
from teamcost.errors import InvalidValue
from teamcost.models import MAX_ERROR_LEN, CallRecord
from teamcost.money import exact_usd, usd_to_nanos

Build = Callable[..., CallRecord]        # Tracker.build
WireFormat = Literal["protobuf", "json"]

MAX_REASONS = 20          # reasons kept per request (all are counted in ``rejected``)
CLAUDE_CODE_EVENT = "claude_code.api_request"
CLAUDE_CODE_SCOPE = "com.anthropic.claude_code"
CLAUDE_CODE_SERVICE = "claude-code"
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

# the GenAI conventions' provider names -> the names teamcost prices by (genai-prices ids)
PROVIDERS = {"aws.bedrock": "aws", "azure.ai.inference": "azure", "azure.ai.openai": "azure",
             "gcp.gemini": "google", "gcp.gen_ai": "google", "gcp.vertex_ai": "google",
             "mistral_ai": "mistral", "x_ai": "x-ai"}
# provider name -> the prefix teamcost's SDK hook puts on that provider's response ids
# (an Azure OpenAI client is the openai SDK, hooked as "openai")
HOOK_PREFIXES = {"openai": OPENAI_HOOK, "azure.ai.openai": OPENAI_HOOK,
                 "anthropic": ANTHROPIC_HOOK}

_ID_HEX_LEN = {"traceId": 32, "spanId": 16, "parentSpanId": 16,
               "trace_id": 32, "span_id": 16, "parent_span_id": 16}
_HEX = re.compile(r"[0-9a-fA-F]*")
_DIGITS = re.compile(r"\s*[0-9]{1,19}\s*")
_SAFE_ID = re.compile(r"[A-Za-z0-9_.\-]{1,110}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Decoded:
    """What one export request held."""

    records: list[CallRecord] = field(default_factory=list)
    ignored: int = 0          # items that are not LLM calls (other events, non-GenAI spans)
    rejected: int = 0         # items that looked like calls but could not be recorded
    reasons: list[str] = field(default_factory=list)   # the first MAX_REASONS: "where: why"
    refused: str | None = None   # the whole body could not be decoded: why (nothing in it used)

    def reject(self, where: str, why: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"{where}: {why}")


def wire_format(content_type: str | None) -> WireFormat | None:
    """The OTLP encoding a Content-Type names, or None when it names neither."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        return "protobuf"
    if media == "application/json":
        return "json"
    return None


def decode_logs(body: bytes, content_type: str | None, build: Build, *,
                claude_code: bool = True) -> Decoded:
    """The calls in an ``ExportLogsServiceRequest``: Claude Code ``api_request`` events.

    ``claude_code=False``: those events are counted as ignored (this machine takes Claude
    Code's calls from its transcripts; see the module docstring)."""
    out = Decoded()
    req = ExportLogsServiceRequest()
    if not _parse(body, content_type, req, out):
        return out
    response_ids = _gemini_response_ids(req)
    for r, rl in enumerate(req.resource_logs):
        service = _str(_attrs(rl.resource.attributes).get("service.name"))
        build_r = with_vcs(build, rl.resource.attributes)
        for s, sl in enumerate(rl.scope_logs):
            from_cc = (service == CLAUDE_CODE_SERVICE
                       or sl.scope.name.startswith(CLAUDE_CODE_SCOPE))
            for i, lr in enumerate(sl.log_records):
                where = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]"
                attrs = _attrs(lr.attributes)
                if _is_gemini_utility_call(attrs):
                    _add(out, where, _gemini_record, lr, attrs, response_ids, build)
                    continue
                if not claude_code or not _is_claude_code_call(lr, attrs, from_cc):
                    out.ignored += 1
                    continue
                _add(out, where, _claude_code_record, lr, attrs, build_r)
    return out


def decode_traces(body: bytes, content_type: str | None, build: Build) -> Decoded:
    """The calls in an ``ExportTraceServiceRequest``: GenAI model-call spans."""
    out = Decoded()
    req = ExportTraceServiceRequest()
    if not _parse(body, content_type, req, out):
        return out
    for r, rs in enumerate(req.resource_spans):
        service = _str(_attrs(rs.resource.attributes).get("service.name"))
        build_r = with_vcs(build, rs.resource.attributes)
        for s, ss in enumerate(rs.scope_spans):
            for i, span in enumerate(ss.spans):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                attrs = _attrs(span.attributes)
                if not _is_model_call(span, attrs):
                    out.ignored += 1
                    continue
                _add(out, where, _span_record, span, attrs, service, build_r)
    return out


# OpenTelemetry VCS semantic conventions (and their earlier names) on a resource
VCS_ATTRIBUTES = {"repo_url": ("vcs.repository.url.full",),
                  "branch": ("vcs.ref.head.name", "vcs.repository.ref.name"),
                  "pr": ("vcs.change.id", "vcs.repository.change.id"),
                  "title": ("vcs.change.title", "vcs.repository.change.title")}


def with_vcs(build: Build, resource: Iterable[KeyValue]) -> Build:
    """``build`` with the resource's VCS attributes (repo, branch, pull request) as the
    calls' attribution (teamcost.attribution.for_log); ``build`` when it has none."""
    attrs = _attrs(resource)
    origin = {k: v for k, names in VCS_ATTRIBUTES.items()
              if (v := next((t for n in names if (t := _str(attrs.get(n)))), None))}
    return functools.partial(build, origin=origin) if origin else build


def claude_code_otel_call_id(request_id: str) -> str:
    """The call id of a Claude Code telemetry event with this API request id: the same as
    its transcript line's (``witness.request_call_id``)."""
    return request_call_id(request_id)


def span_call_id(provider: str | None, response_id: str | None, trace_id: bytes,
                 span_id: bytes) -> str | None:
    """A GenAI span's call id: the SDK hook's form for its response id, else
    ``otel-<trace>-<span>``; None when it has neither. All-zero ids are invalid (OTLP
    spec): every span an exporter sends that way would otherwise merge into one call."""
    if response_id:
        prefix = HOOK_PREFIXES.get(provider or "") or PROVIDERS.get(provider or "") or provider
        cid = hook_call_id(prefix or "unknown", response_id)
        if cid is not None:
            return cid
    if len(trace_id) == 16 and len(span_id) == 8 and any(trace_id) and any(span_id):
        return f"otel-{trace_id.hex()}-{span_id.hex()}"
    return None


# -- decoding --

def _parse(body: bytes, content_type: str | None, msg: Message, out: Decoded) -> bool:
    fmt = wire_format(content_type)
    if fmt is None:
        out.refused = (f"unsupported content type {content_type!r}; expected "
                       "application/x-protobuf or application/json")
        return False
    try:
        if fmt == "protobuf":
            msg.ParseFromString(body)
        else:
            # a bare NaN / Infinity (JavaScript's, not JSON's) as the string proto3 JSON uses
            doc = json.loads(body.decode("utf-8"), parse_constant=str)
            if not isinstance(doc, dict):
                out.refused = "not an OTLP/JSON request (the body is not a JSON object)"
                return False
            _ids_to_base64(doc)
            json_format.ParseDict(doc, msg, ignore_unknown_fields=True)
    except UnicodeDecodeError:
        out.refused = "not OTLP/JSON (the body is not UTF-8 text)"
        return False
    except json.JSONDecodeError as exc:
        out.refused = f"not OTLP/JSON (invalid JSON at line {exc.lineno} column {exc.colno})"
        return False
    except RecursionError:
        out.refused = "not OTLP (nested too deeply)"
        return False
    except DecodeError as exc:
        out.refused = f"not an OTLP protobuf {type(msg).__name__} ({_short(str(exc))})"
        return False
    except (json_format.ParseError, ValueError, TypeError) as exc:
        out.refused = f"not an OTLP/JSON {type(msg).__name__} ({_short(str(exc))})"
        return False
    return True


def _ids_to_base64(doc: Any) -> None:
    """OTLP/JSON's hex trace and span ids -> the base64 the protobuf JSON parser expects.

    A value of another length is left alone: base64 ids (some exporters send them) pass
    through, anything else fails in the parser. Iterative: the depth is the sender's."""
    stack = [doc]
    while stack:
        node = stack.pop()
        items: Iterable[Any]
        if isinstance(node, dict):
            for key, value in node.items():
                if (isinstance(value, str) and len(value) == _ID_HEX_LEN.get(key, -1)
                        and _HEX.fullmatch(value)):
                    node[key] = base64.b64encode(binascii.unhexlify(value)).decode()
            items = node.values()
        else:
            items = node
        stack.extend(v for v in items if isinstance(v, (dict, list)))


def _add(out: Decoded, where: str, make: Callable[..., CallRecord], *args: Any) -> None:
    """Map one item; a bad value (InvalidValue is a ValueError) rejects it. Other errors
    (the ledger ``build`` opens cannot be opened) are not the item's fault: they propagate,
    so the receiver answers "retry later" instead of dropping the item."""
    try:
        out.records.append(make(*args))
    except (ValueError, TypeError, ArithmeticError) as exc:
        out.reject(where, _short(str(exc) or type(exc).__name__))


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


# -- attributes --

def _attrs(kvs: Iterable[KeyValue]) -> dict[str, AnyValue]:
    return {kv.key: kv.value for kv in kvs}


def _value(v: AnyValue | None) -> Any:
    """A scalar attribute's value; None when absent; the AnyValue itself for lists,
    maps and bytes (which no attribute read here may be)."""
    if v is None:
        return None
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("string_value", "int_value", "double_value", "bool_value"):
        return getattr(v, kind)
    return v


def _str(v: AnyValue | None) -> str | None:
    got = _value(v)
    return got if isinstance(got, str) and got else None


def _text(attrs: Mapping[str, AnyValue], key: str) -> str | None:
    """A string attribute (None when absent or empty); another type is an error."""
    got = _value(attrs.get(key))
    if got is None or got == "":
        return None
    if not isinstance(got, str):
        raise InvalidValue(key, _shown(got), "a string")
    return got


def _shown(got: Any) -> Any:
    return f"<{got.WhichOneof('value')}>" if isinstance(got, AnyValue) else got


def _count(attrs: Mapping[str, AnyValue], *keys: str) -> int | None:
    """A token count from the first of ``keys`` present: an int, a whole double or a
    string of digits (Claude Code 2.0 sends strings). None when none is present."""
    for key in keys:
        got = _value(attrs.get(key))
        if got is None:
            continue
        accepted = "a non-negative whole number"
        if isinstance(got, bool) or not isinstance(got, (int, float, str)):
            raise InvalidValue(key, _shown(got), accepted)
        if isinstance(got, str):
            if not _DIGITS.fullmatch(got):
                raise InvalidValue(key, got, accepted)
            return int(got)
        if isinstance(got, float) and not got.is_integer():
            raise InvalidValue(key, got, accepted)
        if got < 0:
            raise InvalidValue(key, got, accepted)
        return int(got)
    return None


def _amount(attrs: Mapping[str, AnyValue], key: str, accepted: str) -> Decimal | None:
    """A non-negative finite number (int, double or decimal string); None when absent."""
    got = _value(attrs.get(key))
    if got is None:
        return None
    if isinstance(got, bool) or not isinstance(got, (int, float, str)):
        raise InvalidValue(key, _shown(got), accepted)
    try:
        dec = Decimal(repr(got)) if isinstance(got, float) else Decimal(str(got).strip())
    except ArithmeticError:
        raise InvalidValue(key, got, accepted) from None
    if not dec.is_finite() or dec < 0 or dec > Decimal(10) ** 12:
        raise InvalidValue(key, got, accepted)
    return dec


def _when(nanos: int) -> datetime:
    return _EPOCH + timedelta(microseconds=nanos // 1000)


# -- Claude Code --

def _is_claude_code_call(lr: LogRecord, attrs: Mapping[str, AnyValue], from_cc: bool) -> bool:
    name = _str(attrs.get("event.name"))
    return (getattr(lr, "event_name", "") == CLAUDE_CODE_EVENT    # a field since OTLP 1.5
            or _str(lr.body) == CLAUDE_CODE_EVENT
            or name == CLAUDE_CODE_EVENT or (from_cc and name == "api_request"))


def _claude_code_record(lr: LogRecord, attrs: Mapping[str, AnyValue], build: Build
                        ) -> CallRecord:
    model = _text(attrs, "model")
    if model is None:
        raise InvalidValue("model", None, "the model name Claude Code reports")
    stamp = lr.time_unix_nano or lr.observed_time_unix_nano
    if not stamp:
        raise InvalidValue("timeUnixNano", 0, "the time of the event")
    cost = _value(attrs.get("cost_usd"))
    tags = {"source": SOURCE_TELEMETRY}
    if cost is not None:
        if isinstance(cost, AnyValue):
            raise InvalidValue("cost_usd", _shown(cost), "a dollar amount")
        # a machine's number, exponent form included ("1.2e-7" from JavaScript): read as
        # a decimal here, then converted through the one money reader
        exact = _amount(attrs, "cost_usd", "a non-negative dollar amount")
        tags["reported_cost_usd"] = exact_usd(usd_to_nanos(exact, "cost_usd"))
    duration = _amount(attrs, "duration_ms", "a non-negative number of milliseconds")
    request_id = _text(attrs, "request_id")
    if request_id is not None:
        tags["request_id"] = request_id[:256]
        cid = request_call_id(request_id)
    else:
        cid = "cc-otel-" + _record_key(lr, attrs)
    source = _text(attrs, "query_source")
    if source is not None:
        tags["query_source"] = source[:256]
    agent_name = _text(attrs, "agent.name") or _text(attrs, "agent_id")
    if agent_name is not None:
        tags["agent"] = agent_name[:256]
    write = _count(attrs, "cache_creation_tokens")
    w5m, w1h = _count(attrs, "cache_creation_5m_tokens"), _count(attrs, "cache_creation_1h_tokens")
    write = max(write or 0, (w5m or 0) + (w1h or 0))
    return build(
        model, _count(attrs, "input_tokens") or 0, _count(attrs, "output_tokens") or 0,
        provider="anthropic", cache_read_tokens=_count(attrs, "cache_read_tokens") or 0,
        cache_write_tokens=write, cache_write_1h_tokens=w1h or 0,
        duration_s=None if duration is None else float(duration / 1000),
        call_id=cid, ts=_when(stamp),
        session_id=_text(attrs, "session.id"), correlation_id=_text(attrs, "prompt.id"),
        tags=tags)


def _record_key(lr: LogRecord, attrs: Mapping[str, AnyValue]) -> str:
    """A deterministic key for an event without a request id (a retried export repeats
    it): its session and sequence number, else the record's own bytes."""
    session, seq = _value(attrs.get("session.id")), _value(attrs.get("event.sequence"))
    if isinstance(session, str) and isinstance(seq, (int, str)) and not isinstance(seq, bool):
        raw = f"{session}\x00{seq}".encode()
    else:
        raw = lr.SerializeToString(deterministic=True)
    return hashlib.sha256(raw).hexdigest()[:40]


# -- Gemini CLI --

GEMINI_RESPONSE = "gemini_cli.api_response"
GEMINI_DETAILS = "gen_ai.client.inference.operation.details"


def _is_gemini_utility_call(attrs: Mapping[str, AnyValue]) -> bool:
    role = _str(attrs.get("role"))
    return (_str(attrs.get("event.name")) == GEMINI_RESPONSE and role is not None
            and role.startswith("utility_"))


def _gemini_response_ids(req: ExportLogsServiceRequest) -> dict[tuple[str, str, str], str]:
    """(session.id, event.timestamp, model) -> response id, from the details events."""
    out: dict[tuple[str, str, str], str] = {}
    for rl in req.resource_logs:
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                a = _attrs(lr.attributes)
                if _str(a.get("event.name")) != GEMINI_DETAILS:
                    continue
                rid = _str(a.get("gen_ai.response.id"))
                model = _str(a.get("gen_ai.response.model")) or _str(a.get("gen_ai.request.model"))
                session, stamp = _str(a.get("session.id")), _str(a.get("event.timestamp"))
                if rid and model and session and stamp:
                    out[(session, stamp, model)] = rid
    return out


def _gemini_record(lr: LogRecord, attrs: Mapping[str, AnyValue],
                   response_ids: Mapping[tuple[str, str, str], str], build: Build
                   ) -> CallRecord:
    model = _text(attrs, "model")
    if model is None:
        raise InvalidValue("model", None, "the model name Gemini CLI reports")
    stamp_text = _text(attrs, "event.timestamp")
    when = _when(lr.time_unix_nano or lr.observed_time_unix_nano) if (
        lr.time_unix_nano or lr.observed_time_unix_nano) else None
    if stamp_text is not None:
        try:
            when = datetime.fromisoformat(stamp_text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue("event.timestamp", stamp_text, "an ISO-8601 time") from None
    if when is None:
        raise InvalidValue("timeUnixNano", 0, "the time of the event")
    prompt = _count(attrs, "input_token_count") or 0
    cached = _count(attrs, "cached_content_token_count") or 0
    thoughts = _count(attrs, "thoughts_token_count") or 0
    tool = _count(attrs, "tool_token_count") or 0
    output = _count(attrs, "output_token_count") or 0
    if cached > prompt:
        raise InvalidValue("cached_content_token_count", cached,
                           f"at most input_token_count ({prompt})")
    role = _text(attrs, "role") or ""
    session = _text(attrs, "session.id")
    key = "\x00".join(str(x) for x in (session, stamp_text, model, role,
                                       _text(attrs, "prompt_id"), prompt, cached, output,
                                       thoughts, tool))
    tags = {"source": "gemini-cli-otel", "role": role[:256]}
    if thoughts:
        tags["thoughts_tokens"] = str(thoughts)
    rid = response_ids.get((session or "", stamp_text or "", model))
    if rid:
        tags["response_id"] = rid[:256]
    duration = _amount(attrs, "duration_ms", "a non-negative number of milliseconds")
    raw_status = _value(attrs.get("status_code"))     # a string or an int, by version
    status = None if raw_status is None or isinstance(raw_status, AnyValue) else str(raw_status)
    failed = status is not None and status != "200"
    return build(
        model, prompt - cached + tool, output + thoughts, provider="google",
        cache_read_tokens=cached, duration_s=None if duration is None else float(duration / 1000),
        success=not failed, error=f"status {status}" if failed else None,
        call_id="gemini-otel-" + hashlib.sha256(key.encode()).hexdigest()[:40], ts=when,
        session_id=session, correlation_id=_text(attrs, "prompt_id"), tags=tags)


# -- GenAI spans --

def _is_model_call(span: Span, attrs: Mapping[str, AnyValue]) -> bool:
    if span.name.startswith("claude_code."):
        return False
    if not any(k in attrs for k in ("gen_ai.provider.name", "gen_ai.system",
                                     "gen_ai.request.model")):
        return False
    op = _value(attrs.get("gen_ai.operation.name"))
    return op is None or (isinstance(op, str) and op in MODEL_OPERATIONS)


def _span_record(span: Span, attrs: Mapping[str, AnyValue], service: str | None,
                 build: Build) -> CallRecord:
    raw_provider = _text(attrs, "gen_ai.provider.name") or _text(attrs, "gen_ai.system")
    model = _text(attrs, "gen_ai.response.model") or _text(attrs, "gen_ai.request.model")
    if model is None:
        raise InvalidValue("gen_ai.request.model", None, "the model the span called")
    if not span.end_time_unix_nano:
        raise InvalidValue("endTimeUnixNano", 0, "the time the call ended")
    duration: float | None = None
    if span.start_time_unix_nano:
        if span.start_time_unix_nano > span.end_time_unix_nano:
            raise InvalidValue("startTimeUnixNano", span.start_time_unix_nano,
                               "a start no later than the end")
        duration = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
    failed = span.status.code == Status.STATUS_CODE_ERROR
    inp = _count(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    out = _count(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    if inp is None and out is None and not failed:
        raise InvalidValue("gen_ai.usage.input_tokens", None,
                           "token counts (gen_ai.usage.input_tokens / output_tokens)")
    cache_read = _count(attrs, "gen_ai.usage.cache_read.input_tokens") or 0
    cache_write = _count(attrs, "gen_ai.usage.cache_creation.input_tokens") or 0
    inp = inp or 0
    if inp >= cache_read + cache_write:   # the conventions count cache tokens in the input
        inp -= cache_read + cache_write
    cid = span_call_id(raw_provider, _text(attrs, "gen_ai.response.id"), span.trace_id,
                       span.span_id)
    if cid is None:
        raise InvalidValue("traceId", span.trace_id.hex(), "a gen_ai.response.id, or a "
                           "16-byte trace id and an 8-byte span id, not all zeros")
    error = None
    if failed:
        error = (span.status.message or _str(attrs.get("error.type")) or "error")[:MAX_ERROR_LEN]
    tags = {"source": "otel"}
    op = _text(attrs, "gen_ai.operation.name")
    if op is not None:
        tags["operation"] = op
    if service is not None:
        tags["service"] = service[:256]
    return build(
        model, inp, out or 0, provider=PROVIDERS.get(raw_provider or "", raw_provider),
        cache_read_tokens=cache_read, cache_write_tokens=cache_write,
        duration_s=duration, success=not failed, error=error, call_id=cid,
        ts=_when(span.end_time_unix_nano),
        session_id=_text(attrs, "gen_ai.conversation.id"),
        agent=_text(attrs, "gen_ai.agent.name"), tags=tags)
