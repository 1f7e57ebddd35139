"""Automatic capture: ``teamcost.instrument(client)`` for the OpenAI and Anthropic SDKs,
and a LiteLLM callback (``teamcost.capture.sdk.litellm``)."""

from __future__ import annotations

from typing import Any, TypeVar

C = TypeVar("C")


def instrument(client: C, tracker: Any = None) -> C:
    """Record every call made through ``client`` in the ledger; returns the same client.

    Supports openai.OpenAI / AsyncOpenAI (chat.completions.create / parse / stream,
    responses.create / parse / stream) and anthropic.Anthropic / AsyncAnthropic
    (messages.create / parse / stream), streaming or not, also through with_raw_response
    and with_streaming_response. Results and exceptions reach the caller unchanged; a
    failure inside teamcost is logged, never raised.
    """
    module = type(client).__module__.split(".")[0]
    if module == "openai":
        from teamcost.capture.sdk.openai import instrument_openai
        return instrument_openai(client, tracker)
    if module == "anthropic":
        from teamcost.capture.sdk.anthropic import instrument_anthropic
        return instrument_anthropic(client, tracker)
    raise TypeError(f"teamcost.instrument() supports openai.OpenAI, openai.AsyncOpenAI, "
                    f"anthropic.Anthropic and anthropic.AsyncAnthropic, not "
                    f"{type(client).__module__}.{type(client).__name__}")
