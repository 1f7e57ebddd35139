"""The FOCUS export's exact split of a group's recorded cost across token kinds."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from teamcost.pricing import Billed, Pricer, UnitPrices
from teamcost.reports.focus import Group, kind_costs, split_exact, usd_text

TS = datetime(2026, 11, 17, 12, tzinfo=UTC)


def test_usd_text_is_exact() -> None:
    assert usd_text(0) == "0.000000000"
    assert usd_text(1) == "0.000000001"
    assert usd_text(1_234_567_891_234) == "1234.567891234"


def test_split_follows_largest_remainders_ties_to_the_earlier_kind() -> None:
    assert split_exact(10, [1, 1, 1]) == [4, 3, 3]
    assert split_exact(2, [1, 1, 1]) == [1, 1, 0]
    assert split_exact(7, [0, 5, 0]) == [0, 7, 0]
    assert split_exact(100, [Decimal("0.5"), Decimal("1.5")]) == [25, 75]
    assert split_exact(0, [1, 2]) == [0, 0]
    with pytest.raises(ValueError):
        split_exact(5, [0, 0])


def test_split_always_adds_up_and_stays_within_one_nano_of_proportional() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        weights = [Decimal(rng.randint(0, 10**12)) / Decimal(10**rng.randint(0, 9))
                   for _ in range(rng.randint(1, 5))]
        if sum(weights) == 0:
            continue
        total = rng.randint(0, 10**15)
        parts = split_exact(total, weights)
        assert sum(parts) == total
        whole = sum(weights)
        for part, w in zip(parts, weights):
            exact = Decimal(total) * w / whole
            assert abs(part - exact) < 1
            assert part >= 0 and (w > 0 or part == 0)


def _group(inp: int, out: int, cr: int, cw: int, web: int, cost: int, tier: int = 0,
           calls: int = 1) -> Group:
    g = Group(0, "t", "m", "anthropic", "claude-sonnet-4-5", None, "{}", "genai", True, tier)
    g.sums = [calls, 0, inp, out, cr, cw, 0, web, cost]
    return g


def test_a_single_call_splits_into_its_own_per_kind_prices() -> None:
    """Independently: Sonnet 4.5 at $3 / $15 / $0.30 / $3.75 per Mtok and $10 per 1,000
    searches; each kind's share is its own cost (all whole nanos here)."""
    pricer = Pricer()
    price = pricer.price("anthropic", "claude-sonnet-4-5", 3000, 2000, 1000, 500,
                         web_search_requests=3, ts=TS)
    up = pricer.unit_prices("anthropic", "claude-sonnet-4-5", price.source, TS)
    got = kind_costs(_group(3000, 2000, 1000, 500, 3, price.cost_nanos), up)
    assert got == {"input": 9_000_000, "output": 30_000_000, "cache_read": 300_000,
                   "cache_write": 1_875_000, "server_tool": 30_000_000}
    assert sum(got.values()) == price.cost_nanos


def test_long_context_tier_weights_use_the_tier_prices() -> None:
    pricer = Pricer()
    price = pricer.price("anthropic", "claude-sonnet-4-5", 300_000, 2000, ts=TS)
    up = pricer.unit_prices("anthropic", "claude-sonnet-4-5", price.source, TS)
    assert isinstance(up, UnitPrices) and up.tier_of(300_000) == 200_000
    got = kind_costs(_group(300_000, 2000, 0, 0, 0, price.cost_nanos, tier=200_000), up)
    assert got["input"] == 300_000 * 6_000 and got["output"] == 2000 * 22_500


def test_rounded_calls_split_exactly_and_without_prices_by_quantity() -> None:
    up = UnitPrices((Decimal("0.15"), Decimal("0.6"), Decimal("0.075"), None, None, None))
    rng = random.Random(3)
    for _ in range(300):
        q = [rng.randint(0, 5000) for _ in range(4)]
        calls = rng.randint(1, 40)
        cost = int(sum(Decimal(a) * b for a, b in zip(q, (150, 600, 75, 150)))) + \
            rng.randint(-calls, calls)
        cost = max(cost, 0)
        got = kind_costs(_group(*q, 0, cost, calls=calls), up)
        assert sum(got.values()) == cost
    assert kind_costs(_group(100, 300, 0, 0, 0, 1000), None) == {
        "input": 250, "output": 750, "cache_read": 0, "cache_write": 0, "server_tool": 0}
    assert kind_costs(_group(0, 0, 0, 0, 0, 999), None) == {"request": 999}
    assert Billed() == Billed(0, 0, 0, 0, 0, 0)


