"""Unit tests of the call record: validation, exact money, the JSON round trip."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teamcost.errors import InvalidValue, TeamcostError
from teamcost.models import (CALL_FIELDS, MAX_NANOS, MAX_TS_AHEAD, CallRecord, check_not_future,
                             format_ts, record_from_json, record_to_json)
from teamcost.money import INT64_MAX, MAX_CALL_NANOS, SUM_EXACT_CALLS, usd_to_nanos

TS = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=timezone.utc)


def base(**changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = dict(call_id="c-1", ts=TS, team="core", member="ann@example.com",
                             ledger_id="host-1234abcd", provider="openai", model="gpt-4o",
                             input_tokens=1000, output_tokens=500, cost_nanos=7_500_000,
                             price_source="genai-prices")
    d.update(changes)
    return d


def test_a_valid_record_keeps_its_values() -> None:
    rec = CallRecord(**base(tags={"env": "ci"}, duration_s=2))
    assert rec.cost_usd == 0.0075
    assert rec.duration_s == 2.0 and isinstance(rec.duration_s, float)
    assert rec.total_tokens == 1500
    assert rec.tags == {"env": "ci"}
    assert CALL_FIELDS[0] == "call_id" and "cost_nanos" in CALL_FIELDS


def test_record_is_frozen() -> None:
    rec = CallRecord(**base())
    with pytest.raises(Exception):
        rec.model = "x"  # type: ignore[misc]


# (field, bad value) -> the error must name both
BAD_FIELDS: list[tuple[str, Any]] = [
    ("call_id", ""),
    ("call_id", "a/b"),
    ("call_id", "has space"),
    ("call_id", ".."),
    ("call_id", "__x__"),
    ("call_id", "x" * 129),
    ("call_id", 17),
    ("ts", datetime(2026, 1, 1)),            # naive: ambiguous
    ("ts", "yesterday"),
    ("ts", 1_700_000_000),
    ("team", ""),
    ("team", "   "),
    ("team", None),
    ("team", "t" * 129),
    ("member", 5),
    ("ledger_id", ""),
    ("provider", ""),
    ("model", ""),
    ("model", "m" * 257),
    ("price_source", None),
    ("session_id", ""),
    ("agent", 3),
    ("task_id", "t" * 257),
    ("correlation_id", ""),
    ("input_tokens", -1),
    ("input_tokens", 1.5),
    ("input_tokens", "10"),
    ("input_tokens", True),
    ("output_tokens", -5),
    ("cache_read_tokens", 10**12 + 1),
    ("cache_write_tokens", None),
    ("cost_nanos", -1),
    ("cost_nanos", 0.5),
    ("cost_nanos", 10**13 + 1),              # one nano above $10,000
    ("cost_nanos", INT64_MAX),
    ("cost_nanos", True),
    ("priced", 1),
    ("success", "yes"),
    ("estimated", None),
    ("duration_s", -0.1),
    ("duration_s", True),
    ("duration_s", "3"),
    ("duration_s", float("nan")),
    ("error", "e" * 2001),
    ("error", 42),
    ("tags", ["a"]),
    ("tags", {str(i): "v" for i in range(17)}),
]


@pytest.mark.parametrize("name,value", BAD_FIELDS, ids=[f"{n}={v!r}"[:40] for n, v in BAD_FIELDS])
def test_each_bad_field_is_refused_naming_field_and_value(name: str, value: Any) -> None:
    with pytest.raises(InvalidValue) as info:
        CallRecord(**base(**{name: value}))
    err = info.value
    assert isinstance(err, TeamcostError) and err.exit_code == 2
    assert err.field == name
    assert err.value is value or err.value == value
    msg = str(err)
    assert msg.startswith(f"invalid {name}: ")
    assert "expected" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("tags,field", [({"": "v"}, "tags"), ({"k" * 65: "v"}, "tags"),
                                        ({1: "v"}, "tags"), ({"k": 1}, "tags[k]"),
                                        ({"k": "v" * 257}, "tags[k]")])
def test_bad_tags_name_the_tag(tags: dict[Any, Any], field: str) -> None:
    with pytest.raises(InvalidValue) as info:
        CallRecord(**base(tags=tags))
    assert info.value.field == field


# -- the per-call maximum and the sum it bounds --

def test_cost_bound_is_ten_thousand_dollars_a_call() -> None:
    assert MAX_CALL_NANOS == MAX_NANOS == 10_000 * 10**9
    assert CallRecord(**base(cost_nanos=10**13)).cost_usd == 10_000.0
    assert CallRecord(**base(cost_nanos=0)).cost_nanos == 0
    with pytest.raises(InvalidValue) as info:
        CallRecord(**base(cost_nanos=10**13 + 1))
    assert str(info.value) == ("invalid cost_nanos: 10000000000001; expected an integer number "
                               "of nano-dollars from 0 to 10000000000000 ($10,000.00, the most "
                               "one call may cost)")


def test_a_periods_sum_of_maximal_calls_fits_int64_up_to_the_documented_count() -> None:
    # 922,337 calls at $10,000 fit in int64; one more does not (worked out by hand:
    # 2^63 - 1 = 9,223,372,036,854,775,807)
    assert SUM_EXACT_CALLS == 922_337
    assert 922_337 * 10**13 == 9_223_370_000_000_000_000 <= 2**63 - 1
    assert 922_338 * 10**13 > 2**63 - 1


# -- a call from the future --

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def test_ts_up_to_ten_minutes_ahead_is_accepted() -> None:
    assert MAX_TS_AHEAD == timedelta(minutes=10)
    for ts in (datetime(2026, 11, 20, 10, 10, tzinfo=timezone.utc),      # exactly 10 min
               datetime(2026, 11, 20, 10, 9, 59, 999999, tzinfo=timezone.utc),
               datetime(1971, 1, 1, tzinfo=timezone.utc)):
        assert check_not_future("ts", ts, NOW) == ts
    # 11:10 in UTC+1 is 10:10 UTC: the same instant, accepted
    plus1 = timezone(timedelta(hours=1))
    assert check_not_future("ts", datetime(2026, 11, 20, 11, 10, tzinfo=plus1), NOW)


@pytest.mark.parametrize("ts", [
    datetime(2026, 11, 20, 10, 10, 0, 1, tzinfo=timezone.utc),             # 10 min + 1 us
    datetime(2026, 11, 20, 12, 10, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc),
    datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-14))),  # past year 9999 in UTC
])
def test_ts_more_than_ten_minutes_ahead_is_refused_naming_ts(ts: datetime) -> None:
    with pytest.raises(InvalidValue) as info:
        check_not_future("ts", ts, NOW)
    assert info.value.field == "ts"
    msg = str(info.value)
    assert msg.startswith("invalid ts: '")
    assert msg.endswith("expected a time at most 10 minutes after now "
                        "(2026-11-20T10:00:00+00:00): a call cannot come from the future")


def test_a_stored_call_from_the_future_still_reads_back() -> None:
    # the bound applies when recording, not to reading: clocks differ between machines
    # (far ahead, yet inside the reportable range 2000..2099 every call keeps to)
    rec = CallRecord(**base(ts=datetime(2099, 6, 1, tzinfo=timezone.utc)))
    assert record_from_json(record_to_json(rec)) == rec


def test_ts_is_normalised_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    rec = CallRecord(**base(ts=datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=plus2)))
    assert rec.ts.tzinfo is timezone.utc
    assert rec.ts == TS
    assert rec.ts.hour == 10
    rec2 = CallRecord(**base(ts="2026-11-20T10:00:00.123456Z"))
    assert rec2.ts == TS


# -- usd_to_nanos: exact, half-even once --

@pytest.mark.parametrize("value,nanos", [
    ("0.0075", 7_500_000),
    (0.0075, 7_500_000),
    (0.1, 100_000_000),                  # the float's repr, not 0.1000000000000000055...
    (1, 1_000_000_000),
    (Decimal("0.02235"), 22_350_000),
    ("0.0000000005", 0),                 # 0.5 nano -> 0 (half to even)
    ("0.0000000015", 2),                 # 1.5 nano -> 2
    ("0.0000000025", 2),                 # 2.5 nano -> 2
    ("0.0000000035", 4),                 # 3.5 nano -> 4
    ("0.00000000250001", 3),             # just above half rounds up
    (" 2.5 ", 2_500_000_000),
    ("0", 0),
])
def test_usd_to_nanos_exact_half_even(value: Any, nanos: int) -> None:
    assert usd_to_nanos(value) == nanos


@pytest.mark.parametrize("value", [-0.01, "-1", "abc", "", float("inf"), float("nan"), True,
                                   None, "1e20"])
def test_usd_to_nanos_refuses(value: Any) -> None:
    with pytest.raises(InvalidValue) as info:
        usd_to_nanos(value, "cost_usd")
    assert info.value.field == "cost_usd"


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=9))
def test_usd_to_nanos_matches_integer_arithmetic(nanos: int, extra_digit: int) -> None:
    # a second, integer-only implementation of half-even rounding of nanos + d/10
    text = f"{nanos // 10**9}.{nanos % 10**9:09d}{extra_digit}"
    expected = nanos + (1 if extra_digit > 5 or (extra_digit == 5 and nanos % 2 == 1) else 0)
    assert usd_to_nanos(text) == expected


# -- JSON round trip --

_label = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: s.strip() != "")
_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True).filter(
    lambda s: s not in (".", "..") and not (s.startswith("__") and s.endswith("__")))
_tokens = st.integers(min_value=0, max_value=10**12)

records = st.builds(
    CallRecord,
    call_id=_ids,
    ts=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(timezone.utc)),
    team=_label, member=_label, ledger_id=_label, provider=_label, model=_label,
    input_tokens=_tokens, output_tokens=_tokens, cache_read_tokens=_tokens,
    cache_write_tokens=_tokens,
    cost_nanos=st.integers(min_value=0, max_value=MAX_NANOS),
    priced=st.booleans(), price_source=_label,
    session_id=st.none() | _label, agent=st.none() | _label, task_id=st.none() | _label,
    correlation_id=st.none() | _label,
    duration_s=st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
    success=st.booleans(), error=st.none() | st.text(max_size=50),
    tags=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=4),
    estimated=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(records)
def test_json_round_trip_is_lossless(rec: CallRecord) -> None:
    data = record_to_json(rec)
    # through real JSON text, as a JSONL export would
    back = record_from_json(json.loads(json.dumps(data)))
    assert back == rec
    assert back.cost_nanos == rec.cost_nanos and back.ts == rec.ts
    assert data["ts"].endswith("Z") and len(data["ts"]) == len("2026-11-20T10:00:00.123456Z")
    assert data["cost_usd"] == rec.cost_nanos / 1e9


def test_json_form_of_a_known_record() -> None:
    rec = CallRecord(**base())
    data = record_to_json(rec)
    assert data["ts"] == "2026-11-20T10:00:00.123456Z"
    assert format_ts(TS) == "2026-11-20T10:00:00.123456Z"
    assert data["cost_nanos"] == 7_500_000 and data["cost_usd"] == 0.0075
    assert list(data)[: len(CALL_FIELDS)] == list(CALL_FIELDS)
    # cost_usd is ignored on the way back: cost_nanos is the truth
    assert record_from_json({**data, "cost_usd": 99.0}).cost_nanos == 7_500_000


def test_from_json_names_missing_fields() -> None:
    data = record_to_json(CallRecord(**base()))
    del data["model"]
    with pytest.raises(InvalidValue, match="model"):
        record_from_json(data)
