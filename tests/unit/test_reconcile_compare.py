"""The pure half of `teamcost reconcile`: tolerance and --by parsing, model matching, row
judging, the verdict line and exit code, the CSV, line items, retry-after, the admin key.
Every expected number here is worked out by hand in the test."""

from __future__ import annotations

import csv
import io
import pickle
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from teamcost.errors import ConfigError, InvalidValue, ProviderAPIError
from teamcost.reconcile import wire
from teamcost.reconcile.compare import (
    CostBucket,
    RecordedBucket,
    Row,
    Tokens,
    UsageBucket,
    compare,
    judge_row,
    match_models,
    parse_by,
    parse_tolerance,
    tolerance_text,
)
from teamcost.reconcile.http import AdminKey, check_base_url, retry_after
from teamcost.reconcile.openai import line_item_model
from teamcost.reconcile.render import CSV_COLUMNS, to_csv
from teamcost.reconcile.service import day_window

D1, D2, D3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
CENT = 10_000_000           # nanos
DOLLAR = 1_000_000_000


def rec(day: date, model: str, nanos: int, calls: int = 1, tokens: Tokens = Tokens(),
        unpriced: int = 0) -> RecordedBucket:
    return RecordedBucket(day, model, calls, tokens, nanos, unpriced)


@pytest.mark.parametrize("text,expected", [
    ("2%", Fraction(2, 100)), ("0.5%", Fraction(1, 200)), ("0%", Fraction(0)),
    ("100%", Fraction(1)), (" 2.25 % ", Fraction(9, 400))])
def test_tolerance_is_an_exact_share(text: str, expected: Fraction) -> None:
    assert parse_tolerance(text) == expected


