"""The Google GenAI SDK hook against a local server speaking the Gemini API and Vertex AI
wire formats (tests/gemini_server.py), with the real ``google.genai`` client: exact ledger
rows, results and errors identical to an unwrapped client's, and the very same requests
sent with and without teamcost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import genai_prices
import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, types

import teamcost
from teamcost.config import load_config
from teamcost.capture.sdk import google as google_hook
from teamcost.pricing import Pricer
from teamcost.tracker import Tracker
from tests.gemini_server import GeminiServer, answer, gemini_server_fixture  # noqa: F401

# Hand-worked costs. Prices per million tokens (genai-prices 0.2.3, the same as
# ai.google.dev/gemini-api/docs/pricing for prompts up to 200k tokens):
# gemini-2.5-flash: input $0.30, cached input $0.03, output (thinking included) $2.50
# -> 300, 30 and 2,500 nano-dollars a token.
# Gemini API answer: prompt 1200 of which 200 cached, tool-use prompt 50, candidates 300,
# thoughts 100 -> input 1200 + 50 - 200 = 1050, cache read 200, output 300 + 100 = 400.
GEM = (1050, 400, 200)
GEM_NANOS = 1050 * 300 + 200 * 30 + 400 * 2500                  # 1,321,000
# gemini-2.5-pro: input $1.25, cached input $0.125, output $10.
# Vertex AI answer: prompt 3000 of which 1000 cached, candidates 500, thoughts 700
# -> input 2000, cache read 1000, output 1200.
VTX = (2000, 1200, 1000)
VTX_NANOS = 2000 * 1250 + 1000 * 125 + 1200 * 10_000            # 14,625,000
# A stream cut after its 2nd chunk saw candidates 200 (+ thoughts 100); one closed after
# its 1st chunk saw candidates 100 (+ thoughts 100).
MIDWAY_NANOS = 1050 * 300 + 200 * 30 + 300 * 2500               # 1,071,000
EARLY_NANOS = 1050 * 300 + 200 * 30 + 200 * 2500                # 821,000
# automatic function calling: request 1 (prompt 400, candidates 40, thoughts 60), then
# request 2 (prompt 520, candidates 25), each billed on its own
TOOL1_NANOS = 400 * 300 + (40 + 60) * 2500                       # 370,000
TOOL2_NANOS = 520 * 300 + 25 * 2500                              # 218,500


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads keys, project and API version from the environment: none here."""
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI",
                "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_API_VERSION",
                "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
                "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def tracker(teamcost_home) -> Iterator[Tracker]:
    t = Tracker(load_config())
    yield t
    t.close()


def gemini(server: GeminiServer) -> genai.Client:
    return genai.Client(api_key="test-key",
                        http_options=types.HttpOptions(base_url=server.url))


def vertex(server: GeminiServer) -> genai.Client:
    # a static token: the SDK sends it as the bearer and never refreshes it (no network)
    return genai.Client(vertexai=True, project="proj-1", location="us-central1",
                        credentials=google.oauth2.credentials.Credentials(token="test-token"),
                        http_options=types.HttpOptions(base_url=server.url))


def rows(tracker: Tracker) -> list[Any]:
    return sorted(tracker.ledger.calls(), key=lambda r: r.call_id)


def usage_of(r: Any) -> tuple[int, int, int]:
    return r.input_tokens, r.output_tokens, r.cache_read_tokens


def dumps(items: Any) -> list[str]:
    return [i.model_dump_json() for i in items]


def sent(server: GeminiServer, since: int = 0) -> list[tuple[str, str, dict[str, str], Any]]:
    return [(r.method, r.path, r.headers, r.body) for r in server.requests[since:]]


def unversioned(path: str) -> str:
    """The path without its API version (google-genai 3 sends v1, older releases v1beta)."""
    return path.split("/", 2)[2]


def same_error(a: errors.APIError, b: errors.APIError) -> None:
    assert type(a) is type(b)
    assert (a.code, a.status, a.message, a.details, str(a)) == (
        b.code, b.status, b.message, b.details, str(b))


