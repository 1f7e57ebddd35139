"""What every SDK hook shares: the usage of one call, recording it safely, estimating
tokens when a response has none, and stream proxies that record when a stream ends."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from teamcost.models import MAX_TAGS
from teamcost.tracker import CallContext, Tracker, current_context, default_tracker

log = logging.getLogger("teamcost.capture")


@dataclass
class Usage:
    """One call's tokens as the ledger counts them (input excludes cache tokens)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False


@dataclass
class Call:
    """A call in flight: what is known at the start, filled in as the answer arrives."""

    provider: str
    model: str
    tracker: Tracker
    context: CallContext = field(default_factory=current_context)  # at the call, not the end
    started: float = field(default_factory=time.perf_counter)
    call_id: str | None = None
    usage: Usage | None = None
    error: str | None = None
    prompt: Any = None            # for estimates when the provider reports no usage
    text: list[str] = field(default_factory=list)
    show_usage_chunk: bool = True  # openai: False when only teamcost asked for stream usage
    tags: dict[str, str] = field(default_factory=dict)  # teamcost's own, under the caller's
    done: bool = False

    def finish(self) -> None:
        """Record the call once; never raises (the caller's call must not break)."""
        if self.done:
            return
        self.done = True
        try:
            usage = self.usage
            if usage is None and self.error is None:
                usage = estimate(self.model, self.prompt, "".join(self.text))
            usage = usage or Usage()
            ctx = self.context
            rec = self.tracker.build(
                self.model, usage.input_tokens, usage.output_tokens, provider=self.provider,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                duration_s=round(time.perf_counter() - self.started, 6),
                success=self.error is None, error=self.error, call_id=self.call_id,
                session_id=ctx.session_id, agent=ctx.agent, task_id=ctx.task_id,
                correlation_id=ctx.correlation_id, tags=self._tags(),
                estimated=usage.estimated, attribute=True)
            self.tracker.record_call(rec)
        except Exception:  # noqa: BLE001 - by contract: log, never break the caller
            log.exception("teamcost could not record a %s call to %s", self.provider,
                          self.model)


    def _tags(self) -> dict[str, str]:
        """The context's tags plus the call's own; the caller's win, and the call's are
        left out rather than push the record over the tag limit (which would lose it)."""
        tags = {**self.tags, **self.context.tags}
        return tags if len(tags) <= MAX_TAGS else dict(self.context.tags)


def tracker_or_default(tracker: Tracker | None) -> Tracker:
    return tracker if tracker is not None else default_tracker()


def setup(client: Any, tracker: Tracker | None) -> tuple[Tracker, bool, type]:
    """(the tracker to record with, whether the client is async, its stream proxy)."""
    is_async = type(client).__name__.startswith("Async")
    return (tracker_or_default(tracker), is_async,
            AsyncStreamProxy if is_async else StreamProxy)


def call_id(provider: str, raw: Any) -> str | None:
    """``openai:chatcmpl-...``: the provider's id, prefixed so providers never collide."""
    if not isinstance(raw, str) or not raw:
        return None
    cid = f"{provider}:{raw}"
    return cid if len(cid) <= 128 and not any(c.isspace() or c == "/" for c in cid) else None


