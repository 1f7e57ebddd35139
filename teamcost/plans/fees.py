"""Seat fees prorated exactly to a window.

A seat's monthly price is spread evenly over the seconds of each UTC calendar month: a
member holding plan P over the part [a, b) of month M owes ``price(P) * |[a, b)| / |M|``,
lengths in microseconds. A member's fee for a window is the exact sum of those fractions
over every plan span and month the window overlaps, rounded half-even once to a whole
nano-dollar. A total is the sum of its members' rounded fees, so rows add up to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from teamcost.plans.model import Plans

_US = timedelta(microseconds=1)


def _month_start(ts: datetime) -> datetime:
    ts = ts.astimezone(UTC)
    return datetime(ts.year, ts.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def exact_fee(price_nanos: int, since: datetime, until: datetime) -> Fraction:
    """``price_nanos`` per month over [since, until), as an exact fraction of nanos."""
    total = Fraction(0)
    start = _month_start(since)
    while start < until:
        end = _next_month(start)
        a, b = max(start, since), min(end, until)
        if a < b:
            total += Fraction(price_nanos * ((b - a) // _US), (end - start) // _US)
        start = end
    return total


def member_fee(plans: Plans, member: str, since: datetime, until: datetime) -> Fraction:
    total = Fraction(0)
    for a, b, plan in plans.intervals(member):
        lo, hi = max(a, since), min(b, until) if b is not None else until
        if lo < hi:
            total += exact_fee(plan.seat_nanos, lo, hi)
    return total


def seat_fees(plans: Plans, since: datetime, until: datetime) -> dict[str, int]:
    """Each seat holder's fees over [since, until), rounded half-even once (zero fees left
    out)."""
    out: dict[str, int] = {}
    for member in plans.members():
        fee = round(member_fee(plans, member, since, until))  # Fraction rounds half-even
        if fee:
            out[member] = fee
    return out

