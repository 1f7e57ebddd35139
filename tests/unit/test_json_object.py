"""base.json_object parses with orjson when it can and answers exactly as json does:
the same values (integers past 64 bits stay integers) and the same reason for a bad line."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from teamcost.capture.logs import base
from teamcost.capture.logs.base import json_object, why_bad

SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 5,
                                                                   max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text())
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=20)


def _answer(line: bytes | str, parse: Any) -> tuple[str, Any]:
    try:
        return "ok", _comparable(parse(line))
    except (ValueError, TypeError, RecursionError) as exc:
        return "bad", why_bad(exc)


def _comparable(x: Any) -> Any:
    """NaN != NaN: compare a marker; ints and floats by type too."""
    if isinstance(x, float):
        return ("float", "nan" if math.isnan(x) else x)
    if isinstance(x, dict):
        return ("dict", [(k, _comparable(v)) for k, v in x.items()])
    if isinstance(x, list):
        return ("list", [_comparable(v) for v in x])
    return (type(x).__name__, x)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), VALUES, max_size=5), st.booleans(),
       st.sampled_from(["", " ", "\r\n", "x", "}", ",", "\x01"]))
def test_as_json_answers_for_objects_and_their_corruptions(obj: dict[str, Any],
                                                           ascii_only: bool, tail: str) -> None:
    text = json.dumps(obj, ensure_ascii=ascii_only) + tail
    for line in (text, text.encode("utf-8", "surrogatepass")):
        assert _answer(line, json_object) == _answer(line, base._plain_json_object)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_as_json_answers_for_any_bytes(raw: bytes) -> None:
    for line in (raw, b'{"a":' + raw + b"}"):
        assert _answer(line, json_object) == _answer(line, base._plain_json_object)


def test_known_differences_of_orjson_are_json_answers() -> None:
    big = b'{"output_tokens":123456789012345678901234567890}'
    assert json_object(big) == {"output_tokens": 123456789012345678901234567890}
    assert json_object(b'{"x":1e999}') == {"x": math.inf}
    assert json_object(b'\xef\xbb\xbf{"a":1}') == {"a": 1}
    assert json_object(b'{"a":"\\ud800"}') == {"a": "\ud800"}
    deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert _answer(deep, json_object) == ("bad", "not readable JSON (nested too deeply)")