@pytest.mark.parametrize("bad", ["2", "0.02", "-1%", "101%", "x%", "%", "", "nan%", "inf%"])
def test_a_tolerance_without_percent_or_out_of_range_is_refused(bad: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_tolerance(bad)
    assert info.value.field == "tolerance"
    assert "2%" in str(info.value)


def test_tolerance_text_round_trips() -> None:
    assert [tolerance_text(parse_tolerance(t)) for t in ("2%", "0.5%", "0%", "12.25%")] == [
        "2%", "0.5%", "0%", "12.25%"]


def test_by_parses_in_a_fixed_order_and_refuses_others() -> None:
    assert parse_by(None) == ("day", "model")
    assert parse_by(["model,day"]) == ("day", "model")
    assert parse_by(["model"]) == ("model",)
    with pytest.raises(InvalidValue) as info:
        parse_by(["member"])
    assert info.value.field == "by"


def test_judging_uses_the_tolerance_of_billed_and_a_one_cent_floor() -> None:
    tol = Fraction(2, 100)
    # $10 billed: 2% is $0.20; exactly $0.20 off is within, one nano more is not
    assert judge_row(Row(D1, SONNET, billed_nanos=10 * DOLLAR,
                         recorded_nanos=10 * DOLLAR - 20 * CENT), tol) == "ok"
    assert judge_row(Row(D1, SONNET, billed_nanos=10 * DOLLAR,
                         recorded_nanos=10 * DOLLAR - 20 * CENT - 1), tol) == "unrecorded"
    assert judge_row(Row(D1, SONNET, billed_nanos=10 * DOLLAR,
                         recorded_nanos=10 * DOLLAR + 20 * CENT + 1), tol) == "overcounted"
    # nothing billed: anything from a cent up that was recorded is overcounted
    assert judge_row(Row(D1, SONNET, billed_nanos=0, recorded_nanos=CENT - 1), tol) == "ok"
    assert judge_row(Row(D1, SONNET, billed_nanos=0, recorded_nanos=CENT), tol) == "overcounted"
    # with 0% a cent still has to be missing before it counts
    assert judge_row(Row(D1, SONNET, billed_nanos=DOLLAR, recorded_nanos=DOLLAR - CENT + 1),
                     Fraction(0)) == "ok"


def test_models_match_across_prefixes_and_aliases_only_when_unambiguous() -> None:
    provider_models = {D1: {SONNET, HAIKU}, D2: {"claude-sonnet-4-5-20250929",
                                                 "claude-sonnet-4-5-20260101"}}
    out = match_models([rec(D1, "anthropic/claude-sonnet-4-5-20250929", 5),
                        rec(D1, "claude-sonnet-4-5", 7),          # the one snapshot that day
                        rec(D2, "claude-sonnet-4-5", 11),         # two snapshots: ambiguous
                        rec(D3, "claude-haiku-4-5", 13)],         # nothing billed that day
                       provider_models, "anthropic")
    got = {(b.day, b.model): (b.cost_nanos, b.calls) for b in out}
    assert got == {(D1, SONNET): (12, 2), (D2, "claude-sonnet-4-5"): (11, 1),
                   (D3, "claude-haiku-4-5"): (13, 1)}


def test_a_month_that_matches_is_ok_with_exit_0() -> None:
    usage = [UsageBucket(D1, SONNET, Tokens(100, 20, 500, 30)),
             UsageBucket(D2, SONNET, Tokens(200, 40, 500, 30))]
    costs = [CostBucket(D1, SONNET, 123_456_789), CostBucket(D2, SONNET, 246_913_578)]
    recorded = [rec(D1, SONNET, 123_456_789, 2, Tokens(100, 20, 500, 30)),
                rec(D2, SONNET, 246_913_578, 3, Tokens(200, 40, 500, 30))]
    c = compare(usage, costs, recorded, provider="anthropic")
    assert [(r.day, r.model, r.status, r.difference_nanos) for r in c.rows] == [
        (D1, SONNET, "ok", 0), (D2, SONNET, "ok", 0)]
    assert (c.total.billed_nanos, c.total.recorded_nanos) == (370_370_367, 370_370_367)
    assert c.total.provider_tokens == Tokens(300, 60, 1000, 60) == c.total.recorded_tokens
    assert c.verdict.exit_code == 0
    assert c.verdict.line == ("OK: teamcost recorded $0.37 of the $0.37 anthropic billed "
                              "(+0.00%), within 2%")


def test_unrecorded_spend_names_the_day_and_model_and_exits_3() -> None:
    costs = [CostBucket(D1, SONNET, 50 * DOLLAR), CostBucket(D2, SONNET, 148_200_000_000),
             CostBucket(D2, HAIKU, 3 * DOLLAR)]
    recorded = [rec(D1, SONNET, 50 * DOLLAR), rec(D2, HAIKU, 3 * DOLLAR)]
    c = compare([], costs, recorded, provider="anthropic")
    assert c.verdict.exit_code == 3
    assert c.verdict.unrecorded_nanos == 148_200_000_000
    assert c.verdict.line == ("UNRECORDED: $148.20 billed that no teamcost source recorded: "
                              f"2026-10-02 {SONNET} $148.20 (tolerance 2%)")
    assert [r.status for r in c.rows] == ["ok", "ok", "unrecorded"]


def test_a_double_counted_day_exits_4() -> None:
    costs = [CostBucket(D1, SONNET, 15_023_750_000)]
    recorded = [rec(D1, SONNET, 2 * 15_023_750_000, 4)]
    c = compare([], costs, recorded, provider="openai")
    assert c.verdict.exit_code == 4
    assert c.verdict.overcounted_nanos == 15_023_750_000
    assert c.verdict.line.startswith("OVERCOUNTED: $15.02 recorded that openai did not bill "
                                     f"(double counting or wrong prices): 2026-10-01 {SONNET} "
                                     "$15.02")


def test_both_directions_are_named_and_the_larger_decides() -> None:
    costs = [CostBucket(D1, SONNET, 10 * DOLLAR), CostBucket(D2, SONNET, 10 * DOLLAR)]
    recorded = [rec(D1, SONNET, 4 * DOLLAR), rec(D2, SONNET, 17 * DOLLAR)]
    c = compare([], costs, recorded, provider="anthropic")
    assert (c.verdict.unrecorded_nanos, c.verdict.overcounted_nanos) == (6 * DOLLAR, 7 * DOLLAR)
    assert c.verdict.exit_code == 4
    assert "UNRECORDED: $6.00" in c.verdict.line and "OVERCOUNTED: $7.00" in c.verdict.line
    # judged per day alone, the two days cancel out: --by model sees $24 of $20 billed
    by_model = compare([], costs, recorded, provider="anthropic", by=("model",))
    assert [(r.day, r.model, r.difference_nanos) for r in by_model.rows] == [
        (None, SONNET, 1 * DOLLAR)]
    assert by_model.verdict.exit_code == 4   # $1 over $20 is 5%, beyond 2%


def test_many_rows_under_the_floor_still_fail_over_the_window() -> None:
    # 40 models each missing $0.009 of $0.01: every row is under the cent floor, but the
    # window misses $0.36 of $0.40 billed
    costs = [CostBucket(D1, f"m{i}", CENT) for i in range(40)]
    recorded = [rec(D1, f"m{i}", CENT // 10) for i in range(40)]
    c = compare([], costs, recorded, provider="openai")
    assert all(r.status == "ok" for r in c.rows)
    assert c.verdict.exit_code == 3
    assert c.verdict.unrecorded_nanos == 40 * (CENT - CENT // 10) == 360_000_000
    assert "the whole window $0.36" in c.verdict.line


def test_partial_days_are_shown_apart_and_not_judged() -> None:
    costs = [CostBucket(D1, SONNET, DOLLAR), CostBucket(D2, SONNET, 9 * DOLLAR)]
    recorded = [rec(D1, SONNET, DOLLAR), rec(D2, SONNET, DOLLAR)]
    c = compare([], costs, recorded, provider="anthropic", by=("model",),
                partial_days=frozenset({D2}))
    assert [(r.day, r.model, r.partial, r.status) for r in c.rows] == [
        (None, SONNET, False, "ok"), (D2, SONNET, True, "partial")]
    assert c.verdict.exit_code == 0
    assert (c.partial_total.billed_nanos, c.partial_total.recorded_nanos) == (
        9 * DOLLAR, DOLLAR)
    judged = compare([], costs, recorded, provider="anthropic", by=("model",))
    assert judged.verdict.exit_code == 3


def test_findings_list_the_five_largest_and_count_the_rest() -> None:
    costs = [CostBucket(date(2026, 10, d), SONNET, d * DOLLAR) for d in range(1, 9)]
    c = compare([], costs, [], provider="anthropic")
    assert c.verdict.line == (
        "UNRECORDED: $36.00 billed that no teamcost source recorded: "
        f"2026-10-08 {SONNET} $8.00, 2026-10-07 {SONNET} $7.00, 2026-10-06 {SONNET} $6.00, "
        f"2026-10-05 {SONNET} $5.00, 2026-10-04 {SONNET} $4.00 and 3 more (tolerance 2%)")


def test_csv_has_fixed_columns_and_exact_money() -> None:
    usage = [UsageBucket(D1, SONNET, Tokens(10, 2, 3, 4), requests=5)]
    costs = [CostBucket(D1, SONNET, 1_234_567_891)]
    recorded = [rec(D1, SONNET, 1_200_000_000, 5, Tokens(10, 2, 3, 0), unpriced=1)]
    c = compare(usage, costs, recorded, provider="anthropic")
    doc = {"rows": [r.to_dict() for r in c.rows]}
    rows = list(csv.reader(io.StringIO(to_csv(doc))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert dict(zip(rows[0], rows[1])) == {
        "day": "2026-10-01", "model": SONNET, "status": "unrecorded",
        "billed_usd": "1.234567891", "recorded_usd": "1.200000000",
        "difference_usd": "-0.034567891", "difference_share": "-0.028000",
        "billed_nanos": "1234567891", "recorded_nanos": "1200000000",
        "difference_nanos": "-34567891",
        "provider_input_tokens": "10", "recorded_input_tokens": "10",
        "provider_output_tokens": "2", "recorded_output_tokens": "2",
        "provider_cache_read_tokens": "3", "recorded_cache_read_tokens": "3",
        "provider_cache_write_tokens": "4", "recorded_cache_write_tokens": "0",
        "provider_requests": "5", "recorded_calls": "5", "unpriced_calls": "1"}


@pytest.mark.parametrize("item,model", [
    ("gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06"),
    ("gpt-4o-2024-08-06, cached input", "gpt-4o-2024-08-06"),
    ("gpt-4.1-2025-04-14, output", "gpt-4.1-2025-04-14"),
    ("priority | gpt-5-2025-08-07, output", "gpt-5-2025-08-07"),
    ("gpt-image-1 image, output", "gpt-image-1"),
    ("gpt-5-2025-08-07, input, long context", "gpt-5-2025-08-07"),
    ("web search tool calls", "(web search tool calls)"),
    ("Image models", "(Image models)"),
    ("File search storage, tool", "(File search storage, tool)"),
    (None, "(unattributed)")])
def test_openai_line_items_name_their_model(item: str | None, model: str) -> None:
    assert line_item_model(item) == model


def test_retry_after_reads_seconds_milliseconds_and_http_dates() -> None:
    now = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "Thu, 01 Oct 2026 12:00:30 GMT"}, now) == 30.0
    assert retry_after({"retry-after": "Thu, 01 Oct 2026 11:00:00 GMT"}, now) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_the_admin_key_never_shows_itself() -> None:
    key = AdminKey("  sk-ant-admin01-abcdefghij-XY12\n", "ANTHROPIC_ADMIN_API_KEY")
    assert key.reveal() == "sk-ant-admin01-abcdefghij-XY12"
    for shown in (repr(key), str(key), f"{key}", repr([key])):
        assert "abcdefghij" not in shown and "ANTHROPIC_ADMIN_API_KEY" in shown
    with pytest.raises(TypeError):
        pickle.dumps(key)
    scrubbed = key.scrub("bad key sk-ant-admin01-abcdefghij-XY12 and sk-adm******XY12. ok")
    assert "abcdefghij" not in scrubbed and "XY12" not in scrubbed
    assert scrubbed.startswith("bad key [admin key] and sk-...")


@pytest.mark.parametrize("bad", ["", "   ", "sk-ant key", "sk-ant\nx", "sk-ant-é"])
def test_a_malformed_key_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        AdminKey(bad, "OPENAI_ADMIN_KEY")
    assert "OPENAI_ADMIN_KEY" in str(info.value)
    if bad.strip():
        assert bad.strip() not in str(info.value)


def test_base_urls_are_checked_and_credentials_refused() -> None:
    assert check_base_url("http://127.0.0.1:9/v1/", "X") == "http://127.0.0.1:9/v1"
    assert check_base_url("https://api.anthropic.com", "X") == "https://api.anthropic.com"
    for bad in ("ftp://x", "api.openai.com", "http://"):
        with pytest.raises(ConfigError):
            check_base_url(bad, "OPENAI_BASE_URL")
    with pytest.raises(ConfigError) as info:
        check_base_url("https://user:hunter2@gw.example.com", "OPENAI_BASE_URL")
    assert "hunter2" not in str(info.value)


def test_day_window_is_whole_utc_days_up_to_today() -> None:
    now = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    assert day_window("2026-10-01", "2026-10-31", now) == (date(2026, 10, 1), date(2026, 11, 1))
    assert day_window("7d", None, now) == (date(2026, 11, 18), date(2026, 11, 26))
    assert day_window("today", None, now) == (date(2026, 11, 25), date(2026, 11, 26))
    assert day_window("2026-11-20", "2026-12-31", now) == (date(2026, 11, 20),
                                                          date(2026, 11, 26))
    for since, until in (("2026-12-01", "2026-12-31"), ("2026-10-02", "2026-10-01"),
                         ("2024-01-01", "2026-01-01")):
        with pytest.raises(InvalidValue):
            day_window(since, until, now)


def test_wire_refuses_drifted_shapes_instead_of_reading_zero() -> None:
    with pytest.raises(ProviderAPIError, match="'data' list"):
        list(wire.buckets({"results": []}, "x"))
    with pytest.raises(ProviderAPIError, match="'output_tokens'"):
        wire.count({"output_tokens": "12"}, "output_tokens", "x")
    with pytest.raises(ProviderAPIError, match="amount"):
        wire.decimal(1.5, "x", "amount")       # a float is never read as money
    assert wire.decimal("123.45", "x", "amount") == Decimal("123.45")
    assert wire.usd_nanos(Decimal("0.0000000015"), "x") == 2      # half-even, once
    assert wire.usd_nanos(Decimal("0.0000000025"), "x") == 2
    assert wire.usd_nanos(Decimal("-1.5"), "x") == -1_500_000_000


class Pages:
    """Stands in for the HTTP client: hands the parsers the pages a server would."""

    def __init__(self, *bodies: dict) -> None:
        self.bodies = bodies
        self.asked: list[tuple[str, list[tuple[str, str]]]] = []

    def pages(self, path: str, params: list[tuple[str, str]]):  # noqa: ANN201
        self.asked.append((path, params))
        return iter(self.bodies)


def test_anthropic_parsers_read_both_cache_shapes_and_keep_the_window() -> None:
    from teamcost.reconcile import anthropic

    body = {"has_more": False, "next_page": None, "data": [
        {"starting_at": "2026-09-30T00:00:00Z", "results": [{"model": SONNET,
                                                           "output_tokens": 99}]},
        {"starting_at": "2026-10-01T00:00:00Z", "results": [
            {"model": SONNET, "uncached_input_tokens": 10, "output_tokens": 2,
             "cache_read_input_tokens": 3, "cache_creation_input_tokens": 4},
            {"model": None, "uncached_input_tokens": 1, "output_tokens": 1,
             "cache_creation": {"ephemeral_5m_input_tokens": 5,
                                "ephemeral_1h_input_tokens": 6}}]}]}
    usage = anthropic.usage(Pages(body), D1, D2)  # type: ignore[arg-type]
    assert [(u.day, u.model, u.tokens) for u in usage] == [
        (D1, SONNET, Tokens(10, 2, 3, 4)), (D1, "(unknown model)", Tokens(1, 1, 0, 11))]
    costs = {"has_more": False, "data": [{"starting_at": "2026-10-01T00:00:00Z", "results": [
        {"amount": "0.0000001", "currency": "USD", "model": SONNET},
        {"amount": "0.0000001", "currency": "USD", "model": SONNET},
        {"amount": "250", "currency": "USD", "model": None, "cost_type": "web_search"}]}]}
    got = anthropic.costs(Pages(costs), D1, D2)  # type: ignore[arg-type]
    # 0.0000002 cents = 2 nanos, summed before rounding (each alone would round to 1)
    assert {(c.model, c.cost_nanos) for c in got} == {(SONNET, 2),
                                                       ("(web_search)", 2_500_000_000)}
    eur = {"has_more": False, "data": [{"starting_at": "2026-10-01T00:00:00Z", "results": [
        {"amount": "1", "currency": "EUR", "model": SONNET}]}]}
    with pytest.raises(ProviderAPIError, match="US dollars only"):
        anthropic.costs(Pages(eur), D1, D2)  # type: ignore[arg-type]


def test_openai_parsers_prefer_uncached_tokens_and_skip_empty_amounts() -> None:
    from teamcost.reconcile import openai

    t0 = 1790812800  # 2026-10-01 00:00 UTC
    usage = {"object": "page", "has_more": False, "data": [{"start_time": t0, "results": [
        {"model": "gpt-5", "input_tokens": 100, "input_cached_tokens": 30,
         "input_cache_write_tokens": 20, "input_uncached_tokens": 50, "output_tokens": 7,
         "num_model_requests": 2},
        {"model": "gpt-4o", "input_tokens": 100, "input_cached_tokens": 30,
         "output_tokens": 7, "num_model_requests": 1}]}]}
    got = openai.usage(Pages(usage), D1, D2)  # type: ignore[arg-type]
    assert [(u.model, u.tokens, u.requests) for u in got] == [
        ("gpt-5", Tokens(50, 7, 30, 20), 2), ("gpt-4o", Tokens(70, 7, 30, 0), 1)]
    costs = {"has_more": False, "data": [{"start_time": t0, "results": [
        {"line_item": "gpt-5, input", "amount": {"value": Decimal("0.1"), "currency": "usd"}},
        {"line_item": "gpt-5, output", "amount": {"value": Decimal("0.2"), "currency": "usd"}},
        {"line_item": "gpt-5, output", "amount": None}]}]}
    got_costs = openai.costs(Pages(costs), D1, D2)  # type: ignore[arg-type]
    assert [(c.model, c.cost_nanos) for c in got_costs] == [("gpt-5", 300_000_000)]
    # an amount object without a value is a cost not read, not $0 (as for Anthropic)
    costs["data"][0]["results"].append(
        {"line_item": "gpt-5, output", "amount": {"value": None, "currency": "usd"}})
    with pytest.raises(ProviderAPIError, match="amount.value is None"):
        openai.costs(Pages(costs), D1, D2)  # type: ignore[arg-type]
