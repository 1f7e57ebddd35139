"""Google GenAI SDK hooks (``google-genai``): ``genai.Client`` for the Gemini API and for
Vertex AI (``vertexai=True``), ``models.generate_content`` and
``models.generate_content_stream``, sync (``client.models``) and async
(``client.aio.models``), and the chats, which call them.

Where it hooks. One public call may send several requests: automatic function calling
(a Python function in ``tools``) runs the model's function calls and asks again, and
automatic continuation follows continuation tokens; the stream methods also rewrite the
usage on the chunks they yield to the sum over those requests. Each request is billed,
so each is recorded where it is sent: the SDK's ``_generate_content`` /
``_generate_content_stream`` (one HTTP request each, in every google-genai release from
1.0 to 3.x), patched on the client's own ``models`` objects and reading the response
before the SDK merges anything. The public stream methods are wrapped too, but record
nothing: the SDK sends a stream's request only when the stream is first read, so the
wrapper runs each step of the stream in the context (session, agent, task) of the place
the stream was made, and records at once a stream the caller stops reading early.

Usage (``usage_metadata``), mapped as genai-prices' own Google extractor maps it:
- ``prompt_token_count`` includes cached content (Google: "when cached_content is set,
  this is still the total effective prompt size"); the ledger's input excludes cache
  reads, so input = prompt + tool-use prompt - cached, cache_read = cached. A call has
  no cache-write charge (explicit caches are made and stored through ``caches``).
- ``tool_use_prompt_token_count`` (results of built-in tools, such as search, fed back to
  the model) is input.
- output = ``candidates_token_count`` + ``thoughts_token_count``. Google bills thinking
  at the output rate: the Gemini API pricing page lists "Output price (including
  thinking tokens)" and genai-prices maps ``thoughtsTokenCount`` to output tokens. The
  thoughts stay visible as the tag ``thoughts_tokens``.
- In a stream every chunk carries the running usage of its request; the latest seen
  counts (the last chunk carries the totals), so a stream closed early or failing midway
  is recorded with what was seen.

model: ``model_version`` as reported, else the requested model (without a ``models/`` or
``publishers/google/models/`` path). call_id: ``google:<response_id>``, else a minted id.
An API error (``google.genai.errors.APIError``: ``ClientError`` 4xx, ``ServerError``
5xx) is recorded as a failed call with its text and re-raised unchanged.

Releases: the tests pass against google-genai 1.50, 1.55, 1.75, 2.0 and 3.6 (hence the
``google`` extra's ``>=1.50,<4``). Older 1.x releases still work with less to read:
1.20 does not pass the Gemini API's ``responseId`` on (1.30 does; without it the id is
minted), and before 1.50 the SDK does not raise an error event sent in the middle of a
stream (the stream ends as if it had finished, and is recorded so).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from teamcost.capture.sdk.common import (
    AsyncStreamProxy,
    Call,
    StreamProxy,
    Usage,
    as_int,
    call_id,
    get,
    patch,
    recording,
    tracker_or_default,
)
from teamcost.tracker import CallContext, Tracker, current_context, use_context

log = logging.getLogger("teamcost.capture")

PROVIDER = "google"

# the calls started during one step of a public stream, so the stream's end finishes them
_opened: contextvars.ContextVar[list[Call] | None] = contextvars.ContextVar(
    "teamcost_google_opened", default=None)


def requested_model(model: Any) -> str:
    """``gemini-2.5-flash`` from any of the SDK's spellings of a model name."""
    name = str(model or "") or "unknown"
    if "models/" in name:                 # models/x, publishers/google/models/x, projects/...
        name = name.rsplit("models/", 1)[1] or name
    elif name.startswith("google/"):
        name = name[len("google/"):] or name
    return name


def _count(u: Any, snake: str, camel: str) -> int:
    value = get(u, snake)
    return as_int(value if value is not None else get(u, camel))


