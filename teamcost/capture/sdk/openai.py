"""OpenAI SDK hooks: chat.completions.create/parse and responses.create/parse, sync and
async; the stream() helpers and with_raw_response / with_streaming_response go through
these.

Usage mapping: chat ``prompt_tokens`` include cached tokens
(``prompt_tokens_details.cached_tokens``); the ledger's input excludes them, so input =
prompt - cached and cache_read = cached. The Responses API says the same with
``input_tokens`` / ``input_tokens_details.cached_tokens``. OpenAI reports no cache writes.

Chat streams report usage only when asked (``stream_options.include_usage``): the hook
asks, and hides that extra usage-only chunk from a caller who did not ask for it, so the
caller sees exactly the chunks an unwrapped client would give.
"""

from __future__ import annotations

from typing import Any

from teamcost.capture.sdk.common import Call, Usage, as_int, call_id, get, patch, setup, wrap_create

PROVIDER = "openai"


def _usage_chat(u: Any) -> Usage | None:
    if u is None:
        return None
    prompt, cached = as_int(get(u, "prompt_tokens")), as_int(get(u, "prompt_tokens_details",
                                                                 "cached_tokens"))
    return Usage(max(prompt - cached, 0), as_int(get(u, "completion_tokens")), cached, 0)


def _usage_responses(u: Any) -> Usage | None:
    if u is None:
        return None
    inp, cached = as_int(get(u, "input_tokens")), as_int(get(u, "input_tokens_details",
                                                             "cached_tokens"))
    return Usage(max(inp - cached, 0), as_int(get(u, "output_tokens")), cached, 0)


def _start(tracker: Any, prompt_key: str) -> Any:
    def start(kwargs: dict[str, Any]) -> Call:
        return Call(PROVIDER, str(kwargs.get("model") or "unknown"), tracker,
                    prompt=kwargs.get(prompt_key))
    return start


# -- chat.completions --

def _chat_prepare(kwargs: dict[str, Any]) -> dict[str, Any]:
    if not kwargs.get("stream"):
        return kwargs
    opts = kwargs.get("stream_options")
    if isinstance(opts, dict) and opts.get("include_usage"):
        return kwargs
    return {**kwargs, "stream_options": {**(opts if isinstance(opts, dict) else {}),
                                         "include_usage": True}}


def _chat_result(call: Call, resp: Any) -> None:
    call.model = get(resp, "model") or call.model
    call.call_id = call_id(PROVIDER, get(resp, "id"))
    call.usage = _usage_chat(get(resp, "usage"))
    if call.usage is None:
        for choice in get(resp, "choices") or []:
            call.text.append(get(choice, "message", "content") or "")


def _chat_stream(proxy_cls: type) -> Any:
    def wrap(call: Call, stream: Any, sent: dict[str, Any]) -> Any:
        def on_chunk(chunk: Any) -> None:
            call.model = get(chunk, "model") or call.model
            call.call_id = call.call_id or call_id(PROVIDER, get(chunk, "id"))
            if get(chunk, "usage") is not None:
                call.usage = _usage_chat(get(chunk, "usage"))
            for choice in get(chunk, "choices") or []:
                call.text.append(get(choice, "delta", "content") or "")
        hide = (lambda c: False) if call.show_usage_chunk else (
            lambda c: not (get(c, "choices") or []) and get(c, "usage") is not None)
        return proxy_cls(stream, call, on_chunk, hide)
    return wrap


# -- responses --

def _responses_result(call: Call, resp: Any) -> None:
    call.model = get(resp, "model") or call.model
    call.call_id = call_id(PROVIDER, get(resp, "id"))
    call.usage = _usage_responses(get(resp, "usage"))
    if call.usage is None:
        call.text.append(get(resp, "output_text") or "")


def _responses_stream(proxy_cls: type) -> Any:
    def wrap(call: Call, stream: Any, sent: dict[str, Any]) -> Any:
        def on_event(ev: Any) -> None:
            kind = get(ev, "type")
            if kind == "response.output_text.delta":
                call.text.append(get(ev, "delta") or "")
            elif kind in ("response.completed", "response.incomplete", "response.failed"):
                resp = get(ev, "response")
                call.model = get(resp, "model") or call.model
                call.call_id = call_id(PROVIDER, get(resp, "id"))
                call.usage = _usage_responses(get(resp, "usage"))
                if kind == "response.failed":
                    call.error = str(get(resp, "error", "message") or "response failed")
        return proxy_cls(stream, call, on_event)
    return wrap


def instrument_openai(client: Any, tracker: Any = None) -> Any:
    tracker, is_async, proxy = setup(client, tracker)

    def chat_start(kwargs: dict[str, Any]) -> Call:
        call = _start(tracker, "messages")(kwargs)
        opts = kwargs.get("stream_options")
        # remember whether the caller asked for the usage chunk (then it is theirs to see)
        call.show_usage_chunk = bool(isinstance(opts, dict) and opts.get("include_usage"))
        return call

    # parse() posts itself (not through create); the stream() helpers call create()
    for name in ("create", "parse"):
        if hasattr(client.chat.completions, name):
            patch(client.chat.completions, name,
                  lambda orig: wrap_create(orig, chat_start, _chat_result, _chat_stream(proxy),
                                           _chat_prepare, is_async))
    responses = getattr(client, "responses", None)
    for name in ("create", "parse"):
        if responses is not None and hasattr(responses, name):
            patch(responses, name,
                  lambda orig: wrap_create(orig, _start(tracker, "input"), _responses_result,
                                           _responses_stream(proxy), is_async=is_async))
    return client
