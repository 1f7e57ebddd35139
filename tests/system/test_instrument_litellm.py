"""The LiteLLM callback, called the way LiteLLM calls a CustomLogger: kwargs with
response_cost / litellm_params / standard_logging_object, a response with LiteLLM's
normalised usage, and naive local datetime.now() start and end times.

litellm itself is not installed for the tests: its newest release needs a certifi the
package index does not serve, and older ones would downgrade openai (3.x -> 2.x) and click
for the whole project. The kwargs and usage shapes follow LiteLLM's source
(litellm_logging.py: start_time/end_time = datetime.datetime.now(), hooks called with
keyword arguments kwargs/response_obj/start_time/end_time; the Anthropic transformation:
prompt_tokens = input + cache reads + cache writes, prompt_tokens_details.cached_tokens =
cache reads, cache_creation_input_tokens = writes). Once, by hand, in a throwaway venv with
litellm 1.106.2, TeamcostLogger was driven by the real litellm.completion / acompletion
against tests/llm_server.py (OpenAI and Anthropic, streaming, 429s): exact tokens, LiteLLM's
cost kept (5,750,000 and 4,125,000 nanos), and acompletion reported through both the async
and the sync hook, hence the last test here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from teamcost.config import load_config
from teamcost.capture.sdk.litellm import TeamcostLogger
from teamcost.tracker import Tracker

from tests.system.test_instrument import CHAT_NANOS, MSG_NANOS

UTC = timezone.utc
START = datetime(2026, 11, 20, 10, tzinfo=UTC)
END = START + timedelta(seconds=2)


@pytest.fixture
def tracker(teamcost_home) -> Iterator[Tracker]:
    t = Tracker(load_config())
    yield t
    t.close()


def only(tracker: Tracker) -> Any:
    [r] = tracker.ledger.calls()
    return r


def test_openai_call_keeps_litellms_cost(tracker) -> None:
    response = {"id": "chatcmpl-lite1", "model": "gpt-4o",
                "usage": {"prompt_tokens": 1200, "completion_tokens": 300,
                          "prompt_tokens_details": {"cached_tokens": 200}}}
    kwargs = {"model": "gpt-4o", "response_cost": 0.00575,
              "litellm_params": {"custom_llm_provider": "openai"},
              "standard_logging_object": {"id": "litellm-uuid-1", "response_cost": 0.00575}}
    TeamcostLogger(tracker).log_success_event(kwargs, response, START, END)
    r = only(tracker)
    assert (r.call_id, r.provider, r.model, r.cost_nanos, r.price_source) == (
        "litellm:chatcmpl-lite1", "openai", "gpt-4o", 5_750_000, "reported")
    assert (r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens) == (
        1000, 300, 200, 0)
    assert (r.duration_s, r.ts, r.success) == (2.0, END, True)    # ts: when it completed


@pytest.mark.parametrize("provider", ["anthropic", "bedrock"])
def test_anthropic_usage_without_litellm_cost_is_priced_by_teamcost(tracker,
                                                                    provider: str) -> None:
    # LiteLLM's Usage for Anthropic's 500 input + 1000 cache read + 300 cache write
    usage = SimpleNamespace(prompt_tokens=1800, completion_tokens=80,
                            prompt_tokens_details=SimpleNamespace(cached_tokens=1000,
                                                                  cache_creation_tokens=300),
                            cache_read_input_tokens=1000, cache_creation_input_tokens=300)
    response = SimpleNamespace(id="msg_lite2", model="claude-sonnet-4-5", usage=usage)
    kwargs = {"model": "anthropic/claude-sonnet-4-5",
              "litellm_params": {"custom_llm_provider": provider}}
    asyncio.run(TeamcostLogger(tracker).async_log_success_event(kwargs, response, START, END))
    r = only(tracker)
    assert (r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens) == (
        500, 80, 1000, 300)
    assert r.call_id == "litellm:msg_lite2" and r.provider == provider
    if provider == "anthropic":
        assert r.cost_nanos == MSG_NANOS and r.price_source.startswith("genai-prices")


def test_naive_local_times_are_read_as_local(tracker, monkeypatch) -> None:
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        start = datetime(2026, 11, 20, 12, 0, 0)              # LiteLLM: datetime.now()
        end = datetime(2026, 11, 20, 12, 0, 3, 500000)
        response = {"id": "chatcmpl-lite3", "model": "gpt-4o",
                    "usage": {"prompt_tokens": 1200, "completion_tokens": 300,
                              "prompt_tokens_details": {"cached_tokens": 200}}}
        TeamcostLogger(tracker).log_success_event(
            {"litellm_params": {"custom_llm_provider": "openai"}}, response, start, end)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    r = only(tracker)
    # 12:00:03.5 PST (UTC-8 in November) is 20:00:03.5 UTC
    assert r.ts == datetime(2026, 11, 20, 20, 0, 3, 500000, tzinfo=UTC)
    assert (r.duration_s, r.cost_nanos, r.priced) == (3.5, CHAT_NANOS, True)


def test_failure_is_recorded_without_cost(tracker) -> None:
    kwargs = {"model": "claude-sonnet-4-5", "exception": RuntimeError("overloaded"),
              "response_cost": 0.0, "litellm_params": {"custom_llm_provider": "anthropic"},
              "standard_logging_object": {"id": "litellm-uuid-4"}}
    asyncio.run(TeamcostLogger(tracker).async_log_failure_event(kwargs, None, START, END))
    r = only(tracker)
    assert (r.success, r.provider, r.model, r.error, r.cost_nanos, r.call_id) == (
        False, "anthropic", "claude-sonnet-4-5", "RuntimeError: overloaded", 0,
        "litellm:litellm-uuid-4")


def test_a_teamcost_failure_is_logged_not_raised(tracker, monkeypatch, caplog) -> None:
    def broken(rec: Any) -> bool:
        raise OSError("disk full")

    monkeypatch.setattr(tracker, "record_call", broken)
    with caplog.at_level(logging.ERROR, logger="teamcost"):
        TeamcostLogger(tracker).log_success_event({}, {"id": "x", "model": "gpt-4o"}, START,
                                                  END)
    assert any("could not record a LiteLLM call" in r.getMessage() for r in caplog.records)


def test_one_call_reported_through_both_hooks_is_recorded_once(tracker, caplog) -> None:
    """LiteLLM 1.106 calls async_log_success_event and then log_success_event for one
    acompletion (seen against the real library): one row, no conflict logged, even when
    the two reports differ (here the cost) and even without a response id."""
    cb = TeamcostLogger(tracker)
    response = {"id": "chatcmpl-both", "model": "gpt-4o",
                "usage": {"prompt_tokens": 1200, "completion_tokens": 300,
                          "prompt_tokens_details": {"cached_tokens": 200}}}
    kwargs = {"response_cost": 0.00575, "litellm_params": {"custom_llm_provider": "openai"}}
    no_id = {"model": "gpt-4o", "usage": response["usage"]}
    kw_no_id = dict(kwargs, litellm_call_id="5f0c2d7e-litellm-call")
    with caplog.at_level(logging.ERROR, logger="teamcost"):
        asyncio.run(cb.async_log_success_event(kwargs, response, START, END))
        cb.log_success_event(dict(kwargs, response_cost=0.006), response, START, END)
        asyncio.run(cb.async_log_success_event(kw_no_id, no_id, START, END))
        cb.log_success_event(kw_no_id, no_id, START, END + timedelta(seconds=1))
    assert not caplog.records
    recs = sorted(tracker.ledger.calls(), key=lambda r: r.call_id)
    assert [(r.call_id, r.cost_nanos) for r in recs] == [
        ("litellm:5f0c2d7e-litellm-call", 5_750_000), ("litellm:chatcmpl-both", 5_750_000)]