def test_hand_worked_costs_agree_with_genai_prices() -> None:
    p = Pricer()
    assert p.price("google", "gemini-2.5-flash", *GEM).cost_nanos == GEM_NANOS
    assert p.price("google", "gemini-2.5-pro", *VTX).cost_nanos == VTX_NANOS
    # genai-prices reading the very bodies the server sends (its own Google usage
    # extractor: thoughts as output, cached and tool-use tokens as input) agrees
    for body, nanos in ((answer("gemini-2.5-flash", vertex=False), GEM_NANOS),
                        (answer("gemini-2.5-pro", vertex=True), VTX_NANOS)):
        extracted = genai_prices.extract_usage(body, provider_id="google")
        assert extracted.calc_price().total_price * 10**9 == nanos


def test_gemini_generate_content(gemini_server, tracker) -> None:
    unwrapped = gemini(gemini_server)     # kept: a Client closes its connections when freed
    plain = unwrapped.models.generate_content(model="gemini-2.5-flash", contents="hi")
    client = teamcost.instrument(gemini(gemini_server), tracker)
    with tracker.session("s-1"), tracker.agent("coder"):
        got = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert got.model_dump_json() == plain.model_dump_json()
    assert got.text == "Hello there!"
    [a, b] = sent(gemini_server)
    assert a == b and unversioned(a[1]) == "models/gemini-2.5-flash:generateContent"
    [r] = rows(tracker)
    assert (r.call_id, r.provider, r.model) == (
        "google:gem-gen-gemini-2.5-flash", "google", "gemini-2.5-flash")
    assert usage_of(r) == GEM and r.cache_write_tokens == 0
    assert (r.cost_nanos, r.priced, r.success, r.error, r.estimated) == (
        GEM_NANOS, True, True, None, False)
    assert r.tags == {"thoughts_tokens": "100"}
    assert (r.session_id, r.agent) == ("s-1", "coder") and r.duration_s is not None


