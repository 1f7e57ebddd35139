"""The SDKs' other ways to make the same calls: with_raw_response, with_streaming_response,
parse() and the stream() helpers. Each is recorded exactly once with the right usage, the
request goes out as the caller made it, and the caller gets what an unwrapped client gives."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import anthropic
import openai
import pytest

import teamcost
from teamcost.config import load_config
from teamcost.capture.sdk import common as capture
from teamcost.tracker import Tracker

from tests.llm_server import LLMServer, chat_completion, server  # noqa: F401 - fixture
from tests.system.test_instrument import CHAT_NANOS, MSG_NANOS, RESP_NANOS, ant, dumps, oai

MSGS = [{"role": "user", "content": "hi"}]
ANT = dict(model="claude-sonnet-4-5", max_tokens=100, messages=MSGS)
# (call_id, input, output, cache read, cache write, cost nanos, estimated)
CHAT_ROW = ("openai:chatcmpl-abc123", 1000, 300, 200, 0, CHAT_NANOS, False)
CHAT_STREAM_ROW = ("openai:chatcmpl-stream1", 1000, 300, 200, 0, CHAT_NANOS, False)
RESP_ROW = ("openai:resp_123", 800, 50, 100, 0, RESP_NANOS, False)
MSG_ROW = ("anthropic:msg_01abc", 500, 80, 1000, 300, MSG_NANOS, False)


@pytest.fixture
def fresh(teamcost_home: Path) -> Iterator[Callable[[], Tracker]]:
    """A Tracker on a ledger of its own (the test server gives every answer the same id)."""
    made: list[Tracker] = []

    def make() -> Tracker:
        t = Tracker(load_config().with_(ledger_path=teamcost_home / f"l{len(made)}.db"))
        made.append(t)
        return t
    yield make
    for t in made:
        t.close()


def rows(tracker: Tracker) -> list[tuple[Any, ...]]:
    return [(r.call_id, r.input_tokens, r.output_tokens, r.cache_read_tokens,
             r.cache_write_tokens, r.cost_nanos, r.estimated) for r in tracker.ledger.calls()]


def test_raw_response_is_recorded_from_its_body_and_sent_unchanged(server, fresh) -> None:
    plain = oai(server).chat.completions.with_raw_response.create(model="gpt-4o", messages=MSGS)
    t = fresh()
    raw = teamcost.instrument(oai(server), t).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MSGS)
    assert rows(t) == [CHAT_ROW]                        # the body was read: recorded at once
    assert server.requests[1] == server.requests[0]
    assert raw.headers["content-type"] == "application/json"
    assert raw.parse().model_dump_json() == plain.parse().model_dump_json()
    assert rows(t) == [CHAT_ROW]                        # parsing adds nothing

    t2 = fresh()
    plain_m = ant(server).messages.with_raw_response.create(**ANT).parse()
    got_m = teamcost.instrument(ant(server), t2).messages.with_raw_response.create(**ANT).parse()
    assert got_m.model_dump_json() == plain_m.model_dump_json()
    assert rows(t2) == [MSG_ROW]


def test_raw_wrappers_made_before_instrument_are_recorded_too(server, fresh) -> None:
    t = fresh()
    client = oai(server)
    early = client.chat.completions.with_raw_response        # cached by the SDK
    teamcost.instrument(client, t)
    client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MSGS)
    assert client.chat.completions.with_raw_response is not early
    assert rows(t) == [CHAT_ROW]


def test_raw_stream_is_not_changed_and_is_estimated(server, fresh, monkeypatch) -> None:
    monkeypatch.setattr(capture, "_encoders", {"gpt-4o": None})    # no tiktoken: chars / 4
    kw = dict(model="gpt-4o", messages=MSGS, stream=True)
    plain = dumps(oai(server).chat.completions.with_raw_response.create(**kw).parse())
    t = fresh()
    raw = teamcost.instrument(oai(server), t).chat.completions.with_raw_response.create(**kw)
    assert dumps(raw.parse()) == plain
    # the raw bytes are the caller's: no stream_options added, so no usage to read
    assert server.requests[1] == server.requests[0]
    assert "stream_options" not in server.requests[1][1]
    # what the estimate counts: the messages as JSON, '[{"role": "user", "content": "hi"}]'
    # = 35 characters -> 9 tokens; the streamed text "Hello" = 5 characters -> 2
    assert len(json.dumps(MSGS)) == 35
    assert rows(t) == [("openai:chatcmpl-stream1", 9, 2, 0, 0, rows(t)[0][5], True)]
    assert rows(t)[0][5] > 0                    # priced from the estimate


def test_streaming_response_is_recorded_when_the_caller_reads_it(server, fresh) -> None:
    t = fresh()
    client = teamcost.instrument(oai(server), t)
    with client.chat.completions.with_streaming_response.create(model="gpt-4o",
                                                                messages=MSGS) as resp:
        assert rows(t) == []                    # teamcost does not read the body for them
        body = resp.json()                      # not parse(): json() reads through read()
    assert body == chat_completion("gpt-4o")
    assert rows(t) == [CHAT_ROW]

    t2 = fresh()
    with ant(server).messages.with_streaming_response.create(**ANT) as resp:
        plain = resp.parse()
    with teamcost.instrument(ant(server), t2).messages.with_streaming_response.create(
            **ANT) as resp:
        got = resp.parse()
    assert got.model_dump_json() == plain.model_dump_json()
    assert rows(t2) == [MSG_ROW]


def test_parse_methods_are_recorded(server, fresh) -> None:
    t = fresh()
    client = teamcost.instrument(oai(server), t)
    plain = oai(server).chat.completions.parse(model="gpt-4o", messages=MSGS)
    assert client.chat.completions.parse(model="gpt-4o", messages=MSGS).model_dump_json() == \
        plain.model_dump_json()
    assert rows(t) == [CHAT_ROW]

    t2 = fresh()
    plain_r = oai(server).responses.parse(model="gpt-4o", input="hi")
    got_r = teamcost.instrument(oai(server), t2).responses.parse(model="gpt-4o", input="hi")
    assert got_r.model_dump_json() == plain_r.model_dump_json()
    assert rows(t2) == [RESP_ROW]

    t3 = fresh()
    plain_m = ant(server).messages.parse(**ANT)
    got_m = teamcost.instrument(ant(server), t3).messages.parse(**ANT)
    assert got_m.model_dump_json() == plain_m.model_dump_json()
    assert rows(t3) == [MSG_ROW]


# the SDK's own model_dump_json of a ParsedResponse warns (plain client too); not ours
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
def test_openai_stream_helpers(server, fresh) -> None:
    with oai(server).chat.completions.stream(model="gpt-4o", messages=MSGS) as s:
        plain = dumps(s)
        plain_final = s.get_final_completion().model_dump_json()
    t = fresh()
    client = teamcost.instrument(oai(server), t)
    with client.chat.completions.stream(model="gpt-4o", messages=MSGS) as s:
        assert dumps(s) == plain                # the usage chunk teamcost asked for is hidden
        assert s.get_final_completion().model_dump_json() == plain_final
    assert rows(t) == [CHAT_STREAM_ROW]

    with oai(server).responses.stream(model="gpt-4o", input="hi") as s:
        plain = dumps(s)
        plain_final = s.get_final_response().model_dump_json()
    t2 = fresh()
    with teamcost.instrument(oai(server), t2).responses.stream(model="gpt-4o", input="hi") as s:
        assert dumps(s) == plain
        assert s.get_final_response().model_dump_json() == plain_final
    assert rows(t2) == [RESP_ROW]


def test_anthropic_stream_helper_sync_async_and_error(server, fresh) -> None:
    with ant(server).messages.stream(**ANT) as s:
        plain = dumps(s)
        plain_final = s.get_final_message().model_dump_json()
    t = fresh()
    client = teamcost.instrument(ant(server), t)
    manager = client.messages.stream(**ANT)
    assert type(manager) is anthropic.lib.streaming.MessageStreamManager
    with manager as s:
        assert dumps(s) == plain
        assert s.get_final_message().model_dump_json() == plain_final
    assert rows(t) == [MSG_ROW]

    t_err = fresh()
    bad = dict(ANT, model="error-model")
    with pytest.raises(anthropic.BadRequestError):
        with teamcost.instrument(ant(server), t_err).messages.stream(**bad) as s:
            pass
    [r] = t_err.ledger.calls()
    assert (r.call_id, r.success, r.model) == ("anthropic:err-req_ant_err1", False, "error-model")

    t2 = fresh()

    async def main() -> tuple[str, str]:
        aclient = teamcost.instrument(ant(server, anthropic.AsyncAnthropic), t2)
        async with aclient.messages.stream(**ANT) as s:
            texts = [e.model_dump_json() async for e in s]
            final = (await s.get_final_message()).model_dump_json()
        return json.dumps(texts), final

    texts, final = asyncio.run(main())
    assert (json.loads(texts), final) == (plain, plain_final)
    assert rows(t2) == [MSG_ROW]


def test_async_raw_and_streaming_responses(server, fresh) -> None:
    t, t2 = fresh(), fresh()

    async def main() -> tuple[str, str, str, str]:
        plain = await oai(server, openai.AsyncOpenAI).chat.completions.with_raw_response.create(
            model="gpt-4o", messages=MSGS)
        client = teamcost.instrument(oai(server, openai.AsyncOpenAI), t)
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o",
                                                                     messages=MSGS)
        async with ant(server, anthropic.AsyncAnthropic).messages.with_streaming_response \
                .create(**ANT) as resp:
            plain_m = await resp.parse()
        aclient = teamcost.instrument(ant(server, anthropic.AsyncAnthropic), t2)
        async with aclient.messages.with_streaming_response.create(**ANT) as resp:
            got_m = await resp.parse()
        return (plain.parse().model_dump_json(), raw.parse().model_dump_json(),
                plain_m.model_dump_json(), got_m.model_dump_json())

    a, b, c, d = asyncio.run(main())
    assert (a, c) == (b, d)
    assert (rows(t), rows(t2)) == ([CHAT_ROW], [MSG_ROW])


def test_a_stream_failing_midway_is_a_failed_call_with_the_usage_it_had(server, fresh) -> None:
    kw = dict(ANT, model="overloaded-model", stream=True)
    plain_items: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as plain_exc:
        for e in ant(server).messages.create(**kw):
            plain_items.append(e.model_dump_json())
    t = fresh()
    got_items: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as exc:
        for e in teamcost.instrument(ant(server), t).messages.create(**kw):
            got_items.append(e.model_dump_json())
    assert got_items == plain_items and len(got_items) == 3   # start, block start, delta (the SDK skips ping)
    assert (type(exc.value), str(exc.value)) == (type(plain_exc.value), str(plain_exc.value))
    [r] = t.ledger.calls()
    # message_start carried the input and cache tokens and 1 output token so far
    assert (r.call_id, r.success, r.input_tokens, r.output_tokens, r.cache_read_tokens,
            r.cache_write_tokens) == ("anthropic:msg_01abc", False, 500, 1, 1000, 300)
    assert "Overloaded" in r.error


def test_estimates_never_wait_for_tiktoken(monkeypatch) -> None:
    """tiktoken downloads its encoding on first use, without a timeout: the estimate must
    not wait for it (chars / 4 meanwhile), and use it once it has loaded."""
    import tiktoken

    release = threading.Event()

    class Words:
        def encode(self, text: str) -> list[str]:
            return text.split()

    def slow(model: str) -> Words:
        release.wait(10)          # a download that hangs
        return Words()

    monkeypatch.setattr(tiktoken, "encoding_for_model", slow)
    monkeypatch.setattr(capture, "_encoders", {})
    text = "one two three four five six seven"          # 33 characters, 7 words
    t = time.perf_counter()
    assert capture.count_tokens("gpt-4o", text) == 9     # ceil(33 / 4), at once
    assert time.perf_counter() - t < 1
    release.set()
    deadline = time.monotonic() + 5
    while capture._encoders.get("gpt-4o") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert capture.count_tokens("gpt-4o", text) == 7     # the loaded encoding
    assert capture.count_tokens("claude-sonnet-4-5", text) == 9   # never tiktoken


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
def test_openai_async_stream_helpers_and_parse(server, fresh) -> None:
    t = fresh()

    async def events(client: Any) -> tuple[list[str], str, list[str]]:
        async with client.chat.completions.stream(model="gpt-4o", messages=MSGS) as s:
            chat = [e.model_dump_json() async for e in s]
            final = (await s.get_final_completion()).model_dump_json()
        async with client.responses.stream(model="gpt-4o", input="hi") as s:
            resp = [e.model_dump_json() async for e in s]
        await client.chat.completions.parse(model="gpt-4o", messages=MSGS)
        return chat, final, resp

    plain = asyncio.run(events(oai(server, openai.AsyncOpenAI)))
    got = asyncio.run(events(teamcost.instrument(oai(server, openai.AsyncOpenAI), t)))
    assert got == plain
    assert sorted(rows(t)) == sorted([CHAT_STREAM_ROW, RESP_ROW, CHAT_ROW])
