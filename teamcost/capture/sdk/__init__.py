"""Automatic capture: ``teamcost.instrument(client)`` for the OpenAI, Anthropic and Google
GenAI SDKs, and a LiteLLM callback (``teamcost.capture.sdk.litellm``)."""

from __future__ import annotations

from typing import Any, TypeVar

C = TypeVar("C")


def instrument(client: C, tracker: Any = None) -> C:
    """Record every call made through ``client`` in the ledger; returns the same client.

    Supports openai.OpenAI / AsyncOpenAI (chat.completions.create / parse / stream,
    responses.create / parse / stream) and anthropic.Anthropic / AsyncAnthropic
    (messages.create / parse / stream), streaming or not, also through with_raw_response
    and with_streaming_response; and google.genai.Client, Gemini API or Vertex AI
    (models.generate_content / generate_content_stream, also on client.aio and through
    chats: each request they send is recorded once). Results and exceptions reach the
    caller unchanged; a failure inside teamcost is logged, never raised.
    """
    module = type(client).__module__.split(".")[0]
    if module == "openai":
        from teamcost.capture.sdk.openai import instrument_openai
        return instrument_openai(client, tracker)
    if module == "anthropic":
        from teamcost.capture.sdk.anthropic import instrument_anthropic
        return instrument_anthropic(client, tracker)
    if type(client).__module__.startswith("google.genai"):
        from teamcost.capture.sdk.google import instrument_google
        return instrument_google(client, tracker)
    raise TypeError(f"teamcost.instrument() supports openai.OpenAI, openai.AsyncOpenAI, "
                    f"anthropic.Anthropic, anthropic.AsyncAnthropic and google.genai.Client, "
                    f"not "
                    f"{type(client).__module__}.{type(client).__name__}")