def test_gemini_stream_made_in_a_session_read_outside_it(gemini_server, tracker) -> None:
    unwrapped = gemini(gemini_server)
    plain = dumps(unwrapped.models.generate_content_stream(model="gemini-2.5-flash",
                                                           contents="hi"))
    client = teamcost.instrument(gemini(gemini_server), tracker)
    with tracker.session("s-2"), tracker.agent("planner"):
        stream = client.models.generate_content_stream(model="gemini-2.5-flash",
                                                       contents="hi")
    assert rows(tracker) == [] and len(gemini_server.requests) == 1  # not read: not sent
    got = dumps(stream)                                 # read outside the session block
    assert got == plain and len(got) == 3
    [a, b] = sent(gemini_server)
    assert a == b and unversioned(a[1]) == (
        "models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    [r] = rows(tracker)                                 # three chunks, one call
    assert (r.call_id, r.model, usage_of(r), r.cost_nanos, r.success) == (
        "google:gem-stream-gemini-2.5-flash", "gemini-2.5-flash", GEM, GEM_NANOS, True)
    assert (r.session_id, r.agent, r.tags) == ("s-2", "planner", {"thoughts_tokens": "100"})


def test_gemini_async_streaming_and_not(gemini_server, tracker) -> None:
    async def main() -> tuple[Any, Any, list[str], list[str]]:
        plain_c = gemini(gemini_server).aio
        client = teamcost.instrument(gemini(gemini_server), tracker).aio
        a = await plain_c.models.generate_content(model="gemini-2.5-flash", contents="hi")
        b = await client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        ps = [c async for c in await plain_c.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi")]
        with tracker.session("s-3"):
            stream = await client.models.generate_content_stream(
                model="gemini-2.5-flash", contents="hi")
        gs = [c async for c in stream]
        await plain_c.aclose()            # async clients hold connections until closed
        await client.aclose()
        return a, b, dumps(ps), dumps(gs)

    a, b, ps, gs = asyncio.run(main())
    assert a.model_dump_json() == b.model_dump_json() and ps == gs and len(gs) == 3
    reqs = sent(gemini_server)
    assert reqs[0] == reqs[1] and reqs[2] == reqs[3]
    assert [(r.call_id, usage_of(r), r.cost_nanos, r.success, r.session_id)
            for r in rows(tracker)] == [
        ("google:gem-gen-gemini-2.5-flash", GEM, GEM_NANOS, True, None),
        ("google:gem-stream-gemini-2.5-flash", GEM, GEM_NANOS, True, "s-3")]


def test_vertex_sync(gemini_server, tracker) -> None:
    path = "/v1beta1/projects/proj-1/locations/us-central1/publishers/google/models/"
    unwrapped = vertex(gemini_server)
    plain = unwrapped.models.generate_content(model="gemini-2.5-pro", contents="hi")
    plain_chunks = dumps(unwrapped.models.generate_content_stream(model="gemini-2.5-pro",
                                                                  contents="hi"))
    client = teamcost.instrument(vertex(gemini_server), tracker)
    got = client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    got_chunks = dumps(client.models.generate_content_stream(model="gemini-2.5-pro",
                                                             contents="hi"))
    assert got.model_dump_json() == plain.model_dump_json() and got_chunks == plain_chunks
    reqs = sent(gemini_server)
    assert reqs[0] == reqs[2] and reqs[1] == reqs[3]
    assert reqs[0][1] == path + "gemini-2.5-pro:generateContent"
    assert reqs[1][1] == path + "gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert reqs[0][2]["Authorization"] == "Bearer test-token"
    assert [(r.call_id, r.provider, r.model, usage_of(r), r.cost_nanos, r.success, r.tags)
            for r in rows(tracker)] == [
        ("google:vtx-gen-gemini-2.5-pro", "google", "gemini-2.5-pro", VTX, VTX_NANOS, True,
         {"thoughts_tokens": "700"}),
        ("google:vtx-stream-gemini-2.5-pro", "google", "gemini-2.5-pro", VTX, VTX_NANOS,
         True, {"thoughts_tokens": "700"})]


def test_vertex_async_through_the_async_client(gemini_server, tracker) -> None:
    async def main() -> tuple[str, str, list[str], list[str]]:
        plain = vertex(gemini_server).aio
        client = teamcost.instrument(vertex(gemini_server).aio, tracker)  # AsyncClient
        a = await plain.models.generate_content(model="gemini-2.5-pro", contents="hi")
        b = await client.models.generate_content(model="gemini-2.5-pro", contents="hi")
        ps = [c async for c in await plain.models.generate_content_stream(
            model="gemini-2.5-pro", contents="hi")]
        gs = [c async for c in await client.models.generate_content_stream(
            model="gemini-2.5-pro", contents="hi")]
        await plain.aclose()
        await client.aclose()
        return a.model_dump_json(), b.model_dump_json(), dumps(ps), dumps(gs)

    a, b, ps, gs = asyncio.run(main())
    assert a == b and ps == gs
    reqs = sent(gemini_server)
    assert reqs[0] == reqs[1] and reqs[2] == reqs[3]
    assert [(r.call_id, usage_of(r), r.cost_nanos) for r in rows(tracker)] == [
        ("google:vtx-gen-gemini-2.5-pro", VTX, VTX_NANOS),
        ("google:vtx-stream-gemini-2.5-pro", VTX, VTX_NANOS)]


def _raised(call: Any) -> errors.APIError:
    with pytest.raises(errors.APIError) as info:
        call()
    return info.value


def test_a_4xx_is_recorded_failed_and_raised_unchanged(gemini_server, tracker) -> None:
    plain = gemini(gemini_server)
    client = teamcost.instrument(gemini(gemini_server), tracker)
    kw = {"model": "models/error-model", "contents": "hi"}
    want = _raised(lambda: plain.models.generate_content(**kw))
    got = _raised(lambda: client.models.generate_content(**kw))
    same_error(got, want)
    assert isinstance(got, errors.ClientError) and (got.code, got.status) == (
        400, "INVALID_ARGUMENT")
    want_s = _raised(lambda: list(plain.models.generate_content_stream(**kw)))
    got_s = _raised(lambda: list(client.models.generate_content_stream(**kw)))
    same_error(got_s, want_s)
    reqs = sent(gemini_server)
    assert reqs[0] == reqs[1] and reqs[2] == reqs[3]
    recs = list(tracker.ledger.calls())
    assert len(recs) == 2
    for r in recs:
        assert (r.provider, r.model, r.success, r.cost_nanos, usage_of(r)) == (
            "google", "error-model", False, 0, (0, 0, 0))
        assert not r.call_id.startswith("google:")       # no response id: a minted one
        assert r.error == f"ClientError: {want}"
        assert "400 INVALID_ARGUMENT" in r.error and "contents is not specified" in r.error


def test_async_429_recorded_failed_and_raised_unchanged(gemini_server, tracker) -> None:
    async def main() -> list[errors.APIError]:
        plain = gemini(gemini_server).aio
        client = teamcost.instrument(gemini(gemini_server), tracker).aio
        out = []
        for c in (plain, client):
            with pytest.raises(errors.ClientError) as info:
                await c.models.generate_content(model="quota-model", contents="hi")
            out.append(info.value)
        for c in (plain, client):
            with pytest.raises(errors.ClientError) as info:
                async for _ in await c.models.generate_content_stream(model="quota-model",
                                                                      contents="hi"):
                    pass
            out.append(info.value)
        await plain.aclose()
        await client.aclose()
        return out

    want, got, want_s, got_s = asyncio.run(main())
    same_error(got, want)
    same_error(got_s, want_s)
    assert (got.code, got.status) == (429, "RESOURCE_EXHAUSTED")
    recs = list(tracker.ledger.calls())
    assert [(r.model, r.success, r.cost_nanos) for r in recs] == [("quota-model", False, 0)] * 2
    assert all(r.error.startswith("ClientError: 429 RESOURCE_EXHAUSTED") for r in recs)


def test_a_stream_failing_midway_records_what_it_saw_as_failed(gemini_server, tracker,
                                                               teamcost_home) -> None:
    def read(stream: Any) -> tuple[list[str], errors.APIError]:
        seen = []
        with pytest.raises(errors.ServerError) as info:
            for chunk in stream:
                seen.append(chunk.model_dump_json())
        return seen, info.value

    kw = {"model": "broken-model", "contents": "hi"}
    unwrapped = gemini(gemini_server)
    plain_seen, want = read(unwrapped.models.generate_content_stream(**kw))
    client = teamcost.instrument(gemini(gemini_server), tracker)
    seen, got = read(client.models.generate_content_stream(**kw))
    assert seen == plain_seen and len(seen) == 2
    same_error(got, want)
    assert len(gemini_server.requests) == 2             # one request each, no retry
    [r] = rows(tracker)
    assert (r.call_id, r.model, r.success) == (
        "google:gem-stream-broken-model", "gemini-2.5-flash", False)
    assert usage_of(r) == (1050, 300, 200) and r.cost_nanos == MIDWAY_NANOS
    assert r.error == f"ServerError: {want}" and "500 INTERNAL" in r.error

    other = Tracker(load_config().with_(ledger_path=teamcost_home / "async.db"))

    async def main() -> tuple[list[str], str]:
        aclient = teamcost.instrument(gemini(gemini_server), other).aio
        aseen = []
        with pytest.raises(errors.ServerError) as info:
            async for chunk in await aclient.models.generate_content_stream(**kw):
                aseen.append(chunk.model_dump_json())
        await aclient.aclose()
        return aseen, str(info.value)

    aseen, text = asyncio.run(main())
    assert aseen == plain_seen and text == str(want)
    [r2] = list(other.ledger.calls())
    assert (r2.call_id, usage_of(r2), r2.cost_nanos, r2.success) == (
        "google:gem-stream-broken-model", (1050, 300, 200), MIDWAY_NANOS, False)
    other.close()


def test_a_stream_closed_early_is_recorded_at_once(gemini_server, tracker,
                                                   teamcost_home) -> None:
    client = teamcost.instrument(gemini(gemini_server), tracker)
    stream = client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
    first = next(stream)
    assert first.text == "Hello" and rows(tracker) == []
    stream.close()
    [r] = rows(tracker)
    assert (r.call_id, usage_of(r), r.cost_nanos, r.success, r.error) == (
        "google:gem-stream-gemini-2.5-flash", (1050, 200, 200), EARLY_NANOS, True, None)

    other = Tracker(load_config().with_(ledger_path=teamcost_home / "async.db"))

    async def main() -> list[Any]:
        aclient = teamcost.instrument(gemini(gemini_server), other).aio
        stream = await aclient.models.generate_content_stream(model="gemini-2.5-flash",
                                                              contents="hi")
        async for _ in stream:
            break
        await stream.aclose()
        await aclient.aclose()
        return list(other.ledger.calls())             # recorded before the loop ends

    [r2] = asyncio.run(main())
    assert (usage_of(r2), r2.cost_nanos, r2.success) == ((1050, 200, 200), EARLY_NANOS, True)
    other.close()


def test_a_stream_left_by_break_is_recorded(gemini_server, tracker, teamcost_home) -> None:
    client = teamcost.instrument(gemini(gemini_server), tracker)
    for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
        break
    [r] = rows(tracker)               # at once: the dropped generator is closed on the spot
    assert (usage_of(r), r.cost_nanos, r.success) == ((1050, 200, 200), EARLY_NANOS, True)

    other = Tracker(load_config().with_(ledger_path=teamcost_home / "async.db"))

    async def main() -> list[Any]:
        aclient = teamcost.instrument(gemini(gemini_server), other).aio
        async for _ in await aclient.models.generate_content_stream(
                model="gemini-2.5-flash", contents="hi"):
            break
        # an async generator left this way is closed by the event loop, soon after
        deadline = asyncio.get_running_loop().time() + 10
        while not list(other.ledger.calls()) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await aclient.aclose()
        return list(other.ledger.calls())

    [r2] = asyncio.run(main())
    assert (usage_of(r2), r2.cost_nanos, r2.success) == ((1050, 200, 200), EARLY_NANOS, True)
    other.close()


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_automatic_function_calling_records_each_request(gemini_server, tracker) -> None:
    config = types.GenerateContentConfig(tools=[get_weather])
    unwrapped = gemini(gemini_server)
    plain = unwrapped.models.generate_content(model="tool-model",
                                              contents="Weather in Paris?", config=config)
    client = teamcost.instrument(gemini(gemini_server), tracker)
    got = client.models.generate_content(model="tool-model", contents="Weather in Paris?",
                                         config=config)
    assert got.model_dump_json() == plain.model_dump_json()
    assert got.text == "It is sunny in Paris."
    reqs = sent(gemini_server)
    assert len(reqs) == 4 and reqs[:2] == reqs[2:]
    # each request billed with its own usage (the SDK returns only the last response)
    assert [(r.call_id, r.model, usage_of(r), r.cost_nanos, r.tags) for r in rows(tracker)] == [
        ("google:gem-gen-tool-model-1", "gemini-2.5-flash", (400, 100, 0), TOOL1_NANOS,
         {"thoughts_tokens": "60"}),
        ("google:gem-gen-tool-model-2", "gemini-2.5-flash", (520, 25, 0), TOOL2_NANOS, {})]


def test_chats_are_recorded(gemini_server, tracker) -> None:
    client = teamcost.instrument(gemini(gemini_server), tracker)
    chat = client.chats.create(model="gemini-2.5-flash")
    assert chat.send_message("hi").text == "Hello there!"
    assert "".join(c.text for c in chat.send_message_stream("again")) == "Hello there!"
    assert [(r.call_id, r.cost_nanos) for r in rows(tracker)] == [
        ("google:gem-gen-gemini-2.5-flash", GEM_NANOS),
        ("google:gem-stream-gemini-2.5-flash", GEM_NANOS)]


def test_an_answer_without_usage_is_estimated(gemini_server, tracker) -> None:
    client = teamcost.instrument(gemini(gemini_server), tracker)
    client.models.generate_content(model="no-usage-model", contents="x" * 397)
    [r] = rows(tracker)
    # characters / 4, rounded up: the prompt's text as a JSON string, 397 + 2 quotes = 399
    # -> 100; the answer "Hello there!" 12 -> 3. A model nobody prices stays unpriced.
    assert (r.estimated, r.input_tokens, r.output_tokens, r.priced) == (True, 100, 3, False)
    assert r.call_id == "google:gem-gen-no-usage-model"


def test_a_raw_http_response_is_read_from_its_body(gemini_server, tracker) -> None:
    config = types.GenerateContentConfig(should_return_http_response=True)
    client = teamcost.instrument(gemini(gemini_server), tracker)
    got = client.models.generate_content(model="gemini-2.5-flash", contents="hi",
                                         config=config)
    assert got.usage_metadata is None and got.sdk_http_response.body
    [r] = rows(tracker)
    assert (r.call_id, usage_of(r), r.cost_nanos, r.tags) == (
        "google:gem-gen-gemini-2.5-flash", GEM, GEM_NANOS, {"thoughts_tokens": "100"})


def test_a_teamcost_failure_never_breaks_the_call(gemini_server, tracker, caplog,
                                                  monkeypatch) -> None:
    plain = gemini(gemini_server)
    client = teamcost.instrument(gemini(gemini_server), tracker)

    def broken(*args: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(tracker, "record_call", broken)
    monkeypatch.setattr(google_hook, "usage", broken)          # reading fails too
    with caplog.at_level(logging.ERROR, logger="teamcost"):
        got = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        chunks = dumps(client.models.generate_content_stream(model="gemini-2.5-flash",
                                                             contents="hi"))
    assert got.model_dump_json() == plain.models.generate_content(
        model="gemini-2.5-flash", contents="hi").model_dump_json()
    assert chunks == dumps(plain.models.generate_content_stream(model="gemini-2.5-flash",
                                                                contents="hi"))
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not read a response" in m for m in messages)
    assert any("could not read a stream event" in m for m in messages)
    assert sum("could not record" in m for m in messages) == 2
    assert list(tracker.ledger.calls()) == []


def test_instrumenting_twice_records_once(gemini_server, tracker) -> None:
    client = teamcost.instrument(teamcost.instrument(gemini(gemini_server), tracker),
                                 tracker)
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert len(rows(tracker)) == 2
    with pytest.raises(TypeError, match="supports google.genai.Client"):
        teamcost.instrument(client.models)


def test_an_sdk_without_the_per_request_methods_records_the_public_calls(
        gemini_server, tracker, monkeypatch, caplog) -> None:
    # as if a future google-genai renamed Models._generate_content / _generate_content_stream
    monkeypatch.setattr(google_hook, "PER_REQUEST", ("_gone", "_gone_stream"))
    unwrapped = gemini(gemini_server)
    with caplog.at_level(logging.WARNING, logger="teamcost"):
        client = teamcost.instrument(gemini(gemini_server), tracker)
    assert any("records generate_content calls" in r.getMessage() for r in caplog.records)
    got = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert got.model_dump_json() == unwrapped.models.generate_content(
        model="gemini-2.5-flash", contents="hi").model_dump_json()
    assert dumps(client.models.generate_content_stream(model="gemini-2.5-flash",
                                                       contents="hi")) == dumps(
        unwrapped.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))

    async def main() -> None:
        await client.aio.models.generate_content(model="gemini-2.5-pro", contents="hi")
        async for _ in await client.aio.models.generate_content_stream(
                model="gemini-2.5-pro", contents="hi"):
            pass
        await client.aio.aclose()

    asyncio.run(main())
    # gemini-2.5-pro asked through the Gemini API: its usage at the pro prices
    pro_nanos = 1050 * 1250 + 200 * 125 + 400 * 10_000            # 5,337,500
    assert [(r.call_id, usage_of(r), r.cost_nanos) for r in rows(tracker)] == [
        ("google:gem-gen-gemini-2.5-flash", GEM, GEM_NANOS),
        ("google:gem-gen-gemini-2.5-pro", GEM, pro_nanos),
        ("google:gem-stream-gemini-2.5-flash", GEM, GEM_NANOS),
        ("google:gem-stream-gemini-2.5-pro", GEM, pro_nanos)]
