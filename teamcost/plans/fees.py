"""Seat fees prorated exactly to a window.

A seat's monthly price is spread evenly over the seconds of each UTC calendar month: a
member holding plan P over the part [a, b) of month M owes ``price(P) * |[a, b)| / |M|``,
lengths in microseconds. A member's fee for a window is the exact sum of those fractions
over every plan span and month the window overlaps, rounded half-even once to a whole
nano-dollar. A total is the sum of its members' rounded fees, so rows add up to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from teamcost.plans.model import Plan, Plans

_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)


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



@dataclass(frozen=True)
class SeatDay:
    """One member's seat of one plan over [start, end): a UTC day, clipped to the window
    and to the seat's span; ``nanos`` is its share of the member's rounded fee."""

    member: str
    plan: Plan
    start: datetime
    end: datetime
    nanos: int


def split_largest_remainder(total: int, parts: list[Fraction]) -> list[int]:
    """Integers, one per exact part, adding up to ``total``: each part's floor, and the
    nano-dollars left over one each to the largest fractional remainders (ties to the
    earlier part). ``total`` must lie between the sum of the floors and that sum plus the
    number of parts (``round(sum(parts))`` does)."""
    floors = [p.numerator // p.denominator for p in parts]
    left = total - sum(floors)
    if not 0 <= left <= len(parts):
        raise ValueError(f"cannot split {total} over parts summing to {sum(parts)}")
    order = sorted(range(len(parts)), key=lambda i: (-(parts[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def seat_days(plans: Plans, since: datetime, until: datetime) -> list[SeatDay]:
    """Every member's seat fees over [since, until) by plan and UTC day: each member's
    pieces add up to ``seat_fees``' rounded fee for that member exactly (the fee is
    rounded once, then split by the largest-remainder rule), in member, then time order."""
    out: list[SeatDay] = []
    for member in plans.members():
        pieces: list[tuple[datetime, datetime, Plan]] = []
        exact: list[Fraction] = []
        for a, b, plan in plans.intervals(member):
            lo, hi = max(a, since), min(b, until) if b is not None else until
            day = datetime(lo.year, lo.month, lo.day, tzinfo=UTC) if lo < hi else hi
            while day < hi:
                s, e = max(day, lo), min(day + _DAY, hi)
                pieces.append((s, e, plan))
                exact.append(exact_fee(plan.seat_nanos, s, e))
                day += _DAY
        if not pieces:
            continue
        shares = split_largest_remainder(round(sum(exact)), exact)
        out += [SeatDay(member, plan, s, e, n) for (s, e, plan), n in zip(pieces, shares)]
    return out
