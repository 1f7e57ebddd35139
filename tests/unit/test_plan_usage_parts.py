"""The pure parts of the agent's plan-usage memo (teamcost/budget/billing.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from teamcost.budget.billing import _held, _split_at, plans_digest
from teamcost.plans.model import Cover, Plan, Plans, Seat

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
H = timedelta(hours=1)
Q = timedelta(minutes=15)
MAX = Plan("Max", 200_000_000_000, (Cover(source="claude-code"),))
GPT = Plan("GPT", 20_000_000_000, (Cover(provider="openai"),))


def test_a_span_is_halved_on_whole_hours_down_to_one_hour() -> None:
    mid, levels = _split_at(NOV, DEC)            # 720 hours: 719 boundaries inside
    assert NOV < mid < DEC and (mid - NOV) % H == timedelta(0)
    assert abs((mid - NOV) - (DEC - mid)) <= H
    assert levels == 10                          # 2**10 = 1024 >= 720 leaves
    assert _split_at(NOV + 10 * H, NOV + 11 * H) == (None, 0)
    assert _split_at(NOV + 10 * H + Q, NOV + 11 * H) == (None, 0)    # no boundary inside
    assert _split_at(NOV + 10 * H + Q, NOV + 11 * H + Q)[0] == NOV + 11 * H
    assert _split_at(NOV + 10 * H, NOV + 12 * H)[0] == NOV + 11 * H


def test_halving_ends_in_leaves_of_at_most_an_hour() -> None:
    parts, leaves = [(NOV + Q, DEC - Q)], []
    while parts:
        lo, hi = parts.pop()
        mid, _ = _split_at(lo, hi)
        if mid is None:
            leaves.append((lo, hi))
        else:
            assert lo < mid < hi
            parts += [(lo, mid), (mid, hi)]
    leaves.sort()
    assert leaves[0][0] == NOV + Q and leaves[-1][1] == DEC - Q
    assert all(a[1] == b[0] for a, b in zip(leaves, leaves[1:]))
    assert all(hi - lo <= H for lo, hi in leaves) and len(leaves) == 720


def test_spans_of_two_plans_held_at_once_are_merged() -> None:
    a, b = NOV + 24 * H, NOV + 48 * H
    plans = Plans("core", {"Max": MAX, "GPT": GPT},
                  (Seat("ana", "Max", NOV), Seat("ana", "GPT", a),
                   Seat("ana", "Max", b, holds=False), Seat("bo", "GPT", b),
                   Seat("bo", "GPT", b + H, holds=False), Seat("bo", "GPT", b + 3 * H)))
    assert _held(plans, "ana", NOV, DEC) == [(NOV, DEC)]
    assert _held(plans, "ana", a + H, a + 2 * H) == [(a + H, a + 2 * H)]
    assert _held(plans, "bo", NOV, DEC) == [(b, b + H), (b + 3 * H, DEC)]
    assert _held(plans, "bo", NOV, b) == []
    assert _held(plans, "cy", NOV, DEC) == []


def test_the_digest_changes_with_any_plan_or_seat() -> None:
    base = Plans("core", {"Max": MAX}, (Seat("ana", "Max", NOV),))
    assert plans_digest(base) == plans_digest(Plans("core", {"Max": MAX},
                                                    (Seat("ana", "Max", NOV),)))
    others = [base.with_plan(GPT), base.with_seat(Seat("bo", "Max", NOV)),
              base.with_seat(Seat("ana", "Max", NOV + H, holds=False)),
              base.with_plan(Plan("Max", 1, MAX.covers))]
    digests = {plans_digest(p) for p in (base, *others)}
    assert len(digests) == 1 + len(others)