def error_text(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    head = f"{status} {type(exc).__name__}" if status else type(exc).__name__
    return f"{head}: {exc}"[:2000]


# -- estimates --

_encoders: dict[str, Any] = {}      # model -> tiktoken encoding, or None: use chars / 4
_encoders_lock = threading.Lock()


def _encoder(model: str) -> Any:
    """tiktoken's encoding for an OpenAI model once loaded, else None (characters / 4).

    tiktoken downloads an encoding on first use, with no timeout: behind a firewall that
    drops packets that would hang the caller's LLM call for minutes. So the encoding is
    loaded in a background thread, and estimates made before it is ready (or when it
    cannot be had: not installed, unknown model, offline) use characters / 4.
    """
    if model in _encoders:
        return _encoders[model]
    with _encoders_lock:
        if model not in _encoders:
            _encoders[model] = None                     # until (and unless) it loads
            threading.Thread(target=_load_encoder, args=(model,), daemon=True,
                             name=f"teamcost-tiktoken-{model}").start()
    return None


def _load_encoder(model: str) -> None:
    try:
        import tiktoken
        _encoders[model] = tiktoken.encoding_for_model(model)
    except Exception:  # noqa: BLE001 - any failure means "use the fallback"
        log.debug("no tiktoken encoding for %s; estimates use characters / 4", model)


def count_tokens(model: str, text: str) -> int:
    if not text:
        return 0
    enc = _encoder(model) if model.startswith(("gpt", "o1", "o3", "o4", "chatgpt")) else None
    if enc is not None:
        return len(enc.encode(text))
    return math.ceil(len(text) / 4)


def _text_of(prompt: Any) -> str:
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    try:
        return json.dumps(prompt, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(prompt)


def estimate(model: str, prompt: Any, output: str) -> Usage:
    return Usage(count_tokens(model, _text_of(prompt)), count_tokens(model, output),
                 estimated=True)


# -- streams --

class _Proxy:
    """What both stream proxies hold; attribute access reaches the wrapped stream."""

    def __init__(self, stream: Any, call: Call, on_item: Callable[[Any], None],
                 hide: Callable[[Any], bool] = lambda item: False) -> None:
        self._stream = stream
        self._call = call
        self._on_item = on_item
        self._hide = hide

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _see(self, item: Any) -> None:
        try:
            self._on_item(item)
        except Exception:  # noqa: BLE001
            log.exception("teamcost could not read a stream event")

    def _failed(self, exc: BaseException) -> None:
        # a stream that breaks midway failed, even with the usage it had so far (an
        # Anthropic stream has input and cache tokens from its first event); GeneratorExit
        # is only the caller leaving early
        if not isinstance(exc, GeneratorExit):
            self._call.error = error_text(exc)


class StreamProxy(_Proxy):
    """Yields the SDK stream's items unchanged (minus ``hide``-n ones); records at the end.

    Attribute access, ``with`` and ``close()`` reach the wrapped stream.
    """

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self._stream:
                self._see(item)
                if not self._hide(item):
                    yield item
        except BaseException as exc:
            self._failed(exc)
            raise
        finally:
            self._call.finish()

    def __next__(self) -> Any:
        if "_it" not in self.__dict__:  # not hasattr: __getattr__ would ask the stream
            self._it = iter(self)
        return next(self._it)

    def __enter__(self) -> StreamProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._call.finish()


class AsyncStreamProxy(_Proxy):
    """The async twin of StreamProxy."""

    async def _gen(self) -> AsyncIterator[Any]:
        try:
            async for item in self._stream:
                self._see(item)
                if not self._hide(item):
                    yield item
        except BaseException as exc:
            self._failed(exc)
            raise
        finally:
            self._call.finish()

    def __aiter__(self) -> AsyncIterator[Any]:
        if "_it" not in self.__dict__:  # not hasattr: __getattr__ would ask the stream
            self._it = self._gen()
        return self._it

    async def __anext__(self) -> Any:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._call.finish()


def wrap_create(original: Callable[..., Any], start: Callable[[dict[str, Any]], Call],
                on_result: Callable[[Call, Any], None],
                wrap_stream: Callable[[Call, Any, dict[str, Any]], Any],
                prepare: Callable[[dict[str, Any]], dict[str, Any]] = lambda kw: kw,
                is_async: bool = False) -> Callable[..., Any]:
    """A create() that records: ``start`` makes the Call from the request, ``prepare`` may
    adjust the request (stream usage), ``on_result`` reads a complete response and
    ``wrap_stream`` proxies a stream. Any teamcost failure is logged; SDK results and
    exceptions are returned / raised unchanged."""

    def begin(kwargs: dict[str, Any]) -> tuple[Call | None, dict[str, Any]]:
        try:
            # a raw response's bytes are the caller's to read: the request is sent as given
            return start(kwargs), kwargs if _raw_request(kwargs) else prepare(kwargs)
        except Exception:  # noqa: BLE001
            log.exception("teamcost could not prepare to record a call")
            return None, kwargs

    def end(call: Call | None, result: Any, kwargs: dict[str, Any]) -> Any:
        if call is None:
            return result
        try:
            if _raw_response(result):
                watch_raw(call, result, kwargs, on_result, wrap_stream)
                return result
            if kwargs.get("stream"):
                return wrap_stream(call, result, kwargs)
            on_result(call, result)
        except Exception:  # noqa: BLE001
            log.exception("teamcost could not read a response")
        call.finish()
        return result

    return recording(original, begin, end, is_async)


def recording(original: Callable[..., Any],
              begin: Callable[[dict[str, Any]], tuple[Call | None, dict[str, Any]]],
              end: Callable[[Call | None, Any, dict[str, Any]], Any],
              is_async: bool) -> Callable[..., Any]:
    """The one shape of every recording wrapper: ``begin`` makes the Call (and the request
    to send), the SDK method runs, a raise is recorded as a failed call and re-raised
    unchanged, ``end`` reads the result and returns what the caller gets. The async
    version is the sync one's twin, line for line."""
    if is_async:
        @functools.wraps(original)
        async def arun(*args: Any, **kwargs: Any) -> Any:
            call, sent = begin(kwargs)
            try:
                result = await original(*args, **sent)
            except BaseException as exc:
                failed(call, exc)
                raise
            return end(call, result, sent)
        arun.__teamcost__ = True  # type: ignore[attr-defined]
        return arun

    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        call, sent = begin(kwargs)
        try:
            result = original(*args, **sent)
        except BaseException as exc:
            failed(call, exc)
            raise
        return end(call, result, sent)
    run.__teamcost__ = True  # type: ignore[attr-defined]
    return run


def failed(call: Call | None, exc: BaseException) -> None:
    """Record a call that raised (an API error): its request id, if any, as the call id."""
    if call is not None:
        call.error = error_text(exc)
        call.call_id = call_id(call.provider, _request_id(exc)) or call.call_id
        call.finish()


# -- stream helpers (anthropic's messages.stream()) --

class _Later:
    """An awaitable that makes its coroutine only when awaited (a manager never entered
    then leaves no never-awaited coroutine of teamcost's behind)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make

    def __await__(self) -> Any:
        return self._make().__await__()


def wrap_stream_helper(original: Callable[..., Any], start: Callable[[dict[str, Any]], Call],
                       wrap_stream: Callable[[Call, Any, dict[str, Any]], Any],
                       is_async: bool = False) -> Callable[..., Any]:
    """A ``stream()`` helper that records. It returns a manager holding the request to make
    on ``with`` (a private ``__api_request``, bypassing ``create``); that request is
    wrapped so the manager streams through a recording proxy. The manager itself is the
    SDK's own; if its shape is not the expected one, the call is not recorded (logged)."""

    def watched(kwargs: dict[str, Any], manager: Any) -> None:
        call = start(kwargs)
        name = next(k for k in vars(manager) if k.endswith("__api_request"))
        request = getattr(manager, name)

        def proxied(raw: Any) -> Any:
            try:
                return wrap_stream(call, raw, kwargs)
            except Exception:  # noqa: BLE001
                log.exception("teamcost could not watch a stream")
                return raw

        if is_async:
            async def arequest() -> Any:
                call.started = time.perf_counter()
                try:
                    raw = await request
                except BaseException as exc:
                    failed(call, exc)
                    raise
                return proxied(raw)
            setattr(manager, name, _Later(arequest))
            return

        def srequest() -> Any:
            call.started = time.perf_counter()
            try:
                raw = request()
            except BaseException as exc:
                failed(call, exc)
                raise
            return proxied(raw)
        setattr(manager, name, srequest)

    @functools.wraps(original)
    def helper(*args: Any, **kwargs: Any) -> Any:
        manager = original(*args, **kwargs)
        try:
            watched(kwargs, manager)
        except Exception:  # noqa: BLE001
            log.exception("teamcost cannot record calls made through %s",
                          getattr(original, "__qualname__", original))
        return manager
    helper.__teamcost__ = True  # type: ignore[attr-defined]
    return helper


# -- raw responses (client.<resource>.with_raw_response / with_streaming_response) --

def _raw_request(kwargs: dict[str, Any]) -> bool:
    headers = kwargs.get("extra_headers")
    return isinstance(headers, dict) and any(
        isinstance(k, str) and k.lower() == "x-stainless-raw-response" for k in headers)


def _raw_response(result: Any) -> bool:
    return hasattr(result, "http_response") and callable(getattr(result, "parse", None))


def watch_raw(call: Call, raw: Any, sent: dict[str, Any],
              on_result: Callable[[Call, Any], None],
              wrap_stream: Callable[[Call, Any, dict[str, Any]], Any]) -> None:
    """Record a raw response when its body is read, without reading it for the caller.

    Not streamed: from the JSON body, at once if the SDK already read it, else when the
    caller's ``read()`` / ``parse()`` / ``json()`` does (each goes through ``read``).
    Streamed: ``parse()`` gives the SDK's stream, handed back through a recording proxy; a
    caller who reads the raw lines instead is not recorded.
    """
    def parsed_seen(response: Any) -> None:
        if call.done:
            return
        try:
            on_result(call, response)
        except Exception:  # noqa: BLE001
            log.exception("teamcost could not read a raw response")
        call.finish()

    def body_seen(content: Any) -> None:
        if not call.done:
            parsed_seen(json.loads(content))

    if not sent.get("stream"):
        try:
            content = raw.http_response.content      # raises while the body is unread
        except Exception:  # noqa: BLE001
            content = None
        if content is not None:
            body_seen(content)
        elif callable(getattr(raw, "read", None)):
            _after(raw, "read", body_seen)
        else:
            _after(raw, "parse", parsed_seen)
        return
    proxies: dict[int, Any] = {}

    def stream_seen(stream: Any) -> Any:
        if id(stream) not in proxies:   # parse() caches its stream: one proxy for it
            proxies[id(stream)] = wrap_stream(call, stream, sent)
        return proxies[id(stream)]

    _after(raw, "parse", stream_seen)


def _after(obj: Any, name: str, seen: Callable[[Any], Any]) -> None:
    """Wrap the instance method ``obj.name`` so ``seen`` gets each result (and may replace
    it when it returns something); async methods stay async."""
    original = getattr(obj, name)

    def look(out: Any) -> Any:
        try:
            new = seen(out)
        except Exception:  # noqa: BLE001
            log.exception("teamcost could not read a raw response")
            return out
        return out if new is None else new

    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def alooked(*args: Any, **kwargs: Any) -> Any:
            return look(await original(*args, **kwargs))
        setattr(obj, name, alooked)
    else:
        @functools.wraps(original)
        def looked(*args: Any, **kwargs: Any) -> Any:
            return look(original(*args, **kwargs))
        setattr(obj, name, looked)

def _request_id(exc: BaseException) -> str | None:
    rid = getattr(exc, "request_id", None)
    if rid:
        return f"err-{rid}"
    return None


def patch(resource: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
          ) -> None:
    """Replace ``resource.name`` with a recording wrapper, once (instrumenting twice is a
    no-op, so no call is recorded twice)."""
    original = getattr(resource, name)
    if getattr(original, "__teamcost__", False):
        return
    setattr(resource, name, make(original))
    # with_raw_response / with_streaming_response are cached_properties holding the
    # methods as they were when first used: made again, they wrap the recording ones
    for cached in ("with_raw_response", "with_streaming_response"):
        vars(resource).pop(cached, None)


def get(obj: Any, *path: str) -> Any:
    """obj.a.b or obj["a"]["b"], None when any step is missing (SDK objects or dicts)."""
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return obj


def as_int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0