def usage(u: Any) -> tuple[Usage, int] | None:
    """(the ledger's usage, thinking tokens) from ``usage_metadata`` (an SDK object) or
    ``usageMetadata`` (the raw JSON)."""
    if u is None:
        return None
    prompt = _count(u, "prompt_token_count", "promptTokenCount")
    cached = _count(u, "cached_content_token_count", "cachedContentTokenCount")
    tools = _count(u, "tool_use_prompt_token_count", "toolUsePromptTokenCount")
    thoughts = _count(u, "thoughts_token_count", "thoughtsTokenCount")
    out = _count(u, "candidates_token_count", "candidatesTokenCount") + thoughts
    return Usage(max(prompt + tools - cached, 0), out, min(cached, prompt + tools), 0), thoughts


class PromptText:
    """The text of a request's ``contents`` (a string, parts, contents, dicts or lists of
    them), made only when an estimate needs it: Gemini reports usage on every answer,
    and an SDK object's repr would count its field names as prompt."""

    def __init__(self, contents: Any) -> None:
        self.contents = contents

    def __str__(self) -> str:
        return "\n".join(_texts(self.contents))


def _texts(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _texts(item)
    elif obj is not None:
        text = get(obj, "text")
        if isinstance(text, str):
            yield text
        parts = get(obj, "parts")
        if isinstance(parts, (list, tuple)):
            yield from _texts(parts)


def _raw_body(resp: Any) -> Any:
    """The JSON body of a response asked for raw (``should_return_http_response``)."""
    body = get(resp, "sdk_http_response", "body")
    if not isinstance(body, str) or not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def read(call: Call, resp: Any) -> None:
    """Take what a response (or one stream chunk) says about the call."""
    raw = _raw_body(resp) if get(resp, "usage_metadata") is None else None
    if raw is not None:
        call.model = str(get(raw, "modelVersion") or call.model)
        call.call_id = call_id(PROVIDER, get(raw, "responseId")) or call.call_id
        seen = usage(get(raw, "usageMetadata"))
    else:
        call.model = str(get(resp, "model_version") or call.model)
        call.call_id = call_id(PROVIDER, get(resp, "response_id")) or call.call_id
        seen = usage(get(resp, "usage_metadata"))
    if seen is not None:                  # chunks without usage keep the last seen
        call.usage, thoughts = seen
        if thoughts:
            call.tags["thoughts_tokens"] = str(thoughts)
        else:
            call.tags.pop("thoughts_tokens", None)
    for cand in get(resp, "candidates") or []:   # for an estimate, if no usage comes
        for part in get(cand, "content", "parts") or []:
            text = get(part, "text")
            if isinstance(text, str) and not get(part, "thought"):
                call.text.append(text)


# -- one request: the recording wrappers --

def _starter(tracker: Tracker) -> Callable[[dict[str, Any]], Call | None]:
    def start(kwargs: dict[str, Any]) -> Call | None:
        try:
            call = Call(PROVIDER, requested_model(kwargs.get("model")), tracker,
                        prompt=PromptText(kwargs.get("contents")))
            opened = _opened.get()
            if opened is not None:
                opened.append(call)
            return call
        except Exception:  # by contract: log, never break the caller
            log.exception("teamcost could not prepare to record a call")
            return None
    return start


def _finish(call: Call | None, resp: Any) -> None:
    if call is None:
        return
    try:
        read(call, resp)
    except Exception:
        log.exception("teamcost could not read a response")
    call.finish()


def _watch(call: Call | None, stream: Any, proxy_cls: type) -> Any:
    if call is None:
        return stream
    try:
        return proxy_cls(stream, call, lambda chunk: read(call, chunk))
    except Exception:
        log.exception("teamcost could not watch a stream")
        return stream


def _request(original: Callable[..., Any], start: Callable[[dict[str, Any]], Call | None],
             is_async: bool) -> Callable[..., Any]:
    """``_generate_content``: one request, one response, one record."""

    def end(call: Call | None, resp: Any, kwargs: dict[str, Any]) -> Any:
        _finish(call, resp)
        return resp

    return recording(original, lambda kwargs: (start(kwargs), kwargs), end, is_async)


def _stream_request(original: Callable[..., Any],
                    start: Callable[[dict[str, Any]], Call | None],
                    is_async: bool) -> Callable[..., Any]:
    """``_generate_content_stream``: one request whose chunks pass through a recording
    proxy (sync: a generator that sends the request when first read; async: awaiting
    sends it and gives an async generator)."""
    proxy = AsyncStreamProxy if is_async else StreamProxy

    def end(call: Call | None, stream: Any, kwargs: dict[str, Any]) -> Any:
        return _watch(call, stream, proxy)

    return recording(original, lambda kwargs: (start(kwargs), kwargs), end, is_async)


# -- the public streams: context and early ends --

@contextlib.contextmanager
def _step(ctx: CallContext, opened: list[Call]) -> Iterator[None]:
    token = _opened.set(opened)
    try:
        with use_context(ctx):
            yield
    finally:
        _opened.reset(token)


def _finish_opened(opened: list[Call]) -> None:
    for call in opened:
        call.finish()        # no-op for calls already recorded; never raises


def _scoped(chunks: Any, ctx: CallContext, opened: list[Call]) -> Iterator[Any]:
    try:
        while True:
            with _step(ctx, opened):
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
            yield chunk
    finally:
        try:
            close = getattr(chunks, "close", None)
            if close is not None:
                with _step(ctx, opened):
                    close()
        finally:
            _finish_opened(opened)


async def _ascoped(chunks: Any, ctx: CallContext, opened: list[Call]) -> AsyncIterator[Any]:
    try:
        while True:
            with _step(ctx, opened):
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    return
            yield chunk
    finally:
        try:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with _step(ctx, opened):
                    await aclose()
        finally:
            _finish_opened(opened)


def _public_stream(original: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """``generate_content_stream``: the SDK's own stream, read step by step in the context
    it was made in; its requests are recorded by the wrappers above."""
    if is_async:
        @functools.wraps(original)
        async def astream(*args: Any, **kwargs: Any) -> Any:
            ctx, opened = current_context(), list[Call]()
            with _step(ctx, opened):
                chunks = await original(*args, **kwargs)
            if not hasattr(chunks, "__anext__"):
                return chunks
            return _ascoped(chunks, ctx, opened)
        astream.__teamcost__ = True  # type: ignore[attr-defined]
        return astream

    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        ctx, opened = current_context(), list[Call]()
        with _step(ctx, opened):
            chunks = original(*args, **kwargs)
        if not hasattr(chunks, "__next__"):
            return chunks
        return _scoped(chunks, ctx, opened)
    stream.__teamcost__ = True  # type: ignore[attr-defined]
    return stream


# the SDK's per-request methods: (one request, one streamed request)
PER_REQUEST = ("_generate_content", "_generate_content_stream")


def _instrument_models(models: Any, tracker: Tracker) -> None:
    is_async = type(models).__name__.startswith("Async")
    start = _starter(tracker)
    one, streamed = PER_REQUEST
    if hasattr(models, one) and hasattr(models, streamed):
        patch(models, one, lambda orig: _request(orig, start, is_async))
        patch(models, streamed, lambda orig: _stream_request(orig, start, is_async))
        patch(models, "generate_content_stream", lambda orig: _public_stream(orig, is_async))
        return
    # an SDK without the per-request methods: record the public calls (under automatic
    # function calling or continuation, only the last request of each is seen)
    log.warning("google-genai %s has no Models._generate_content; teamcost records "
                "generate_content calls, not each request they send", _sdk_version())
    patch(models, "generate_content", lambda orig: _request(orig, start, is_async))
    patch(models, "generate_content_stream",
          lambda orig: _stream_request(orig, start, is_async))


def _sdk_version() -> str:
    try:
        from google.genai import version
        return str(version.__version__)
    except (ImportError, AttributeError):
        return "?"


def instrument_google(client: Any, tracker: Tracker | None = None) -> Any:
    """Record calls made through a ``genai.Client`` (its ``models`` and ``aio.models``)
    or a ``genai.client.AsyncClient`` (``client.aio``); returns the same client."""
    kind = type(client).__name__
    if kind not in ("Client", "AsyncClient"):
        raise TypeError(f"teamcost.instrument() supports google.genai.Client and its "
                        f".aio (AsyncClient), not {type(client).__module__}.{kind}")
    tracker = tracker_or_default(tracker)
    _instrument_models(client.models, tracker)
    if kind == "Client":
        _instrument_models(client.aio.models, tracker)
    return client
