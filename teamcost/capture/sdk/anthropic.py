"""Anthropic SDK hooks: messages.create (streaming or not), messages.parse and the
messages.stream() helper, sync and async (and through with_raw_response /
with_streaming_response, which call the same methods).

Anthropic's ``input_tokens`` already exclude cache reads and writes, as the ledger does.
A stream's ``message_start`` carries the input and cache tokens; each ``message_delta``
carries the cumulative output tokens (and, in newer API versions, final input/cache
counts, which win).
"""

from __future__ import annotations

from typing import Any

from teamcost.capture.sdk.common import (
    Call,
    Usage,
    as_int,
    call_id,
    get,
    patch,
    setup,
    wrap_create,
    wrap_stream_helper,
)

PROVIDER = "anthropic"


def _usage(u: Any) -> Usage | None:
    if u is None:
        return None
    return Usage(as_int(get(u, "input_tokens")), as_int(get(u, "output_tokens")),
                 as_int(get(u, "cache_read_input_tokens")),
                 as_int(get(u, "cache_creation_input_tokens")))


def _result(call: Call, msg: Any) -> None:
    call.model = get(msg, "model") or call.model
    call.call_id = call_id(PROVIDER, get(msg, "id"))
    call.usage = _usage(get(msg, "usage"))
    if call.usage is None:
        for block in get(msg, "content") or []:
            call.text.append(get(block, "text") or "")


def _stream(proxy_cls: type) -> Any:
    def wrap(call: Call, stream: Any, sent: dict[str, Any]) -> Any:
        def on_event(ev: Any) -> None:
            kind = get(ev, "type")
            if kind == "message_start":
                msg = get(ev, "message")
                call.model = get(msg, "model") or call.model
                call.call_id = call_id(PROVIDER, get(msg, "id"))
                call.usage = _usage(get(msg, "usage"))
            elif kind == "message_delta":
                u = get(ev, "usage")
                if u is not None:
                    base = call.usage or Usage()
                    call.usage = Usage(
                        as_int(get(u, "input_tokens")) or base.input_tokens,
                        as_int(get(u, "output_tokens")) or base.output_tokens,
                        as_int(get(u, "cache_read_input_tokens")) or base.cache_read_tokens,
                        as_int(get(u, "cache_creation_input_tokens")) or base.cache_write_tokens)
            elif kind == "content_block_delta":
                call.text.append(get(ev, "delta", "text") or "")
        return proxy_cls(stream, call, on_event)
    return wrap


def instrument_anthropic(client: Any, tracker: Any = None) -> Any:
    tracker, is_async, proxy = setup(client, tracker)

    def start(kwargs: dict[str, Any]) -> Call:
        return Call(PROVIDER, str(kwargs.get("model") or "unknown"), tracker,
                    prompt={"system": kwargs.get("system"), "messages": kwargs.get("messages")})

    for name in ("create", "parse"):      # parse() posts itself, not through create()
        if hasattr(client.messages, name):
            patch(client.messages, name, lambda orig: wrap_create(
                orig, start, _result, _stream(proxy), is_async=is_async))
    if hasattr(client.messages, "stream"):
        patch(client.messages, "stream",
              lambda orig: wrap_stream_helper(orig, start, _stream(proxy), is_async))
    return client
