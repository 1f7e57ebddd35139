"""How the Google GenAI hook reads Gemini usage and names (pure: SDK objects built here,
no server): every number below is worked by hand from the field meanings Google gives."""

from __future__ import annotations

import pytest
from google.genai import types

from teamcost.capture.sdk.common import Call, Usage
from teamcost.capture.sdk.google import PromptText, read, requested_model, usage
from teamcost.tracker import Tracker


@pytest.mark.parametrize("given, name", [
    ("gemini-2.5-flash", "gemini-2.5-flash"),
    ("models/gemini-2.5-flash", "gemini-2.5-flash"),
    ("publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
    ("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro",
     "gemini-2.5-pro"),
    ("google/gemini-2.5-pro", "gemini-2.5-pro"),
    ("tunedModels/1234567890", "tunedModels/1234567890"),   # kept: names a tuned model
    ("projects/p/locations/l/endpoints/42", "projects/p/locations/l/endpoints/42"),
    ("models/", "models/"), ("", "unknown"), (None, "unknown"),
])
def test_requested_model(given, name) -> None:
    assert requested_model(given) == name


def test_usage_of_an_sdk_object_and_of_raw_json_agree() -> None:
    # prompt 1200 includes 200 cached; 50 tool-use prompt tokens are input too;
    # output = candidates 300 + thoughts 100
    sdk = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=1200, cached_content_token_count=200, candidates_token_count=300,
        thoughts_token_count=100, tool_use_prompt_token_count=50, total_token_count=1650)
    raw = {"promptTokenCount": 1200, "cachedContentTokenCount": 200,
           "candidatesTokenCount": 300, "thoughtsTokenCount": 100,
           "toolUsePromptTokenCount": 50, "totalTokenCount": 1650}
    want = (Usage(1050, 400, 200, 0), 100)
    assert usage(sdk) == want and usage(raw) == want


def test_usage_with_fields_missing_or_wrong() -> None:
    assert usage(None) is None
    assert usage(types.GenerateContentResponseUsageMetadata()) == (Usage(0, 0, 0, 0), 0)
    # a stream's first chunk: the prompt only
    assert usage({"promptTokenCount": 10}) == (Usage(10, 0, 0, 0), 0)
    # nonsense (negative, bool, text, more cached than prompt) never goes negative
    assert usage({"promptTokenCount": -5, "candidatesTokenCount": True,
                  "thoughtsTokenCount": "7"}) == (Usage(0, 0, 0, 0), 0)
    assert usage({"promptTokenCount": 10, "cachedContentTokenCount": 25}) == (
        Usage(0, 0, 10, 0), 0)


def _call(teamcost_home) -> Call:
    return Call("google", "gemini-2.5-flash", Tracker())


def test_read_takes_model_id_usage_and_the_thoughts_tag(teamcost_home) -> None:
    call = _call(teamcost_home)
    resp = types.GenerateContentResponse(
        response_id="abc123", model_version="gemini-2.5-flash-preview-09-2025",
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=10, candidates_token_count=5, thoughts_token_count=7))
    read(call, resp)
    assert (call.call_id, call.model, call.usage, call.tags) == (
        "google:abc123", "gemini-2.5-flash-preview-09-2025", Usage(10, 12, 0, 0),
        {"thoughts_tokens": "7"})
    # a later chunk without usage keeps what was seen; one with usage replaces it
    read(call, types.GenerateContentResponse(response_id="abc123"))
    assert call.usage == Usage(10, 12, 0, 0)
    read(call, types.GenerateContentResponse(
        usage_metadata=types.GenerateContentResponseUsageMetadata(prompt_token_count=10,
                                                                  candidates_token_count=9)))
    assert call.usage == Usage(10, 9, 0, 0) and call.tags == {}
    assert call.model == "gemini-2.5-flash-preview-09-2025" and call.call_id == "google:abc123"


def test_read_keeps_answer_text_for_an_estimate_but_not_thoughts(teamcost_home) -> None:
    call = _call(teamcost_home)
    read(call, types.GenerateContentResponse(candidates=[types.Candidate(
        content=types.Content(role="model", parts=[
            types.Part(text="thinking...", thought=True), types.Part(text="Hi"),
            types.Part(function_call=types.FunctionCall(name="f", args={}))]))]))
    assert call.usage is None and call.text == ["Hi"]


def test_prompt_text_is_the_text_of_any_contents() -> None:
    assert str(PromptText("hello")) == "hello"
    assert str(PromptText(["a", types.Part(text="b"),
                           types.Content(role="user", parts=[types.Part(text="c")]),
                           {"role": "user", "parts": [{"text": "d"}, {"inline_data": {}}]},
                           None])) == "a\nb\nc\nd"
    assert str(PromptText(None)) == ""


def test_a_calls_own_tags_never_override_or_overflow_the_callers(teamcost_home) -> None:
    t = Tracker()

    def record(**tags: str) -> dict[str, str]:
        with t.session("s", tags=tags):
            call = Call("google", "gemini-2.5-flash", t, usage=Usage(1, 1))
        call.tags["thoughts_tokens"] = "5"
        call.finish()
        return dict(list(t.ledger.calls())[-1].tags)

    assert record(team_area="x") == {"team_area": "x", "thoughts_tokens": "5"}
    assert record(thoughts_tokens="mine") == {"thoughts_tokens": "mine"}
    full = {f"t{i}": "v" for i in range(16)}               # the limit: 16 tags
    assert record(**full) == full                          # recorded, without teamcost's
    t.close()
