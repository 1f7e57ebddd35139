"""Plans: coverage, seat history, classification and exact proration of seat fees, checked
against figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from teamcost.errors import InvalidValue
from teamcost.plans.classify import classify, covering_plan
from teamcost.plans.fees import exact_fee, seat_days, seat_fees, split_largest_remainder
from teamcost.plans.model import Cover, Plan, Plans, Seat, slot_ceil

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
MAX = Plan("Claude Max", 200_000_000_000,
           (Cover(source="claude-code", provider="anthropic", model="claude-*"),))
PRO = Plan("Claude Pro", 20_000_000_000, (Cover(source="claude-code"),))


def team(*seats: Seat) -> Plans:
    return Plans("t", {p.name: p for p in (MAX, PRO)}, seats)


def test_cover_patterns_match_without_case_and_all_must_match() -> None:
    c = Cover.parse("source=claude-code,model=claude-*")
    assert c.matches("claude-code", "anthropic", "Claude-Opus-4")
    assert not c.matches("cursor", "anthropic", "claude-opus-4")
    with pytest.raises(InvalidValue):
        Cover.parse("color=red")


def switch(member: str, old: str, new: str, at: datetime) -> tuple[Seat, Seat]:
    return Seat(member, old, at, holds=False), Seat(member, new, at)


def test_plans_at_are_those_whose_latest_event_holds() -> None:
    mid = datetime(2026, 11, 16, tzinfo=UTC)
    p = team(Seat("ann", "Claude Max", NOV), *switch("ann", "Claude Max", "Claude Pro", mid),
             Seat("bob", "Claude Max", NOV), Seat("bob", "Claude Pro", mid))
    assert p.plans_at("ann", mid - timedelta(microseconds=1)) == [MAX]
    assert p.plans_at("ann", mid) == [PRO]
    assert p.plans_at("ann", NOV - timedelta(seconds=1)) == []
    assert p.plans_at("cy", mid) == []
    assert p.plans_at("bob", mid) == [MAX, PRO]      # two plans at once
    assert p.intervals("ann") == [(NOV, mid, MAX), (mid, None, PRO)]


def test_seats_start_on_quarter_hours() -> None:
    assert slot_ceil(datetime(2026, 11, 3, 10, 0, 1, tzinfo=UTC)) == \
        datetime(2026, 11, 3, 10, 15, tzinfo=UTC)
    assert slot_ceil(NOV) == NOV
    with pytest.raises(InvalidValue):
        Seat("ann", "Claude Max", datetime(2026, 11, 3, 10, 7, tzinfo=UTC))


def test_classification_rules_in_order() -> None:
    p = team(Seat("ann", "Claude Max", NOV))
    ts = NOV + timedelta(days=2)
    # the source said so: wins over the plan
    assert classify("ann", ts, "anthropic", "claude-x", "claude-code",
                    {"billing": "metered"}, p) == ("metered", "source")
    assert classify("zed", ts, "cursor", "gpt-5", "cursor", {"billing": "plan"}, p) == \
        ("plan", "source")
    # the plan covers it
    assert classify("ann", ts, "anthropic", "claude-opus-4", "claude-code", {}, p) == \
        ("plan", "plan")
    # the plan does not cover the provider / source / time; no plan
    assert classify("ann", ts, "openai", "gpt-5", "claude-code", {}, p) == ("metered", "no-plan")
    assert classify("ann", ts, "anthropic", "claude-x", "sdk", {}, p) == ("metered", "no-plan")
    assert classify("ann", NOV - timedelta(days=1), "anthropic", "claude-x", "claude-code",
                    {}, p) == ("metered", "no-plan")
    assert classify("ann", ts, "anthropic", "claude-x", "claude-code", {}, None) == \
        ("metered", "plans-unknown")
    # an unknown billing value is not a source's word
    assert classify("ann", ts, "anthropic", "claude-x", "claude-code", {"billing": "x"}, p) \
        == ("plan", "plan")


def test_full_month_is_the_price_and_half_a_month_of_seconds_is_half() -> None:
    assert exact_fee(200_000_000_000, NOV, DEC) == 200_000_000_000
    # November has 30 days: from the 16th 00:00 is exactly 15/30 of it
    assert exact_fee(200_000_000_000, datetime(2026, 11, 16, tzinfo=UTC), DEC) == \
        100_000_000_000
    # one second of a $20 seat in November: 20e9 / 2,592,000 s
    one = exact_fee(20_000_000_000, NOV, NOV + timedelta(seconds=1))
    assert one == Fraction(20_000_000_000, 2_592_000)


def test_window_across_months_and_a_mid_month_change() -> None:
    mid = datetime(2026, 11, 16, tzinfo=UTC)
    p = team(Seat("ann", "Claude Max", NOV), *switch("ann", "Claude Max", "Claude Pro", mid),
             Seat("bob", "Claude Pro", datetime(2026, 12, 1, tzinfo=UTC)))
    # ann: Max Nov 1-16 = 200 * 15/30 = 100; Pro Nov 16 - Dec 1 = 20 * 15/30 = 10;
    # Pro Dec 1-11 = 20 * 10/31 = 6.451612903225806..., bob the same
    fees = seat_fees(p, NOV, datetime(2026, 12, 11, tzinfo=UTC))
    dec = round(Fraction(20_000_000_000 * 10, 31))
    assert fees == {"ann": 110_000_000_000 + dec, "bob": dec}
    assert dec == 6_451_612_903


def test_rounding_is_half_even_once_per_member() -> None:
    # a price of 1 nano for half a 30-day month: exactly 0.5 nano -> 0 (half to even)
    tiny = Plans("t", {"T": Plan("T", 1, ())}, (Seat("a", "T", NOV),))
    assert seat_fees(tiny, NOV, datetime(2026, 11, 16, tzinfo=UTC)) == {}
    three = Plans("t", {"T": Plan("T", 3, ())}, (Seat("a", "T", NOV),))
    assert seat_fees(three, NOV, datetime(2026, 11, 16, tzinfo=UTC)) == {"a": 2}  # 1.5 -> 2


def test_document_round_trip() -> None:
    p = team(Seat("ann", "Claude Max", NOV), Seat("ann", "Claude Max", DEC, holds=False))
    doc = p.to_doc()
    assert Plans.from_doc("t", doc) == p
    assert p.intervals("ann") == [(NOV, DEC, MAX)]
    with pytest.raises(InvalidValue):
        Plans("t", {}, (Seat("ann", "Nope", NOV),))


def test_largest_remainder_split_of_exact_parts() -> None:
    thirds = [Fraction(2, 3)] * 3                      # 2 in all
    assert split_largest_remainder(2, thirds) == [1, 1, 0]   # ties to the earlier part
    assert split_largest_remainder(5, [Fraction(7, 2), Fraction(3, 2)]) == [4, 1]
    assert split_largest_remainder(0, []) == []
    with pytest.raises(ValueError):
        split_largest_remainder(7, [Fraction(1, 2)])


def test_seat_days_add_up_to_the_members_fees() -> None:
    mid = datetime(2026, 11, 16, 10, tzinfo=UTC)
    p = team(Seat("ann", "Claude Max", NOV), *switch("ann", "Claude Max", "Claude Pro", mid),
             Seat("bob", "Claude Pro", datetime(2026, 11, 20, 6, 15, tzinfo=UTC)))
    until = datetime(2026, 12, 3, 12, tzinfo=UTC)
    days = seat_days(p, datetime(2026, 11, 10, 18, tzinfo=UTC), until)
    fees: dict[str, int] = {}
    for d in days:
        fees[d.member] = fees.get(d.member, 0) + d.nanos
        assert d.start < d.end and (d.end - d.start) <= timedelta(days=1)
        assert d.start.date() == (d.end - timedelta(microseconds=1)).date()  # one UTC day
    assert fees == seat_fees(p, datetime(2026, 11, 10, 18, tzinfo=UTC), until)
    anns = [(d.plan.name, d.start, d.end) for d in days if d.member == "ann"]
    # Max from Nov 10 18:00 to the switch on the 16th at 10:00, Pro from then on
    assert anns[0] == ("Claude Max", datetime(2026, 11, 10, 18, tzinfo=UTC),
                       datetime(2026, 11, 11, tzinfo=UTC))
    assert ("Claude Max", datetime(2026, 11, 16, tzinfo=UTC), mid) in anns
    assert ("Claude Pro", mid, datetime(2026, 11, 17, tzinfo=UTC)) in anns
    assert anns[-1] == ("Claude Pro", datetime(2026, 12, 3, tzinfo=UTC), until)
    # a December day of a $20 seat: 20/31 of a dollar, within a nano of exact
    dec2 = next(d for d in days if d.member == "bob" and d.start == datetime(2026, 12, 2,
                                                                              tzinfo=UTC))
    assert abs(dec2.nanos - Fraction(20_000_000_000, 31)) < 1


def test_covering_plan_is_the_seat_a_plan_call_is_charged_to() -> None:
    p = team(Seat("ann", "Claude Max", NOV), Seat("ann", "Claude Pro", NOV))
    at = datetime(2026, 11, 5, tzinfo=UTC)
    # both cover Claude Code's claude-* calls: the first by name
    assert covering_plan("ann", at, "anthropic", "claude-x", "claude-code", p) is MAX
    assert covering_plan("ann", at, "openai", "gpt-5", "claude-code", p) is PRO
    assert covering_plan("ann", at, "openai", "gpt-5", "cursor", p) is None
    assert covering_plan("bob", at, "anthropic", "claude-x", "claude-code", p) is None
    assert covering_plan("ann", at, "anthropic", "claude-x", "claude-code", None) is None
