"""SDK hooks against a local server speaking the OpenAI and Anthropic wire formats, with
the real SDK clients: exact ledger rows, and results identical to an unwrapped client's."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterator

import anthropic
import openai
import pytest

import teamcost
from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.pricing import Pricer
from teamcost.tracker import Tracker

from tests.llm_server import LLMServer, server  # noqa: F401 - the fixture

# hand-worked costs (genai-prices list prices per million tokens):
# gpt-4o: input $2.50, cached input $1.25, output $10
CHAT_NANOS = 1000 * 2500 + 200 * 1250 + 300 * 10_000          # 5,750,000
RESP_NANOS = 800 * 2500 + 100 * 1250 + 50 * 10_000             # 2,625,000
# claude-sonnet-4-5: input $3, output $15, cache read $0.30, cache write (5 min) $3.75
MSG_NANOS = 500 * 3000 + 80 * 15_000 + 1000 * 300 + 300 * 3750  # 4,125,000


@pytest.fixture
def tracker(teamcost_home) -> Iterator[Tracker]:
    t = Tracker(load_config())
    yield t
    t.close()


def rows(tracker: Tracker) -> list[Any]:
    return list(tracker.ledger.calls())


def oai(server: LLMServer, cls: Any = openai.OpenAI) -> Any:
    return cls(api_key="sk-test", base_url=server.url + "/v1", max_retries=0)


def ant(server: LLMServer, cls: Any = anthropic.Anthropic) -> Any:
    return cls(api_key="sk-ant-test", base_url=server.url, max_retries=0)


def dumps(items: Any) -> list[str]:
    return [i.model_dump_json() for i in items]


def test_hand_worked_costs_agree_with_the_pricer() -> None:
    p = Pricer()
    assert p.price("openai", "gpt-4o", 1000, 300, cache_read_tokens=200).cost_nanos == CHAT_NANOS
    assert p.price("openai", "gpt-4o", 800, 50, cache_read_tokens=100).cost_nanos == RESP_NANOS
    assert p.price("anthropic", "claude-sonnet-4-5", 500, 80, cache_read_tokens=1000,
                   cache_write_tokens=300).cost_nanos == MSG_NANOS


def test_openai_chat_non_streaming(server, tracker) -> None:
    plain = oai(server).chat.completions.create(model="gpt-4o", messages=[
        {"role": "user", "content": "hi"}])
    client = teamcost.instrument(oai(server), tracker)
    with tracker.session("s-1"), tracker.agent("coder"):
        got = client.chat.completions.create(model="gpt-4o",
                                             messages=[{"role": "user", "content": "hi"}])
    assert got.model_dump_json() == plain.model_dump_json()
    [r] = rows(tracker)
    assert (r.call_id, r.provider, r.model) == ("openai:chatcmpl-abc123", "openai", "gpt-4o")
    assert (r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens) == (
        1000, 300, 200, 0)
    assert (r.cost_nanos, r.success, r.estimated) == (CHAT_NANOS, True, False)
    assert (r.session_id, r.agent) == ("s-1", "coder") and r.duration_s is not None


def test_openai_chat_streaming_asks_for_usage_and_hides_it(server, tracker) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    plain = dumps(oai(server).chat.completions.create(model="gpt-4o", messages=msgs,
                                                      stream=True))
    client = teamcost.instrument(oai(server), tracker)
    with tracker.session("s-2"):
        stream = client.chat.completions.create(model="gpt-4o", messages=msgs, stream=True)
    got = dumps(stream)                        # consumed outside the session block
    assert got == plain                        # the usage chunk teamcost asked for is hidden
    assert server.requests[-1][1]["stream_options"] == {"include_usage": True}
    assert "stream_options" not in server.requests[0][1]
    [r] = rows(tracker)
    assert (r.call_id, r.input_tokens, r.output_tokens, r.cache_read_tokens) == (
        "openai:chatcmpl-stream1", 1000, 300, 200)
    assert r.cost_nanos == CHAT_NANOS and r.session_id == "s-2"


def test_openai_chat_streaming_when_the_caller_asked_for_usage(server, tracker) -> None:
    kw = dict(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True,
              stream_options={"include_usage": True})
    plain = dumps(oai(server).chat.completions.create(**kw))
    client = teamcost.instrument(oai(server), tracker)
    with client.chat.completions.create(**kw) as stream:
        got = dumps(stream)
    assert got == plain and len(got) == 5
    assert rows(tracker)[0].cost_nanos == CHAT_NANOS


def test_openai_responses(server, tracker) -> None:
    plain = oai(server).responses.create(model="gpt-4o", input="hi")
    client = teamcost.instrument(oai(server), tracker)
    got = client.responses.create(model="gpt-4o", input="hi")
    assert got.model_dump_json() == plain.model_dump_json()
    plain_events = dumps(oai(server).responses.create(model="gpt-4o", input="hi", stream=True))
    got_events = dumps(client.responses.create(model="gpt-4o", input="hi", stream=True))
    assert got_events == plain_events
    recs = rows(tracker)
    assert len(recs) == 1              # the same response id twice: one call, counted once
    r = recs[0]
    assert (r.call_id, r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cost_nanos) == (
        "openai:resp_123", 800, 50, 100, RESP_NANOS)


def test_openai_api_error_reaches_the_caller_and_is_recorded(server, tracker) -> None:
    client = teamcost.instrument(oai(server), tracker)
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="error-model",
                                       messages=[{"role": "user", "content": "hi"}])
    assert exc.value.status_code == 429
    [r] = rows(tracker)
    assert (r.success, r.model, r.cost_nanos, r.input_tokens) == (False, "error-model", 0, 0)
    assert r.call_id == "openai:err-req_oai_err1"
    assert r.error.startswith("429 RateLimitError") and "Rate limit reached" in r.error


def test_openai_async_streaming_and_not(server, tracker) -> None:
    msgs = [{"role": "user", "content": "hi"}]

    async def main() -> tuple[Any, Any, list[str], list[str]]:
        plain_c = oai(server, openai.AsyncOpenAI)
        client = teamcost.instrument(oai(server, openai.AsyncOpenAI), tracker)
        a = await plain_c.chat.completions.create(model="gpt-4o", messages=msgs)
        b = await client.chat.completions.create(model="gpt-4o", messages=msgs)
        ps = [c async for c in await plain_c.chat.completions.create(
            model="gpt-4o", messages=msgs, stream=True)]
        gs = [c async for c in await client.chat.completions.create(
            model="gpt-4o", messages=msgs, stream=True)]
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="error-model", messages=msgs)
        return a, b, dumps(ps), dumps(gs)

    a, b, ps, gs = asyncio.run(main())
    assert a.model_dump_json() == b.model_dump_json() and ps == gs
    recs = sorted(rows(tracker), key=lambda r: r.call_id)
    assert [(r.call_id, r.cost_nanos, r.success) for r in recs] == [
        ("openai:chatcmpl-abc123", CHAT_NANOS, True),
        ("openai:chatcmpl-stream1", CHAT_NANOS, True),
        ("openai:err-req_oai_err1", 0, False)]


def test_no_usage_is_estimated(server, tracker) -> None:
    client = teamcost.instrument(oai(server), tracker)
    client.chat.completions.create(model="no-usage-model",
                                   messages=[{"role": "user", "content": "x" * 397}])
    [r] = rows(tracker)
    assert r.estimated and r.output_tokens == 5            # "Hello there, friend!" = 20 chars
    # the prompt as JSON: '[{"role": "user", "content": "' (30) + 397 + '"}]' (3) = 430
    # characters -> ceil(430 / 4) = 108 (this model is not one tiktoken knows)
    assert r.input_tokens == 108 and not r.priced


def test_anthropic_messages(server, tracker) -> None:
    kw = dict(model="claude-sonnet-4-5", max_tokens=100,
              messages=[{"role": "user", "content": "hi"}])
    plain = ant(server).messages.create(**kw)
    client = teamcost.instrument(ant(server), tracker)
    got = client.messages.create(**kw)
    assert got.model_dump_json() == plain.model_dump_json()
    [r] = rows(tracker)
    assert (r.call_id, r.provider, r.input_tokens, r.output_tokens, r.cache_read_tokens,
            r.cache_write_tokens, r.cost_nanos) == (
        "anthropic:msg_01abc", "anthropic", 500, 80, 1000, 300, MSG_NANOS)


def test_anthropic_streaming_sync_and_async(server, tracker, teamcost_home) -> None:
    kw = dict(model="claude-sonnet-4-5", max_tokens=100,
              messages=[{"role": "user", "content": "hi"}], stream=True)
    plain = dumps(ant(server).messages.create(**kw))
    client = teamcost.instrument(ant(server), tracker)
    assert dumps(client.messages.create(**kw)) == plain
    [r] = rows(tracker)
    assert (r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens,
            r.cost_nanos) == (500, 80, 1000, 300, MSG_NANOS)

    other = Tracker(load_config().with_(ledger_path=teamcost_home / "async.db"))

    async def main() -> list[str]:
        aclient = teamcost.instrument(ant(server, anthropic.AsyncAnthropic), other)
        stream = await aclient.messages.create(**kw)
        return dumps([e async for e in stream])

    assert asyncio.run(main()) == plain
    [r2] = list(other.ledger.calls())
    assert (r2.call_id, r2.cost_nanos) == ("anthropic:msg_01abc", MSG_NANOS)
    other.close()


def test_anthropic_error(server, tracker) -> None:
    client = teamcost.instrument(ant(server), tracker)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="error-model", max_tokens=1,
                               messages=[{"role": "user", "content": "hi"}])
    [r] = rows(tracker)
    assert not r.success and r.call_id == "anthropic:err-req_ant_err1"
    assert "max_tokens: required" in r.error


def test_a_teamcost_failure_never_breaks_the_call(server, tracker, caplog,
                                                  monkeypatch) -> None:
    client = teamcost.instrument(oai(server), tracker)

    def broken(rec: Any) -> bool:
        raise OSError("disk full")

    monkeypatch.setattr(tracker, "record_call", broken)
    with caplog.at_level(logging.ERROR, logger="teamcost"):
        got = client.chat.completions.create(model="gpt-4o",
                                             messages=[{"role": "user", "content": "hi"}])
    assert got.id == "chatcmpl-abc123"
    assert any("could not record" in r.getMessage() for r in caplog.records)


def test_instrumenting_twice_records_once_and_other_clients_are_refused(server,
                                                                        tracker) -> None:
    client = teamcost.instrument(teamcost.instrument(oai(server), tracker), tracker)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert len(rows(tracker)) == 1
    with pytest.raises(TypeError, match="supports openai.OpenAI"):
        teamcost.instrument(object())