def test_tags_are_read_defensively() -> None:
    from teamcost.reports.focus import _TagCache

    tags = _TagCache()
    assert tags.parse(None) == ("{}", 0, 0, "", "")
    assert tags.parse("not json") == ("{}", 0, 0, "", "")
    assert tags.parse("[1, 2]") == ("{}", 0, 0, "", "")
    attribution, cw_1h, web, source, billing = tags.parse(
        '{"project": "p\\n=x", "pr": "7", "web_search_requests": "-3", '
        '"cache_write_1h_tokens": "12", "other": "kept out", "source": "cursor", '
        '"billing": "plan"}')
    assert (attribution, cw_1h, web) == ('{"pr":"7","project":"p\\n=x"}', 12, 0)
    assert (source, billing) == ("cursor", "plan")
    # a tag of the wrong type is no source and no billing
    assert tags.parse('{"source": 3, "billing": ["plan"]}')[3:] == ("", "")


def test_a_seat_day_is_amortized_into_the_plan_usage_it_covered() -> None:
    """Two plan-usage groups of ann on Nov 17 covered by her Max seat, a metered one, and a
    hostile seat holder with no calls: the day's fee goes to the covered rows by list
    value (largest remainder), the idle seat-day is an Unused row, labels stay exact."""
    import csv
    import io
    import json

    from teamcost.periods import Window
    from teamcost.plans.model import Cover, Plan, Plans, Seat
    from teamcost.reports.focus import _Prices, rows_of, seat_book, write_csv

    nov17 = datetime(2026, 11, 17, tzinfo=UTC)
    day = int(nov17.timestamp()) // 86_400
    hostile = '=cmd|"/c calc"!A1\n<b>'
    plan = Plan("Claude Max", 300_000_000_000, (Cover(source="claude-code"),))
    plans = Plans("t", {plan.name: plan}, (Seat("ann", plan.name, nov17),
                                          Seat(hostile, plan.name, nov17)))

    def group(model: str, billing: str, cost: int) -> Group:
        g = Group(day, "t", "ann", "acme", model, "claude-code", "{}", "reported", True, 0,
                  billing, plan.name if billing == "plan" else "")
        g.sums = [1, 0, 100, 0, 0, 0, 0, 0, cost]     # input tokens only: one row each
        return g

    groups = [group("a", "plan", 1), group("b", "plan", 2), group("c", "metered", 5)]
    window = Window(nov17, datetime(2026, 11, 18, tzinfo=UTC), "d")
    prices = _Prices(Pricer(warn_unpriced=False))
    book = seat_book(groups, prices, window, "t", plans)
    fee = 10_000_000_000                                 # $300 / 30 days
    assert [d.nanos for d in book.days] == [fee, fee]
    # $10 over list values 1 and 2 nanos: 3,333,333,333.3 and 6,666,666,666.7 -> +1 to b
    assert book.effective == {0: {"input": 3_333_333_333}, 1: {"input": 6_666_666_667}}
    buf = io.StringIO()
    write_csv(buf, rows_of(groups, prices, window, book))
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    # the calls' rows, then the seats' (members in name order: the hostile one first)
    kinds = [(r["x_Billing"], r["ChargeCategory"], r["CommitmentDiscountStatus"],
              r["BilledCost"], r["EffectiveCost"]) for r in rows]
    assert kinds == [("plan", "Usage", "Used", "0.0", "3.333333333"),
                     ("plan", "Usage", "Used", "0.0", "6.666666667"),
                     ("metered", "Usage", "", "0.000000005", "0.000000005"),
                     ("seat", "Purchase", "", "10.0", "0.0"),
                     ("seat", "Usage", "Unused", "0.0", "10.0"),
                     ("seat", "Purchase", "", "10.0", "0.0")]
    idle = rows[3:5]
    assert all(json.loads(r["Tags"])["member"] == hostile for r in idle)
    assert all(r["x_Member"] == "'" + hostile for r in idle)   # spreadsheet-safe
    assert {r["CommitmentDiscountId"] for r in idle} == {
        f"teamcost/t/seats/Claude Max/{hostile}"}
    assert rows[5]["x_Member"] == "ann"
